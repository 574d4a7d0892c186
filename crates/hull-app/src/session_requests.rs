//! The durable record of sync-socket mutations, which makes a client's resend after a reconnect
//! exactly-once even across a crash (wire protocols §6.6, engine notes §2.4).
//!
//! A `ConvexClient` numbers its requests per session and, after reconnecting, resends every
//! mutation it has no answer for under the same `(sessionId, requestId)`. When such a mutation
//! succeeds, [`record`] writes `(sessionId, requestId) → {value, logLines}` into the system table
//! [`SESSION_REQUESTS_TABLE`] **in the mutation's own transaction**: the record exists iff the
//! mutation's writes committed. Each attempt first looks the pair up ([`find`]) in that same
//! transaction, so the lookup is part of its read set: a concurrent run of the same request
//! that commits first makes this one conflict, and its retry finds the record. A found record
//! is answered as is (with its revision's commit timestamp, which is the original mutation's)
//! and the function does not run. Failed mutations write nothing and are not recorded, as
//! upstream: running them again is right.
//!
//! Records older than [`crate::limits::SESSION_REQUEST_RETENTION`] are deleted by a sweep
//! started after a record is written, at most once per
//! [`crate::limits::SESSION_REQUEST_SWEEP_INTERVAL`], in batches of its own system transactions.

use hull_db::query::{Operator, RangeExpression, RangeOp, Source};
use hull_db::{Database, Query, QueryStream, Transaction};
use hull_errors::{Error, Result};
use hull_js::{LogLevel, LogLine};
use hull_store::{Order, Timestamp};
use hull_values::{Object, Value};

use crate::limits::{SESSION_REQUEST_RETENTION, SESSION_REQUEST_SWEEP_BATCH_SIZE, SESSION_REQUEST_SWEEP_INTERVAL, UDF_EXECUTOR_OCC_MAX_RETRIES};

/// The system table of recorded mutation results (upstream's name).
pub const SESSION_REQUESTS_TABLE: &str = "_session_requests";

/// The index replays look records up by: `sessionId`, then `requestId`.
pub const BY_SESSION_AND_REQUEST: &str = "by_session_and_request";

/// One mutation of one client session: the `sessionId` of the socket's `Connect` and the
/// `requestId` of its `Mutation` message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionRequest {
    /// The client's session (a UUID the client picks and keeps across reconnects).
    pub session_id: String,
    /// The client's request number within the session.
    pub request_id: u32,
}

/// What a mutation's first successful run answered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RecordedMutation {
    pub value: Value,
    pub logs: Vec<LogLine>,
    /// The commit timestamp of the transaction that ran the mutation and wrote the record.
    pub commit_ts: Timestamp,
}

