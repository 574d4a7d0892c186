//! The conformance suite every [`Persistence`] engine must pass.
//!
//! An engine crate instantiates it once with a factory for fresh, empty stores:
//!
//! ```ignore
//! hull_store::conformance_tests!(|| Box::new(MySqlEngine::open_temp()));
//! ```
//!
//! which expands to one `#[test]` per check below, plus the randomized model test that runs
//! thousands of random writes and scans against the engine and [`MemoryPersistence`] side by
//! side and compares every answer.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{
    DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, MemoryPersistence, Order, Persistence,
    Timestamp, WriteBatch,
};

/// Makes a fresh, empty store for one check.
pub type Factory<'a> = &'a dyn Fn() -> Box<dyn Persistence>;

/// Expands to one `#[test]` per conformance check, each calling `$factory` for a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            round_trip, visibility_is_newest_at_or_before_ts, tombstones_hide_keys,
            moved_key_is_seen_on_both_sides, interval_edges, keys_with_extreme_bytes,
            long_keys_sharing_prefixes, paging_is_independent_of_limit, duplicate_rows_fail_atomically,
            backfill_skips_existing_rows, load_documents_in_log_order, globals_overwrite,
            randomized_against_model);
    };
    (@each $factory:expr; $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                let factory = $factory;
                $crate::testkit::$check(&factory);
            }
        )*
    };
}

fn doc_key(table: u32, n: u8) -> DocumentKey {
    let mut id = [0u8; 16];
    id[0] = n;
    DocumentKey { table, id }
}

fn revision(ts: u64, key: DocumentKey, value: Option<&str>, prev_ts: Option<u64>) -> DocumentRow {
    DocumentRow {
        ts: Timestamp(ts),
        key,
        value: value.map(str::to_owned),
        prev_ts: prev_ts.map(Timestamp),
    }
}

fn live(index: u32, key: &[u8], ts: u64, document: DocumentKey) -> IndexRow {
    IndexRow { index: IndexId(index), key: key.to_vec(), ts: Timestamp(ts), document: Some(document) }
}

fn tombstone(index: u32, key: &[u8], ts: u64) -> IndexRow {
    IndexRow { index: IndexId(index), key: key.to_vec(), ts: Timestamp(ts), document: None }
}

/// Scans the whole range page by page with `page_size`, returning (key, value) pairs.
fn scan_all(
    store: &dyn Persistence,
    index: u32,
    ts: u64,
    range: &KeyRange,
    order: Order,
    page_size: usize,
) -> Vec<(Vec<u8>, String)> {
    let mut out = Vec::new();
    let mut range = range.clone();
    loop {
        let page = store.index_scan(IndexId(index), Timestamp(ts), &range, order, page_size).unwrap();
        assert!(page.entries.len() <= page_size, "page larger than its limit");
        for entry in page.entries {
            assert!(entry.document.ts.0 <= ts, "entry from the future");
            out.push((entry.key, entry.document.value.expect("visible entries are never deletions")));
        }
        match page.resume_after {
            Some(last) => range = range.after(&last, order),
            None => return out,
        }
    }
}

fn keys_of(rows: &[(Vec<u8>, String)]) -> Vec<Vec<u8>> {
    rows.iter().map(|(key, _)| key.clone()).collect()
}

