//! Subscriptions: "tell me when a commit changes what this read set read".
//!
//! A query's result depends exactly on its read set at its timestamp. Registering that token
//! here means: as soon as a commit after that timestamp writes an index key inside one of the
//! read intervals, call back once (with that commit's timestamp), so the caller can rerun the
//! query. Both this and OCC validation use the same read sets and write log, so a subscription
//! is invalidated by exactly the commits that would have made the query conflict.
//!
//! Registration and publication both hold the write-log lock, so no commit can fall between
//! "checked the write log since the token's timestamp" and "registered": a commit is either
//! seen by the check or finds the subscription registered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Weak};

use hull_store::{IndexId, Timestamp};

use crate::database::Shared;
use crate::reads::ReadSet;
use crate::write_log::CommitWrites;

/// Called once when a subscription's reads are invalidated, with the invalidating commit's ts.
pub type Invalidation = Box<dyn FnOnce(Timestamp) + Send>;

type Interval = (Vec<u8>, Option<Vec<u8>>);

/// Every live subscription, indexed by the intervals it read.
#[derive(Default)]
pub(crate) struct Subscriptions {
    next_id: u64,
    /// Per index: each distinct interval and the subscriptions that read it.
    by_index: HashMap<IndexId, BTreeMap<Interval, BTreeSet<u64>>>,
    live: HashMap<u64, (Vec<(IndexId, Interval)>, Invalidation)>,
}

impl Subscriptions {
    pub(crate) fn insert(&mut self, reads: &ReadSet, on_invalidate: Invalidation) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut intervals = Vec::new();
        for (index, set) in reads.iter() {
            for interval in set.intervals() {
                self.by_index.entry(*index).or_default().entry(interval.clone()).or_default().insert(id);
                intervals.push((*index, interval));
            }
        }
        self.live.insert(id, (intervals, on_invalidate));
        id
    }

    /// Unregisters `id`, returning its callback if it was still live.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Invalidation> {
        let (intervals, on_invalidate) = self.live.remove(&id)?;
        for (index, interval) in intervals {
            let Some(map) = self.by_index.get_mut(&index) else { continue };
            if let Some(ids) = map.get_mut(&interval) {
                ids.remove(&id);
                if ids.is_empty() {
                    map.remove(&interval);
                }
            }
            if map.is_empty() {
                self.by_index.remove(&index);
            }
        }
        Some(on_invalidate)
    }

    /// Removes and returns every subscription a commit's writes invalidate.
    pub(crate) fn invalidated_by(&mut self, ts: Timestamp, writes: &CommitWrites) -> Vec<(Invalidation, Timestamp)> {
        let mut hit = BTreeSet::new();
        for (index, key, _) in &writes.keys {
            let Some(map) = self.by_index.get(index) else { continue };
            // Intervals starting at or before the key (before its successor, whatever their
            // end); those that also end after it contain it.
            let upper = (hull_store::successor(key), None);
            for ((_, end), ids) in map.range(..upper) {
                if end.as_ref().is_none_or(|end| key < end) {
                    hit.extend(ids.iter().copied());
                }
            }
        }
        hit.into_iter().filter_map(|id| self.remove(id)).map(|callback| (callback, ts)).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }
}

/// A registered subscription; dropping it unregisters it.
pub struct Subscription {
    id: u64,
    shared: Weak<Shared>,
}

impl Subscription {
    pub(crate) fn new(id: u64, shared: &Arc<Shared>) -> Subscription {
        Subscription { id, shared: Arc::downgrade(shared) }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let callback = shared.subscriptions.lock().remove(self.id);
            drop(callback); // dropped outside the lock: a callback may own anything
        }
    }
}
