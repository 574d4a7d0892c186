//! Read sets: the index key intervals a transaction's result depends on.
//!
//! A transaction is serializable at its commit timestamp iff no commit between its snapshot
//! and its commit wrote an index key inside one of these intervals. The same read sets will
//! drive subscription invalidation.

use std::collections::BTreeMap;

use hull_store::{IndexId, KeyRange};

/// A set of disjoint, non-adjacent key intervals of one index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalSet {
    /// start -> end (exclusive; `None` = unbounded). Invariant: disjoint, sorted, merged.
    intervals: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl IntervalSet {
    /// Adds `range`, merging it with every interval it overlaps or touches.
    pub fn add(&mut self, range: &KeyRange) {
        if range.is_empty() {
            return;
        }
        let mut start = range.start.clone();
        let mut end = range.end.clone();
        // An interval starting at or before `start` may overlap it.
        if let Some((prev_start, prev_end)) = self.intervals.range(..=start.clone()).next_back()
            && prev_end.as_ref().is_none_or(|e| *e >= start) {
                start = prev_start.clone();
                end = max_end(end, prev_end.clone());
            }
        // Intervals starting inside [start, end] are absorbed.
        let absorbed: Vec<Vec<u8>> = self
            .intervals
            .range(start.clone()..)
            .take_while(|(s, _)| end.as_ref().is_none_or(|e| *s <= e))
            .map(|(s, _)| s.clone())
            .collect();
        for s in absorbed {
            let e = self.intervals.remove(&s).expect("present");
            end = max_end(end, e);
        }
        self.intervals.insert(start, end);
    }

    /// True when `key` lies in one of the intervals.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self.intervals.range(..=key.to_vec()).next_back() {
            Some((_, end)) => end.as_deref().is_none_or(|e| key < e),
            None => false,
        }
    }

    /// The intervals as `(start, end)`, in order.
    pub fn intervals(&self) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> + '_ {
        self.intervals.iter().map(|(start, end)| (start.clone(), end.clone()))
    }

    /// The number of disjoint intervals.
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }
}

fn max_end(a: Option<Vec<u8>>, b: Option<Vec<u8>>) -> Option<Vec<u8>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    }
}

/// Every interval a transaction read, per index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSet {
    indexes: BTreeMap<IndexId, IntervalSet>,
}

impl ReadSet {
    /// Records that `range` of `index` was read.
    pub fn record(&mut self, index: IndexId, range: &KeyRange) {
        self.indexes.entry(index).or_default().add(range);
    }

    /// The total number of disjoint intervals.
    pub fn interval_count(&self) -> usize {
        self.indexes.values().map(IntervalSet::len).sum()
    }

    /// True when a write to `key` of `index` invalidates these reads.
    pub fn overlaps(&self, index: IndexId, key: &[u8]) -> bool {
        self.indexes.get(&index).is_some_and(|set| set.contains(key))
    }

    /// The intervals per index.
    pub fn iter(&self) -> impl Iterator<Item = (&IndexId, &IntervalSet)> {
        self.indexes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(start: u8, end: Option<u8>) -> KeyRange {
        KeyRange { start: vec![start], end: end.map(|e| vec![e]) }
    }

    proptest! {
        /// The interval set agrees with a naive list of ranges on every key.
        #[test]
        fn matches_naive_ranges(ranges in prop::collection::vec((0u8..50, prop::option::weighted(0.9, 0u8..60)), 0..12)) {
            let mut set = IntervalSet::default();
            let ranges: Vec<KeyRange> = ranges.into_iter().map(|(s, e)| range(s, e)).collect();
            for r in &ranges {
                set.add(r);
            }
            for key in 0u8..70 {
                for suffix in [&[][..], &[0][..], &[255][..]] {
                    let mut k = vec![key];
                    k.extend_from_slice(suffix);
                    let naive = ranges.iter().any(|r| r.contains(&k));
                    prop_assert_eq!(set.contains(&k), naive, "key {:?}", k);
                }
            }
            // Disjoint and sorted.
            let mut last_end: Option<Vec<u8>> = None;
            for (start, end) in &set.intervals {
                if let Some(e) = &last_end { prop_assert!(e < start); }
                if let Some(e) = end { prop_assert!(start < e); }
                last_end = end.clone();
                if end.is_none() { break; }
            }
        }
    }
}
