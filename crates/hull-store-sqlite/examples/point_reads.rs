//! A quick microbenchmark of the read paths (not a test: it asserts nothing about time).
//!
//! `cargo run -p hull-store-sqlite --example point_reads [--release]`
//!
//! Builds a store of 100,000 documents indexed by a 20-byte key (like `by_id`), one of them
//! updated 1,000 times, then times point reads (the `db.get` path), short range scans in both
//! directions, and single-document commits.

use std::hint::black_box;
use std::time::Instant;

use hull_store::{DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, Timestamp, WriteBatch};
use hull_store_sqlite::{Durability, SqlitePersistence};
use rand::{Rng, SeedableRng};

const DOCUMENTS: u32 = 100_000;
const HOT_VERSIONS: u64 = 1_000;

fn document(n: u32) -> DocumentKey {
    DocumentKey { table: 10001, id: u128::from(n.wrapping_mul(2_654_435_761)).to_be_bytes() }
}

/// An index key shaped like a `by_id` key: a short prefix and the 16-byte id.
fn key(n: u32) -> Vec<u8> {
    let mut key = vec![0x05, 0x27, 0x11, 0x00];
    key.extend_from_slice(&document(n).id);
    key
}

fn revision(batch: &mut WriteBatch, ts: u64, n: u32, prev_ts: Option<u64>) {
    let value = format!(r#"{{"_id":"{n}","name":"user {n}","email":"user{n}@example.com","score":{ts},"tags":["a","b","c"]}}"#);
    batch.documents.push(DocumentRow { ts: Timestamp(ts), key: document(n), value: Some(value), prev_ts: prev_ts.map(Timestamp) });
    batch.index_rows.push(IndexRow { index: IndexId(1), key: key(n), ts: Timestamp(ts), document: Some(document(n)) });
}

fn time<T>(label: &str, iterations: u32, f: impl FnMut(u32) -> T) {
    time_per(label, iterations, f, f64::from(iterations));
}

/// Runs `f` `iterations` times and prints the time per `units` (iterations unless told).
fn time_per<T>(label: &str, iterations: u32, mut f: impl FnMut(u32) -> T, units: f64) {
    let start = Instant::now();
    for i in 0..iterations {
        black_box(f(i));
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / units;
    println!("{label:<58} {per:>9.2} µs");
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlitePersistence::open(&dir.path().join("bench.sqlite3"), Durability::Normal).unwrap();
    let start = Instant::now();
    let mut ts = 0;
    for chunk in 0..DOCUMENTS / 1000 {
        ts += 1;
        let mut batch = WriteBatch::default();
        for n in chunk * 1000..(chunk + 1) * 1000 {
            revision(&mut batch, ts, n, None);
        }
        store.write(&batch).unwrap();
    }
    let hot = 0;
    let mut prev = 1;
    for _ in 0..HOT_VERSIONS {
        ts += 1;
        let mut batch = WriteBatch::default();
        revision(&mut batch, ts, hot, Some(prev));
        store.write(&batch).unwrap();
        prev = ts;
    }
    println!("setup: {DOCUMENTS} documents + {HOT_VERSIONS} versions of one in {:.2?}", start.elapsed());

    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let keys: Vec<Vec<u8>> = (0..100_000).map(|_| key(rng.random_range(1..DOCUMENTS))).collect();
    let exact: Vec<KeyRange> = keys.iter().map(|key| KeyRange::exact(key)).collect();
    let read = |range: &KeyRange, order, limit| store.index_scan(IndexId(1), Timestamp::MAX, range, order, limit).unwrap();

    time("point read, random key (db.get)", 100_000, |i| {
        let page = read(&exact[i as usize], Order::Asc, 1);
        assert_eq!(page.entries.len(), 1);
    });
    let hot_range = KeyRange::exact(&key(hot));
    time(&format!("point read, key with {HOT_VERSIONS} versions"), 20_000, |_| read(&hot_range, Order::Asc, 1));
    time("point read at an older snapshot, same key", 20_000, |_| {
        store.index_scan(IndexId(1), Timestamp(500), &hot_range, Order::Asc, 1).unwrap()
    });
    let missing = KeyRange::exact(b"no such key");
    time("point read, missing key", 100_000, |_| read(&missing, Order::Asc, 1));
    // The same single key through the grouped range query, which reads every version.
    let hot_as_range = KeyRange { start: key(hot), end: Some([key(hot), vec![1]].concat()) };
    time(&format!("range query over one key with {HOT_VERSIONS} versions"), 2_000, |_| read(&hot_as_range, Order::Asc, 1));
    for (limit, iterations) in [(1, 50_000), (10, 20_000), (100, 2_000)] {
        for order in [Order::Asc, Order::Desc] {
            time(&format!("range scan, page of {limit} {order:?} from a random key"), iterations, |i| {
                let start = keys[i as usize].clone();
                let page = read(&KeyRange { start, end: None }, order, limit);
                black_box(page.entries.len())
            });
        }
    }
    time_per("full scan, 100,000 entries in pages of 1000 (per entry)", 1, |_| {
        let mut range = KeyRange::all();
        let mut pages = 0;
        loop {
            let page = read(&range, Order::Asc, 1000);
            pages += 1;
            match page.resume_after {
                Some(last) => range = range.after(&last, Order::Asc),
                None => break pages,
            }
        }
    }, f64::from(DOCUMENTS));

    for durability in [Durability::Full, Durability::Normal] {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlitePersistence::open(&dir.path().join("commits.sqlite3"), durability).unwrap();
        time(&format!("commit of one document + index row, {durability:?}"), 500, |i| {
            let mut batch = WriteBatch::default();
            revision(&mut batch, u64::from(i) + 1, i, None);
            store.write(&batch).unwrap();
        });
    }
}
