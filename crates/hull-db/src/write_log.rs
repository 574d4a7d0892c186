//! The write log: the index keys every recent commit wrote, for OCC validation (and, later,
//! subscription invalidation).

use std::collections::VecDeque;
use std::sync::Arc;

use hull_store::{DocumentKey, IndexId, Timestamp};

use crate::limits::{WRITE_LOG_MAX_COMMITS, WRITE_LOG_RETENTION_NANOS};
use crate::reads::ReadSet;

/// The index keys one commit wrote: for each changed document, its old and new key in every
/// index of its table.
#[derive(Debug, Default)]
pub struct CommitWrites {
    /// `(index, key, document)` for every key written (old keys and new keys).
    pub keys: Vec<(IndexId, Vec<u8>, DocumentKey)>,
}

/// A write that invalidates a read set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// When the conflicting write committed.
    pub ts: Timestamp,
    /// The document it changed.
    pub document: DocumentKey,
}

/// The recent commits, oldest first.
#[derive(Debug)]
pub struct WriteLog {
    commits: VecDeque<(Timestamp, Arc<CommitWrites>)>,
    /// Commits at or before this ts may have been dropped; transactions that began before it
    /// cannot be validated.
    horizon: Timestamp,
}

impl WriteLog {
    /// An empty log whose history starts after `ts`.
    pub fn new(ts: Timestamp) -> WriteLog {
        WriteLog { commits: VecDeque::new(), horizon: ts }
    }

    /// Appends a commit. Commits arrive in strictly increasing ts order.
    pub fn append(&mut self, ts: Timestamp, writes: Arc<CommitWrites>) {
        if let Some((last, _)) = self.commits.back() {
            assert!(ts > *last, "write log: commit ts {ts} after {last}");
        }
        self.commits.push_back((ts, writes));
        let oldest_kept = Timestamp(ts.0.saturating_sub(WRITE_LOG_RETENTION_NANOS));
        while let Some((front_ts, _)) = self.commits.front() {
            if *front_ts >= oldest_kept && self.commits.len() <= WRITE_LOG_MAX_COMMITS {
                break;
            }
            self.horizon = *front_ts;
            self.commits.pop_front();
        }
    }

    /// The earliest snapshot that can still be validated.
    pub fn horizon(&self) -> Timestamp {
        self.horizon
    }

    /// The first commit after `since` whose writes intersect `reads`, or `Err(())` when `since`
    /// is older than the log reaches.
    #[allow(clippy::result_unit_err)]
    pub fn first_conflict(&self, since: Timestamp, reads: &ReadSet) -> Result<Option<Conflict>, ()> {
        if since < self.horizon {
            return Err(());
        }
        let start = self.commits.partition_point(|(ts, _)| *ts <= since);
        for (ts, writes) in self.commits.range(start..) {
            if let Some(conflict) = conflict_in(*ts, writes, reads) {
                return Ok(Some(conflict));
            }
        }
        Ok(None)
    }
}

/// The first key of `writes` that lies in `reads`.
pub fn conflict_in(ts: Timestamp, writes: &CommitWrites, reads: &ReadSet) -> Option<Conflict> {
    writes
        .keys
        .iter()
        .find(|(index, key, _)| reads.overlaps(*index, key))
        .map(|(_, _, document)| Conflict { ts, document: *document })
}