/// A written batch reads back: documents through the index, globals, `max_ts`.
pub fn round_trip(factory: Factory) {
    let store = factory();
    assert_eq!(store.max_ts().unwrap(), None);
    let a = doc_key(10001, 1);
    store
        .write(&WriteBatch {
            documents: vec![revision(5, a, Some(r#"{"x":1}"#), None)],
            index_rows: vec![live(1, b"a", 5, a)],
            globals: vec![("g".into(), "1".into())],
        })
        .unwrap();
    assert_eq!(store.max_ts().unwrap(), Some(Timestamp(5)));
    let page = store.index_scan(IndexId(1), Timestamp(5), &KeyRange::all(), Order::Asc, 10).unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].key, b"a");
    assert_eq!(page.entries[0].document, revision(5, a, Some(r#"{"x":1}"#), None));
    assert_eq!(page.resume_after, None);
    assert_eq!(store.get_global("g").unwrap().as_deref(), Some("1"));
    assert_eq!(store.get_global("missing").unwrap(), None);
    // Other indexes are unaffected.
    let other = store.index_scan(IndexId(2), Timestamp(5), &KeyRange::all(), Order::Asc, 10).unwrap();
    assert!(other.entries.is_empty());
}

/// A row at ts 10 is invisible at ts 9; the newest row at or before the snapshot wins.
pub fn visibility_is_newest_at_or_before_ts(factory: Factory) {
    let store = factory();
    let a = doc_key(10001, 1);
    store
        .write(&WriteBatch {
            documents: vec![revision(10, a, Some("v10"), None)],
            index_rows: vec![live(1, b"k", 10, a)],
            ..Default::default()
        })
        .unwrap();
    store
        .write(&WriteBatch {
            documents: vec![revision(20, a, Some("v20"), Some(10))],
            index_rows: vec![live(1, b"k", 20, a)],
            ..Default::default()
        })
        .unwrap();
    let read = |ts| scan_all(store.as_ref(), 1, ts, &KeyRange::all(), Order::Asc, 10);
    assert!(read(9).is_empty());
    assert_eq!(read(10), vec![(b"k".to_vec(), "v10".to_string())]);
    assert_eq!(read(19), vec![(b"k".to_vec(), "v10".to_string())]);
    assert_eq!(read(20), vec![(b"k".to_vec(), "v20".to_string())]);
    assert_eq!(read(u64::MAX), vec![(b"k".to_vec(), "v20".to_string())]);
}

/// A tombstone hides its key from its ts on, and only from then.
pub fn tombstones_hide_keys(factory: Factory) {
    let store = factory();
    let a = doc_key(10001, 1);
    let b = doc_key(10001, 2);
    store
        .write(&WriteBatch {
            documents: vec![revision(1, a, Some("a"), None), revision(1, b, Some("b"), None)],
            index_rows: vec![live(1, b"a", 1, a), live(1, b"b", 1, b)],
            ..Default::default()
        })
        .unwrap();
    store
        .write(&WriteBatch {
            documents: vec![revision(2, a, None, Some(1))],
            index_rows: vec![tombstone(1, b"a", 2)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 1, 1, &KeyRange::all(), Order::Asc, 1)), vec![
        b"a".to_vec(),
        b"b".to_vec()
    ]);
    assert_eq!(keys_of(&scan_all(store.as_ref(), 1, 2, &KeyRange::all(), Order::Asc, 1)), vec![
        b"b".to_vec()
    ]);
    assert_eq!(keys_of(&scan_all(store.as_ref(), 1, 2, &KeyRange::all(), Order::Desc, 1)), vec![
        b"b".to_vec()
    ]);
}

/// An update that changes a key writes a tombstone for the old key and a row for the new one.
pub fn moved_key_is_seen_on_both_sides(factory: Factory) {
    let store = factory();
    let a = doc_key(10001, 1);
    store
        .write(&WriteBatch {
            documents: vec![revision(1, a, Some("old"), None)],
            index_rows: vec![live(1, b"m", 1, a)],
            ..Default::default()
        })
        .unwrap();
    store
        .write(&WriteBatch {
            documents: vec![revision(2, a, Some("new"), Some(1))],
            index_rows: vec![tombstone(1, b"m", 2), live(1, b"z", 2, a)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(scan_all(store.as_ref(), 1, 1, &KeyRange::all(), Order::Asc, 5), vec![(
        b"m".to_vec(),
        "old".to_string()
    )]);
    assert_eq!(scan_all(store.as_ref(), 1, 2, &KeyRange::all(), Order::Asc, 5), vec![(
        b"z".to_vec(),
        "new".to_string()
    )]);
}

fn write_keys(store: &dyn Persistence, index: u32, keys: &[Vec<u8>]) {
    let mut batch = WriteBatch::default();
    for (n, key) in keys.iter().enumerate() {
        let document = DocumentKey { table: 10001, id: (n as u128).to_be_bytes() };
        batch.documents.push(revision(1, document, Some(&format!("d{n}")), None));
        batch.index_rows.push(live(index, key, 1, document));
    }
    store.write(&batch).unwrap();
}

/// Inclusive start, exclusive end, unbounded end, empty and single-key ranges.
pub fn interval_edges(factory: Factory) {
    let store = factory();
    let keys: Vec<Vec<u8>> = [&b"a"[..], b"ab", b"abc", b"b", b"c"].iter().map(|k| k.to_vec()).collect();
    write_keys(store.as_ref(), 3, &keys);
    let scan = |range: KeyRange, order| keys_of(&scan_all(store.as_ref(), 3, 1, &range, order, 2));
    let range = |start: &[u8], end: Option<&[u8]>| KeyRange { start: start.to_vec(), end: end.map(<[u8]>::to_vec) };
    assert_eq!(scan(range(b"ab", Some(b"b")), Order::Asc), vec![b"ab".to_vec(), b"abc".to_vec()]);
    assert_eq!(scan(range(b"ab", Some(b"b")), Order::Desc), vec![b"abc".to_vec(), b"ab".to_vec()]);
    assert_eq!(scan(range(b"b", None), Order::Asc), vec![b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(scan(range(b"b", Some(b"b")), Order::Asc), Vec::<Vec<u8>>::new());
    assert_eq!(scan(range(b"c", Some(b"a")), Order::Asc), Vec::<Vec<u8>>::new());
    assert_eq!(scan(KeyRange::exact(b"ab"), Order::Asc), vec![b"ab".to_vec()]);
    assert_eq!(scan(KeyRange::prefix(b"ab"), Order::Desc), vec![b"abc".to_vec(), b"ab".to_vec()]);
    assert_eq!(scan(KeyRange::all(), Order::Desc).len(), 5);
}

/// Keys containing 0x00 and 0xFF, and the empty key, order bytewise.
pub fn keys_with_extreme_bytes(factory: Factory) {
    let store = factory();
    let mut keys: Vec<Vec<u8>> =
        vec![vec![], vec![0], vec![0, 0], vec![0, 0xFF], vec![0xFF], vec![0xFF, 0xFF, 0xFF], vec![1, 0, 1]];
    write_keys(store.as_ref(), 4, &keys);
    keys.sort();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 4, 1, &KeyRange::all(), Order::Asc, 3)), keys);
    keys.reverse();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 4, 1, &KeyRange::all(), Order::Desc, 3)), keys);
    assert_eq!(keys_of(&scan_all(store.as_ref(), 4, 1, &KeyRange::prefix(&[0xFF]), Order::Asc, 3)), vec![
        vec![0xFF],
        vec![0xFF, 0xFF, 0xFF]
    ]);
}

/// Keys longer than a B-tree entry (several KiB) that share long prefixes still order bytewise.
pub fn long_keys_sharing_prefixes(factory: Factory) {
    let store = factory();
    let base = vec![b'x'; 6000];
    let mut keys = Vec::new();
    for tail in [&b"b"[..], b"a", b"", b"ab", b"\x00", b"\xff"] {
        let mut key = base.clone();
        key.extend_from_slice(tail);
        keys.push(key);
    }
    let mut short = base[..2400].to_vec();
    short.push(b'y');
    keys.push(short);
    write_keys(store.as_ref(), 5, &keys);
    keys.sort();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 5, 1, &KeyRange::all(), Order::Asc, 2)), keys);
    keys.reverse();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 5, 1, &KeyRange::all(), Order::Desc, 2)), keys);
    let exact = keys[3].clone();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 5, 1, &KeyRange::exact(&exact), Order::Asc, 1)), vec![exact]);
}

