//! Helpers shared by the integration tests.
#![allow(dead_code)]

use hull_errors::Result;
use hull_store::{DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, ScanPage, Timestamp, WriteBatch};
use hull_store_sqlite::{Durability, SqlitePersistence};
use tempfile::TempDir;

/// A store in a fresh temporary directory, deleted when the store is dropped.
pub struct TempStore {
    // Declared first so that the store (and its lock) closes before the directory goes.
    store: SqlitePersistence,
    _dir: TempDir,
}

impl TempStore {
    pub fn new(durability: Durability) -> TempStore {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let store = SqlitePersistence::open(&dir.path().join("hull.sqlite3"), durability).expect("opening a new store");
        TempStore { store, _dir: dir }
    }
}

impl Persistence for TempStore {
    fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.store.write(batch)
    }

    fn write_index_backfill(&self, rows: &[IndexRow]) -> Result<()> {
        self.store.write_index_backfill(rows)
    }

    fn index_scan(&self, index: IndexId, ts: Timestamp, range: &KeyRange, order: Order, limit: usize) -> Result<ScanPage> {
        self.store.index_scan(index, ts, range, order, limit)
    }

    fn load_documents(&self, after: Option<Timestamp>, up_to: Timestamp, limit: usize) -> Result<Vec<DocumentRow>> {
        self.store.load_documents(after, up_to, limit)
    }

    fn max_ts(&self) -> Result<Option<Timestamp>> {
        self.store.max_ts()
    }

    fn get_global(&self, key: &str) -> Result<Option<String>> {
        self.store.get_global(key)
    }
}
