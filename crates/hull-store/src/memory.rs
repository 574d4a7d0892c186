//! The reference model: the persistence contract written as plainly as possible.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use hull_errors::{Error, Result};
use parking_lot::RwLock;

use crate::{
    DocumentKey, DocumentRow, IndexEntry, IndexId, IndexRow, KeyRange, Order, Persistence,
    ScanPage, Timestamp, WriteBatch,
};

/// An in-memory [`Persistence`]: the model every engine is checked against, and a fast store
/// for tests that do not care about durability.
#[derive(Default)]
pub struct MemoryPersistence {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// `(ts, key) -> revision`, i.e. the log in `(ts, table, id)` order.
    documents: BTreeMap<(Timestamp, DocumentKey), DocumentRow>,
    /// `(index, key) -> ts -> pointed-at document (None = tombstone)`.
    indexes: BTreeMap<(IndexId, Vec<u8>), BTreeMap<Timestamp, Option<DocumentKey>>>,
    globals: HashMap<String, String>,
}

impl MemoryPersistence {
    /// An empty store.
    pub fn new() -> MemoryPersistence {
        MemoryPersistence::default()
    }
}

fn duplicate(what: &str) -> Error {
    Error::internal("DuplicateRow", format!("persistence: duplicate {what} row"))
}

impl Persistence for MemoryPersistence {
    fn write(&self, batch: &WriteBatch) -> Result<()> {
        let mut state = self.state.write();
        // Check everything first so that a failing batch writes nothing.
        let mut seen_documents = std::collections::HashSet::new();
        for row in &batch.documents {
            let key = (row.ts, row.key);
            if state.documents.contains_key(&key) || !seen_documents.insert(key) {
                return Err(duplicate("document"));
            }
        }
        let mut seen_index = std::collections::HashSet::new();
        for row in &batch.index_rows {
            let exists = state
                .indexes
                .get(&(row.index, row.key.clone()))
                .is_some_and(|versions| versions.contains_key(&row.ts));
            if exists || !seen_index.insert((row.index, row.key.clone(), row.ts)) {
                return Err(duplicate("index"));
            }
        }
        for row in &batch.documents {
            state.documents.insert((row.ts, row.key), row.clone());
        }
        for row in &batch.index_rows {
            state.indexes.entry((row.index, row.key.clone())).or_default().insert(row.ts, row.document);
        }
        for (key, value) in &batch.globals {
            state.globals.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn write_index_backfill(&self, rows: &[IndexRow]) -> Result<()> {
        let mut state = self.state.write();
        for row in rows {
            state
                .indexes
                .entry((row.index, row.key.clone()))
                .or_default()
                .entry(row.ts)
                .or_insert(row.document);
        }
        Ok(())
    }

    fn index_scan(
        &self,
        index: IndexId,
        ts: Timestamp,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<ScanPage> {
        assert!(limit > 0, "index_scan limit must be positive");
        let state = self.state.read();
        let lower = Bound::Included((index, range.start.clone()));
        let upper = match &range.end {
            Some(end) => Bound::Excluded((index, end.clone())),
            None => Bound::Excluded((IndexId(index.0 + 1), Vec::new())),
        };
        if range.is_empty() {
            return Ok(ScanPage::default());
        }
        let keys = state.indexes.range((lower, upper));
        let keys: Box<dyn Iterator<Item = _>> = match order {
            Order::Asc => Box::new(keys),
            Order::Desc => Box::new(keys.rev()),
        };
        let mut page = ScanPage::default();
        for ((_, key), versions) in keys {
            let Some((&row_ts, &pointer)) = versions.range(..=ts).next_back() else { continue };
            let Some(document) = pointer else { continue };
            if page.entries.len() == limit {
                page.resume_after = Some(page.entries.last().expect("limit > 0").key.clone());
                return Ok(page);
            }
            let revision = state.documents.get(&(row_ts, document)).unwrap_or_else(|| {
                panic!("index row at ts {row_ts} points at a missing document revision")
            });
            page.entries.push(IndexEntry { key: key.clone(), document: revision.clone() });
        }
        Ok(page)
    }

    fn load_documents(
        &self,
        after: Option<Timestamp>,
        up_to: Timestamp,
        limit: usize,
    ) -> Result<Vec<DocumentRow>> {
        let state = self.state.read();
        let lower = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        Ok(state
            .documents
            .values()
            .filter(|row| match lower {
                Bound::Excluded(after) => row.ts > after,
                _ => true,
            })
            .take_while(|row| row.ts <= up_to)
            .take(limit)
            .cloned()
            .collect())
    }

    fn max_ts(&self) -> Result<Option<Timestamp>> {
        Ok(self.state.read().documents.keys().next_back().map(|(ts, _)| *ts))
    }

    fn get_global(&self, key: &str) -> Result<Option<String>> {
        Ok(self.state.read().globals.get(key).cloned())
    }
}