/// Every page size gives the same concatenated result, in both orders, with tombstones about.
pub fn paging_is_independent_of_limit(factory: Factory) {
    let store = factory();
    let keys: Vec<Vec<u8>> = (0u16..40).map(|n| n.to_be_bytes().to_vec()).collect();
    write_keys(store.as_ref(), 6, &keys);
    // Delete every third key at ts 2.
    let mut batch = WriteBatch::default();
    for (n, key) in keys.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let document = DocumentKey { table: 10001, id: (n as u128).to_be_bytes() };
        batch.documents.push(revision(2, document, None, Some(1)));
        batch.index_rows.push(tombstone(6, key, 2));
    }
    store.write(&batch).unwrap();
    for order in [Order::Asc, Order::Desc] {
        let reference = scan_all(store.as_ref(), 6, 2, &KeyRange::all(), order, 1000);
        assert_eq!(reference.len(), 40 - 14);
        for limit in 1..=30 {
            assert_eq!(scan_all(store.as_ref(), 6, 2, &KeyRange::all(), order, limit), reference);
        }
    }
}

/// A batch holding a row that already exists fails and writes none of its rows.
pub fn duplicate_rows_fail_atomically(factory: Factory) {
    let store = factory();
    let a = doc_key(10001, 1);
    let b = doc_key(10001, 2);
    store
        .write(&WriteBatch {
            documents: vec![revision(1, a, Some("a"), None)],
            index_rows: vec![live(1, b"a", 1, a)],
            ..Default::default()
        })
        .unwrap();
    let duplicate_document = WriteBatch {
        documents: vec![revision(1, b, Some("b"), None), revision(1, a, Some("again"), None)],
        index_rows: vec![live(1, b"b", 1, b)],
        globals: vec![("g".into(), "x".into())],
    };
    assert!(store.write(&duplicate_document).is_err());
    let duplicate_index = WriteBatch {
        documents: vec![revision(2, b, Some("b"), None)],
        index_rows: vec![live(1, b"b", 2, b), live(1, b"a", 1, a)],
        ..Default::default()
    };
    assert!(store.write(&duplicate_index).is_err());
    assert_eq!(keys_of(&scan_all(store.as_ref(), 1, u64::MAX, &KeyRange::all(), Order::Asc, 10)), vec![
        b"a".to_vec()
    ]);
    assert_eq!(store.max_ts().unwrap(), Some(Timestamp(1)));
    assert_eq!(store.get_global("g").unwrap(), None);
}

