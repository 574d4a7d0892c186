//! `engines`: the Hull engine on SQLite against the same engine on PostgreSQL, on the same
//! workloads in one run: point reads, index range reads, durable single-insert commits (1 and
//! 16 clients) and contended read-modify-write commits. Prints a table with the PostgreSQL /
//! SQLite ratio and writes `bench/results/engines.json`.
//!
//! PostgreSQL comes from `HULL_BENCH_POSTGRES_URL` or `TEST_POSTGRES_URL`
//! (`./scripts/bench.sh engines` starts a throwaway server with scripts/postgres.sh).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hull_db::{Database, PatchField, Query, QueryStream};
use hull_store::Persistence;
use hull_values::{DocumentId, Object, Value};
use rand::{Rng, SeedableRng};

const DOCUMENTS: usize = 10_000;
const POINT_READS: usize = 20_000;
const READS_PER_TRANSACTION: usize = 100;
const RANGE_QUERIES: usize = 2_000;
const WRITE_WINDOW: Duration = Duration::from_secs(3);
const HOT_DOCUMENTS: usize = 10;

fn fields(k: f64) -> Object {
    Object::from([("k".to_string(), Value::Float64(k)), ("payload".to_string(), Value::String("x".repeat(100)))])
}

fn preload(db: &Database) -> Vec<DocumentId> {
    db.run(0, |tx| tx.create_index("t", "by_k", &["k".to_string()])).unwrap();
    let mut ids = Vec::with_capacity(DOCUMENTS);
    for chunk in (0..DOCUMENTS).collect::<Vec<_>>().chunks(1000) {
        let (batch, _) = db.run(0, |tx| chunk.iter().map(|n| tx.insert("t", fields(*n as f64))).collect::<Result<Vec<_>, _>>()).unwrap();
        ids.extend(batch);
    }
    ids
}

fn point_reads_us(db: &Database, ids: &[DocumentId]) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = Instant::now();
    for _ in 0..POINT_READS / READS_PER_TRANSACTION {
        let mut tx = db.begin();
        for _ in 0..READS_PER_TRANSACTION {
            std::hint::black_box(tx.get(ids[rng.random_range(0..ids.len())]).unwrap());
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / POINT_READS as f64
}

fn range_reads_us(db: &Database) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let started = Instant::now();
    for _ in 0..RANGE_QUERIES {
        let x = rng.random_range(0..DOCUMENTS - 10) as f64;
        let json = serde_json::json!({"source":{"type":"IndexRange","indexName":"t.by_k","range":[{"type":"Gte","fieldPath":"k","value":x},{"type":"Lt","fieldPath":"k","value":x + 10.0}],"order":"asc"},"operators":[]});
        let mut tx = db.begin();
        let mut stream = QueryStream::open(&mut tx, Query::from_json(&json).unwrap()).unwrap();
        let mut count = 0;
        while stream.next(&mut tx).unwrap().is_some() {
            count += 1;
        }
        assert_eq!(count, 10);
    }
    started.elapsed().as_secs_f64() * 1e6 / RANGE_QUERIES as f64
}

/// Commits per second from `threads` clients inserting one document per transaction.
fn inserts_per_s(db: &Database, threads: usize) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + WRITE_WINDOW;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (db, done) = (db.clone(), done.clone());
            scope.spawn(move || {
                while Instant::now() < deadline {
                    db.run(0, |tx| tx.insert("inserts", fields(1.0))).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / WRITE_WINDOW.as_secs_f64()
}

/// Commits per second of 8 clients incrementing 10 hot counters (with OCC retries).
fn contended_per_s(db: &Database) -> f64 {
    let (counters, _) = db
        .run(0, |tx| (0..HOT_DOCUMENTS).map(|_| tx.insert("counters", Object::from([("n".to_string(), Value::Int64(0))]))).collect::<Result<Vec<_>, _>>())
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + WRITE_WINDOW;
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (db, done, counters) = (db.clone(), done.clone(), counters.clone());
            scope.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(thread);
                while Instant::now() < deadline {
                    let id = counters[rng.random_range(0..counters.len())];
                    db.run(1000, |tx| {
                        let n = tx.get(id)?.expect("counter").object()["n"].as_i64().expect("int");
                        tx.patch(id, BTreeMap::from([("n".to_string(), PatchField::Set(Value::Int64(n + 1)))]))
                    })
                    .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let total: i64 = {
        let mut tx = db.begin();
        counters.iter().map(|id| tx.get(*id).unwrap().unwrap().object()["n"].as_i64().unwrap()).sum()
    };
    assert_eq!(total as usize, done.load(Ordering::Relaxed), "lost increments");
    done.load(Ordering::Relaxed) as f64 / WRITE_WINDOW.as_secs_f64()
}

fn measure(name: &str, open: &dyn Fn() -> Arc<dyn Persistence>) -> BTreeMap<&'static str, f64> {
    eprintln!("measuring {name} ...");
    let db = Database::open(open()).unwrap();
    let ids = preload(&db);
    let mut results = BTreeMap::new();
    results.insert("point_read_us", point_reads_us(&db, &ids));
    results.insert("range_read_10_us", range_reads_us(&db));
    results.insert("insert_1_client_per_s", inserts_per_s(&db, 1));
    results.insert("insert_16_clients_per_s", inserts_per_s(&db, 16));
    results.insert("contended_8_clients_per_s", contended_per_s(&db));
    results
}

fn main() {
    let url = std::env::var("HULL_BENCH_POSTGRES_URL").or_else(|_| std::env::var("TEST_POSTGRES_URL")).expect(
        "set HULL_BENCH_POSTGRES_URL (or run ./scripts/bench.sh engines, which starts a PostgreSQL server)",
    );
    let loadavg_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = measure("SQLite", &|| {
        Arc::new(hull_store_sqlite::SqlitePersistence::open(&dir.path().join("db.sqlite3"), hull_store_sqlite::Durability::Full).unwrap())
    });
    let schema = format!("hull_bench_{}", std::process::id());
    let postgres = measure("PostgreSQL", &|| Arc::new(hull_store_postgres::PostgresPersistence::open(&url, &schema).unwrap()));
    let loadavg_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    println!("Hull engine on SQLite vs on PostgreSQL (same process, same workloads, loopback PostgreSQL)");
    println!("{:<28} | {:>14} | {:>14} | postgres/sqlite", "workload", "SQLite", "PostgreSQL");
    for (key, sqlite_value) in &sqlite {
        let postgres_value = postgres[key];
        println!("{key:<28} | {sqlite_value:>14.1} | {postgres_value:>14.1} | {:.2}x", postgres_value / sqlite_value);
    }
    println!("(*_us: lower is better; *_per_s: higher is better)");
    println!("loadavg at start: {}loadavg at end:   {}", loadavg_start, loadavg_end);
    let report = serde_json::json!({"sqlite": sqlite, "postgres": postgres, "loadavg_start": loadavg_start.trim(), "loadavg_end": loadavg_end.trim(),
        "sizes": {"documents": DOCUMENTS, "point_reads": POINT_READS, "reads_per_transaction": READS_PER_TRANSACTION, "range_queries": RANGE_QUERIES, "write_window_s": WRITE_WINDOW.as_secs_f64()}});
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/engines.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", path.display());
}
