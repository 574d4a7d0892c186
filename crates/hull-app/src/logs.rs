//! The recent function executions log streaming reads (`npx convex logs`, `npx convex dev`;
//! wire protocols §9.5): a bounded in-memory ring, positioned by a cursor that is a strictly
//! increasing millisecond timestamp, so a cursor stays meaningful across restarts (the ring
//! itself does not survive one, as upstream's does not).

use std::collections::VecDeque;

use hull_js::{LogLine, UdfType};
use parking_lot::Mutex;

use crate::limits::FUNCTION_LOG_ENTRIES_MAX;

/// One finished function execution.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionExecution {
    /// Its position in the stream: milliseconds since the epoch, strictly increasing.
    pub cursor_ms: u64,
    /// Query, mutation or action.
    pub udf_type: UdfType,
    /// The function, as upstream names it in logs: `messages.js:list`.
    pub identifier: String,
    /// Captured console output.
    pub log_lines: Vec<LogLine>,
    /// When it started, in milliseconds since the epoch.
    pub started_ms: f64,
    /// How long it ran, in milliseconds.
    pub execution_time_ms: f64,
    /// The error it failed with (message and stack), if it failed.
    pub error: Option<String>,
    /// The request's id (`[Request ID: …]`).
    pub request_id: String,
}

/// The ring of recent executions.
#[derive(Default)]
pub(crate) struct ExecutionLog {
    entries: Mutex<VecDeque<FunctionExecution>>,
}

impl ExecutionLog {
    /// Appends `execution`, giving it the next cursor; the oldest entry goes beyond
    /// [`FUNCTION_LOG_ENTRIES_MAX`].
    pub fn record(&self, mut execution: FunctionExecution) {
        let mut entries = self.entries.lock();
        let last = entries.back().map_or(0, |e| e.cursor_ms);
        execution.cursor_ms = now_ms().max(last + 1);
        if entries.len() == FUNCTION_LOG_ENTRIES_MAX {
            entries.pop_front();
        }
        entries.push_back(execution);
    }

    /// The executions after `cursor_ms` and the cursor to ask from next (`cursor_ms` itself
    /// when there are none).
    pub fn since(&self, cursor_ms: u64) -> (Vec<FunctionExecution>, u64) {
        let entries = self.entries.lock();
        let start = entries.partition_point(|e| e.cursor_ms <= cursor_ms);
        let newer: Vec<FunctionExecution> = entries.range(start..).cloned().collect();
        let next = newer.last().map_or(cursor_ms, |e| e.cursor_ms);
        (newer, next)
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(identifier: &str) -> FunctionExecution {
        FunctionExecution {
            cursor_ms: 0,
            udf_type: UdfType::Query,
            identifier: identifier.to_owned(),
            log_lines: Vec::new(),
            started_ms: 0.0,
            execution_time_ms: 1.0,
            error: None,
            request_id: "00".into(),
        }
    }

    #[test]
    fn cursors_strictly_increase_and_select_newer_entries() {
        let log = ExecutionLog::default();
        log.record(execution("a.js:x"));
        log.record(execution("b.js:y"));
        let (all, cursor) = log.since(0);
        assert_eq!(all.len(), 2);
        assert!(all[0].cursor_ms < all[1].cursor_ms);
        assert_eq!(cursor, all[1].cursor_ms);
        assert_eq!(log.since(cursor), (Vec::new(), cursor));
        assert_eq!(log.since(all[0].cursor_ms).0[0].identifier, "b.js:y");
    }

    #[test]
    fn the_ring_keeps_only_the_newest_entries() {
        let log = ExecutionLog::default();
        for i in 0..FUNCTION_LOG_ENTRIES_MAX + 3 {
            log.record(execution(&format!("m.js:f{i}")));
        }
        let (all, _) = log.since(0);
        assert_eq!(all.len(), FUNCTION_LOG_ENTRIES_MAX);
        assert_eq!(all[0].identifier, "m.js:f3");
    }
}