/// Backfill rows that already exist are skipped; new ones are added.
pub fn backfill_skips_existing_rows(factory: Factory) {
    let store = factory();
    let a = doc_key(10001, 1);
    let b = doc_key(10001, 2);
    store
        .write(&WriteBatch {
            documents: vec![revision(1, a, Some("a"), None), revision(1, b, Some("b"), None)],
            index_rows: vec![live(7, b"a", 1, a)],
            ..Default::default()
        })
        .unwrap();
    store.write_index_backfill(&[live(7, b"a", 1, a), live(7, b"b", 1, b)]).unwrap();
    store.write_index_backfill(&[live(7, b"b", 1, b)]).unwrap();
    assert_eq!(keys_of(&scan_all(store.as_ref(), 7, 1, &KeyRange::all(), Order::Asc, 10)), vec![
        b"a".to_vec(),
        b"b".to_vec()
    ]);
}

/// `load_documents` returns the log in `(ts, table, id)` order within its bounds.
pub fn load_documents_in_log_order(factory: Factory) {
    let store = factory();
    let rows = vec![
        revision(1, doc_key(10002, 1), Some("x"), None),
        revision(1, doc_key(10001, 9), Some("y"), None),
        revision(3, doc_key(10001, 1), Some("z"), None),
        revision(3, doc_key(10002, 1), None, Some(1)),
    ];
    for ts in [1, 3] {
        let documents = rows.iter().filter(|row| row.ts.0 == ts).cloned().collect();
        store.write(&WriteBatch { documents, ..Default::default() }).unwrap();
    }
    let mut expected = rows.clone();
    expected.sort_by_key(|row| (row.ts, row.key));
    assert_eq!(store.load_documents(None, Timestamp::MAX, 100).unwrap(), expected);
    assert_eq!(store.load_documents(Some(Timestamp(1)), Timestamp::MAX, 100).unwrap(), expected[2..]);
    assert_eq!(store.load_documents(None, Timestamp(2), 100).unwrap(), expected[..2]);
    assert_eq!(store.load_documents(None, Timestamp::MAX, 3).unwrap(), expected[..3]);
}

/// Globals are overwritten by later batches.
pub fn globals_overwrite(factory: Factory) {
    let store = factory();
    store.write(&WriteBatch { globals: vec![("k".into(), "1".into())], ..Default::default() }).unwrap();
    store.write(&WriteBatch { globals: vec![("k".into(), "2".into())], ..Default::default() }).unwrap();
    assert_eq!(store.get_global("k").unwrap().as_deref(), Some("2"));
}