/// Creates [`SESSION_REQUESTS_TABLE`] and its index when they do not exist yet (at startup,
/// before any call: an index serves reads once the transaction creating it committed).
pub(crate) fn ensure_table(database: &Database) -> Result<()> {
    database.run_system(UDF_EXECUTOR_OCC_MAX_RETRIES, |tx| {
        let table = tx.catalog().table_by_name(SESSION_REQUESTS_TABLE).map(|t| t.number);
        if table.is_none_or(|number| tx.catalog().index_by_name(number, BY_SESSION_AND_REQUEST).is_none()) {
            tx.create_index(SESSION_REQUESTS_TABLE, BY_SESSION_AND_REQUEST, &["sessionId".to_owned(), "requestId".to_owned()])?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Looks `request` up in `tx` (the mutation's own transaction: the index range read joins its
/// read set even when nothing is found).
pub(crate) fn find(tx: &mut Transaction, request: &SessionRequest) -> Result<Option<RecordedMutation>> {
    // Built directly, not parsed from JSON: this runs before every sync mutation.
    let eq = |field: &str, value: Value| RangeExpression { op: RangeOp::Eq, field: field.to_owned(), value: Some(value) };
    let query = Query {
        source: Source::IndexRange {
            table: SESSION_REQUESTS_TABLE.to_owned(),
            index: BY_SESSION_AND_REQUEST.to_owned(),
            range: vec![
                eq("sessionId", Value::String(request.session_id.clone())),
                eq("requestId", Value::Float64(f64::from(request.request_id))),
            ],
            order: Order::Asc,
        },
        operators: vec![Operator::Limit(1)],
    };
    let mut stream = QueryStream::open(tx, query)?;
    let Some(document) = stream.next(tx)? else { return Ok(None) };
    // The revision's commit timestamp is the original mutation's: the record is never updated.
    let (document, commit_ts) = tx.get_with_commit_ts(document.id())?.expect("a document the stream just returned exists");
    let commit_ts = commit_ts.expect("a mutation's own transaction never finds a record it wrote itself");
    let corrupt = || Error::internal("CorruptSessionRequest", format!("the {SESSION_REQUESTS_TABLE} document {} is malformed", document.id()));
    let object = document.object();
    let value_json = object.get("value").and_then(Value::as_str).ok_or_else(corrupt)?;
    let value = serde_json::from_str(value_json).ok().and_then(|json| Value::from_json(&json).ok()).ok_or_else(corrupt)?;
    let logs = match object.get("logLines") {
        Some(Value::Array(lines)) => lines.iter().map(log_line_from_value).collect::<Option<Vec<_>>>().ok_or_else(corrupt)?,
        _ => return Err(corrupt()),
    };
    Ok(Some(RecordedMutation { value, logs, commit_ts }))
}

/// Records `request`'s successful outcome in `tx`, the transaction that ran it.
pub(crate) fn record(tx: &mut Transaction, request: &SessionRequest, value: &Value, logs: &[LogLine]) -> Result<()> {
    let fields = Object::from([
        ("sessionId".to_owned(), Value::String(request.session_id.clone())),
        ("requestId".to_owned(), Value::Float64(f64::from(request.request_id))),
        // The Convex JSON text: any value the function may return fits, however nested.
        ("value".to_owned(), Value::String(value.to_json().to_string())),
        ("logLines".to_owned(), Value::Array(logs.iter().map(log_line_to_value).collect())),
    ]);
    tx.insert_system_table(SESSION_REQUESTS_TABLE, fields)?;
    Ok(())
}

/// Deletes up to `limit` records written before `cutoff_ms` (ms since the epoch), oldest first;
/// returns how many. Reads only the expired part of the table, so it does not conflict with the
/// records mutations are adding meanwhile.
pub(crate) fn delete_recorded_before(tx: &mut Transaction, cutoff_ms: f64, limit: usize) -> Result<usize> {
    let Some(table) = tx.catalog().table_by_name(SESSION_REQUESTS_TABLE).map(|t| t.number) else { return Ok(0) };
    let mut stream = QueryStream::full_table(tx, table, Order::Asc)?;
    let mut expired = Vec::new();
    while expired.len() < limit {
        match stream.next(tx)? {
            Some(document) if document.creation_time() < cutoff_ms => expired.push(document.id()),
            _ => break,
        }
    }
    for id in &expired {
        tx.delete(*id)?;
    }
    Ok(expired.len())
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Log => "LOG",
        LogLevel::Info => "INFO",
        LogLevel::Warn => "WARN",
        LogLevel::Error => "ERROR",
        LogLevel::Debug => "DEBUG",
    }
}

fn log_line_to_value(line: &LogLine) -> Value {
    Value::Object(Object::from([
        ("level".to_owned(), Value::String(level_name(line.level).to_owned())),
        ("messages".to_owned(), Value::Array(line.messages.iter().cloned().map(Value::String).collect())),
        ("timestamp".to_owned(), Value::Float64(line.timestamp_ms)),
    ]))
}

fn log_line_from_value(value: &Value) -> Option<LogLine> {
    let Value::Object(object) = value else { return None };
    let level = match object.get("level")?.as_str()? {
        "LOG" => LogLevel::Log,
        "INFO" => LogLevel::Info,
        "WARN" => LogLevel::Warn,
        "ERROR" => LogLevel::Error,
        "DEBUG" => LogLevel::Debug,
        _ => return None,
    };
    let Value::Array(messages) = object.get("messages")? else { return None };
    let messages = messages.iter().map(|m| m.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()?;
    let Value::Float64(timestamp_ms) = object.get("timestamp")? else { return None };
    Some(LogLine { level, messages, timestamp_ms: *timestamp_ms })
}

/// The sweep's schedule: when the last one started, and whether one is running.
#[derive(Default)]
pub(crate) struct Sweeper {
    last_started: parking_lot::Mutex<Option<std::time::Instant>>,
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl crate::Application {
    /// Starts a sweep of expired records on a thread of its own, unless one ran less than
    /// [`SESSION_REQUEST_SWEEP_INTERVAL`] ago or is still running. Called after a record
    /// commits, so a deployment whose clients write nothing over the socket never sweeps (and
    /// has nothing new to sweep).
    pub(crate) fn sweep_session_requests_if_due(&self) {
        let sweeper = &self.inner.session_request_sweeper;
        {
            let mut last_started = sweeper.last_started.lock();
            if last_started.is_some_and(|at| at.elapsed() < SESSION_REQUEST_SWEEP_INTERVAL) {
                return;
            }
            if sweeper.running.swap(true, std::sync::atomic::Ordering::AcqRel) {
                return;
            }
            *last_started = Some(std::time::Instant::now());
        }
        let (database, running) = (self.inner.database.clone(), sweeper.running.clone());
        let spawned = std::thread::Builder::new().name("hull-session-sweep".into()).spawn(move || {
            if let Err(error) = sweep(&database, now_ms() - SESSION_REQUEST_RETENTION.as_secs_f64() * 1000.0) {
                tracing::warn!("sweeping expired {SESSION_REQUESTS_TABLE} records failed: {}", error.message);
            }
            running.store(false, std::sync::atomic::Ordering::Release);
        });
        if spawned.is_err() {
            // Out of threads: the next record tries again after the interval.
            sweeper.running.store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

/// Deletes every record written before `cutoff_ms`, a batch per transaction; returns how many.
pub(crate) fn sweep(database: &Database, cutoff_ms: f64) -> Result<usize> {
    let mut total = 0;
    loop {
        let (deleted, _) = database.run_system(UDF_EXECUTOR_OCC_MAX_RETRIES, |tx| {
            delete_recorded_before(tx, cutoff_ms, SESSION_REQUEST_SWEEP_BATCH_SIZE)
        })?;
        total += deleted;
        if deleted < SESSION_REQUEST_SWEEP_BATCH_SIZE {
            return Ok(total);
        }
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Database {
        let database = Database::open(std::sync::Arc::new(hull_store::MemoryPersistence::new())).unwrap();
        ensure_table(&database).unwrap();
        database
    }

    fn request(request_id: u32) -> SessionRequest {
        SessionRequest { session_id: "session".to_owned(), request_id }
    }

    #[test]
    fn a_record_reads_back_with_its_value_log_lines_and_commit_ts() {
        let database = database();
        let value = Value::Object(Object::from([("n".to_owned(), Value::Int64(1 << 40)), ("b".to_owned(), Value::Bytes(vec![0, 255]))]));
        let logs = vec![LogLine { level: LogLevel::Warn, messages: vec!["careful".to_owned(), "{ a: 1 }".to_owned()], timestamp_ms: 1.5e12 }];
        let (_, commit_ts) = database.run_system(0, |tx| record(tx, &request(4), &value, &logs)).unwrap();
        let mut tx = database.begin();
        assert_eq!(find(&mut tx, &request(4)).unwrap(), Some(RecordedMutation { value, logs, commit_ts }));
        assert_eq!(find(&mut tx, &request(5)).unwrap(), None);
    }

    #[test]
    fn the_sweep_deletes_only_records_older_than_the_cutoff() {
        let database = database();
        database.run_system(0, |tx| record(tx, &request(0), &Value::Null, &[])).unwrap();
        assert_eq!(sweep(&database, now_ms() - SESSION_REQUEST_RETENTION.as_secs_f64() * 1000.0).unwrap(), 0);
        assert!(find(&mut database.begin(), &request(0)).unwrap().is_some());
        assert_eq!(sweep(&database, now_ms() + 1000.0).unwrap(), 1);
        assert_eq!(find(&mut database.begin(), &request(0)).unwrap(), None);
    }
}
