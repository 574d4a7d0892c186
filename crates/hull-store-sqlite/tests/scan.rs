//! Index scans beyond what the conformance suite covers: the per-call budget over long runs of
//! tombstones, keys with many versions, and reads from many threads at once.
mod common;

use std::sync::Arc;

use common::TempStore;
use hull_store::{DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, Timestamp, WriteBatch};
use hull_store_sqlite::Durability;

fn document(n: u32) -> DocumentKey {
    DocumentKey { table: 10001, id: u128::from(n).to_be_bytes() }
}

fn key(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

fn insert(batch: &mut WriteBatch, ts: u64, n: u32, prev_ts: Option<u64>) {
    batch.documents.push(DocumentRow {
        ts: Timestamp(ts),
        key: document(n),
        value: Some(format!("{n}@{ts}")),
        prev_ts: prev_ts.map(Timestamp),
    });
    batch.index_rows.push(IndexRow { index: IndexId(1), key: key(n), ts: Timestamp(ts), document: Some(document(n)) });
}

#[test]
fn long_runs_of_tombstones_give_short_pages_that_still_cover_the_range() {
    let store = TempStore::new(Durability::Normal);
    let mut batch = WriteBatch::default();
    for n in 0..3000 {
        insert(&mut batch, 1, n, None);
    }
    store.write(&batch).unwrap();
    // Delete all but the last five keys.
    let mut batch = WriteBatch::default();
    for n in 0..2995 {
        batch.documents.push(DocumentRow { ts: Timestamp(2), key: document(n), value: None, prev_ts: Some(Timestamp(1)) });
        batch.index_rows.push(IndexRow { index: IndexId(1), key: key(n), ts: Timestamp(2), document: None });
    }
    store.write(&batch).unwrap();

    let first = store.index_scan(IndexId(1), Timestamp(2), &KeyRange::all(), Order::Asc, 2).unwrap();
    assert!(first.entries.is_empty(), "the budget of one call is limit + 1 + 1024 keys");
    let resume = first.resume_after.expect("the range is not exhausted");
    assert_eq!(resume, key(2 + 1 + 1024 - 1), "resume after the last tombstone examined");

    let mut range = KeyRange::all();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.index_scan(IndexId(1), Timestamp(2), &range, Order::Asc, 2).unwrap();
        pages += 1;
        seen.extend(page.entries.into_iter().map(|entry| entry.key));
        match page.resume_after {
            Some(last) => range = range.after(&last, Order::Asc),
            None => break,
        }
    }
    assert_eq!(seen, (2995..3000).map(key).collect::<Vec<_>>());
    assert_eq!(pages, 5, "3 pages to cross the tombstones (the third returns 2 entries), then 2 + 1 more");
    // Descending, the live keys come first. A full page goes on over the tombstones after it
    // (within the budget), so the next call starts past them.
    let page = store.index_scan(IndexId(1), Timestamp(2), &KeyRange::all(), Order::Desc, 5).unwrap();
    assert_eq!(page.entries.len(), 5);
    assert_eq!(page.resume_after, Some(key(3000 - (5 + 1 + 1024))));
    // At ts 1 nothing is deleted yet.
    let page = store.index_scan(IndexId(1), Timestamp(1), &KeyRange::all(), Order::Desc, 3000).unwrap();
    assert_eq!((page.entries.len(), page.resume_after), (3000, None));
}

#[test]
fn keys_with_many_versions_read_the_version_at_the_snapshot() {
    let store = TempStore::new(Durability::Normal);
    // Keys 0, 1 and 2; key 1 is updated 500 times.
    let mut batch = WriteBatch::default();
    for n in 0..3 {
        insert(&mut batch, 1, n, None);
    }
    store.write(&batch).unwrap();
    for ts in 2..=501 {
        let mut batch = WriteBatch::default();
        insert(&mut batch, ts, 1, Some(ts - 1));
        store.write(&batch).unwrap();
    }
    for snapshot in [1, 2, 250, 501, u64::MAX] {
        let want = format!("1@{}", snapshot.min(501));
        // Point read.
        let page = store.index_scan(IndexId(1), Timestamp(snapshot), &KeyRange::exact(&key(1)), Order::Asc, 1).unwrap();
        assert_eq!(page.entries[0].document.value.as_deref(), Some(want.as_str()));
        assert_eq!(page.entries[0].document.ts, Timestamp(snapshot.min(501)));
        assert_eq!(page.resume_after, None);
        // The same key through range scans in both directions.
        for order in [Order::Asc, Order::Desc] {
            let page = store.index_scan(IndexId(1), Timestamp(snapshot), &KeyRange::all(), order, 3).unwrap();
            assert_eq!(page.entries.len(), 3);
            assert_eq!(page.entries[1].document.value.as_deref(), Some(want.as_str()), "{order:?} at {snapshot}");
        }
    }
    let page = store.index_scan(IndexId(1), Timestamp(0), &KeyRange::exact(&key(1)), Order::Desc, 1).unwrap();
    assert_eq!(page, hull_store::ScanPage::default());
}

#[test]
fn reads_from_many_threads_run_beside_the_writer() {
    let store = Arc::new(TempStore::new(Durability::Normal));
    let mut batch = WriteBatch::default();
    for n in 0..100 {
        insert(&mut batch, 1, n, None);
    }
    store.write(&batch).unwrap();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            for ts in 2..=50 {
                let mut batch = WriteBatch::default();
                insert(&mut batch, ts, (ts % 100) as u32, None);
                // Re-inserting a document id at a new ts is fine for the store; it is opaque.
                store.write(&batch).unwrap();
            }
        })
    };
    // More threads than read connections: the pool makes the extra ones wait.
    let readers: Vec<_> = (0..8)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..100u32 {
                    let n = (i * 7 + thread) % 100;
                    let page = store.index_scan(IndexId(1), Timestamp(1), &KeyRange::exact(&key(n)), Order::Asc, 1).unwrap();
                    assert_eq!(page.entries[0].document.value, Some(format!("{n}@1")));
                    let all = store.index_scan(IndexId(1), Timestamp(1), &KeyRange::all(), Order::Desc, 10).unwrap();
                    assert_eq!(all.entries.len(), 10);
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    assert_eq!(store.max_ts().unwrap(), Some(Timestamp(50)));
}