/// Random commits (inserts, updates that keep or move keys, deletes, over two indexes) applied
/// to the engine and to [`MemoryPersistence`]; random scans at random snapshots must agree.
pub fn randomized_against_model(factory: Factory) {
    let seed = std::env::var("HULL_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    for round in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed + round);
        let store = factory();
        let model = MemoryPersistence::new();
        // The live state: document -> (key in index 1, key in index 2, last ts).
        let mut live_documents: Vec<(DocumentKey, Vec<u8>, Vec<u8>, u64)> = Vec::new();
        let mut next_id = 0u32;
        let mut ts = 0u64;
        let random_key = |rng: &mut StdRng| -> Vec<u8> {
            let len = rng.random_range(0..4);
            (0..len).map(|_| *[0u8, 1, 0x7F, 0xFE, 0xFF].get(rng.random_range(0..5)).unwrap()).collect()
        };
        for _ in 0..300 {
            ts += rng.random_range(1..4);
            let mut batch = WriteBatch::default();
            let mut touched = std::collections::HashSet::new();
            for _ in 0..rng.random_range(1..5) {
                let choice = rng.random_range(0..10);
                if choice < 5 || live_documents.is_empty() {
                    next_id += 1;
                    let key = DocumentKey { table: 10001, id: (next_id as u128).to_be_bytes() };
                    // Index keys end with the document id, as hull-db's keys do, so they are unique.
                    let mut k1 = random_key(&mut rng);
                    k1.extend_from_slice(&key.id);
                    let mut k2 = random_key(&mut rng);
                    k2.extend_from_slice(&key.id);
                    batch.documents.push(revision(ts, key, Some(&format!("{next_id}@{ts}")), None));
                    batch.index_rows.push(live(1, &k1, ts, key));
                    batch.index_rows.push(live(2, &k2, ts, key));
                    touched.insert(key);
                    live_documents.push((key, k1, k2, ts));
                    continue;
                }
                let slot = rng.random_range(0..live_documents.len());
                let (key, k1, k2, prev) = live_documents[slot].clone();
                if !touched.insert(key) {
                    continue;
                }
                if choice < 8 {
                    // Update: index 1 keeps its key, index 2 moves.
                    let mut new_k2 = random_key(&mut rng);
                    new_k2.extend_from_slice(&key.id);
                    batch.documents.push(revision(ts, key, Some(&format!("upd@{ts}")), Some(prev)));
                    batch.index_rows.push(live(1, &k1, ts, key));
                    if new_k2 != k2 {
                        batch.index_rows.push(tombstone(2, &k2, ts));
                    }
                    batch.index_rows.push(live(2, &new_k2, ts, key));
                    live_documents[slot] = (key, k1, new_k2, ts);
                } else {
                    batch.documents.push(revision(ts, key, None, Some(prev)));
                    batch.index_rows.push(tombstone(1, &k1, ts));
                    batch.index_rows.push(tombstone(2, &k2, ts));
                    live_documents.swap_remove(slot);
                }
            }
            store.write(&batch).unwrap();
            model.write(&batch).unwrap();
            for _ in 0..5 {
                let index = IndexId(rng.random_range(1..3));
                let snapshot = Timestamp(rng.random_range(0..=ts + 1));
                let (a, b) = (random_key(&mut rng), random_key(&mut rng));
                let range = if rng.random_bool(0.2) {
                    KeyRange::all()
                } else {
                    KeyRange { start: a.clone().min(b.clone()), end: Some(a.max(b)) }
                };
                let order = if rng.random_bool(0.5) { Order::Asc } else { Order::Desc };
                let limit = rng.random_range(1..8);
                let got = scan_all(store.as_ref(), index.0, snapshot.0, &range, order, limit);
                let want = scan_all(&model, index.0, snapshot.0, &range, order, 1000);
                assert_eq!(got, want, "seed {} round {round}: scan {index:?} at {snapshot} of {range:?} {order:?} limit {limit}", seed);
            }
        }
        assert_eq!(store.max_ts().unwrap(), model.max_ts().unwrap());
        assert_eq!(
            store.load_documents(None, Timestamp::MAX, usize::MAX).unwrap(),
            model.load_documents(None, Timestamp::MAX, usize::MAX).unwrap()
        );
    }
}
