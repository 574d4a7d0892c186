//! `hull-bench`: the Hull engine (on its SQLite store, `Durability::Full`) against raw rusqlite
//! doing the same operations on a plain `docs(id BLOB PRIMARY KEY, k REAL, json TEXT)` table
//! (index on `k`, WAL, `synchronous=FULL`, cached prepared statements).
//!
//! One run measures four workloads, prints a table with both sides and their ratio, and writes
//! the same numbers to `bench/results/engine.json`. See `bench/README.md` for what each number
//! means. Every database lives in a fresh temporary directory (`HULL_BENCH_DIR` picks where;
//! it must be on a real disk, not tmpfs, or fsync costs nothing).
//!
//! Timing: reads are timed over a fixed number of operations and repeated (the median
//! repetition is reported); writes are time-boxed windows (each repetition on a fresh database)
//! and the median window is reported. Latency percentiles pool every repetition.
//!
//! The crate also holds the end-to-end benchmark (`e2e`: Hull over loopback with real clients
//! against a Node baseline and an axum + rusqlite limit) and what the benchmark programs share
//! (`support`).

pub mod e2e;
pub mod support;

pub use support::{hull_binary, repo_root};
use support::{command_output, cpu_model, loadavg};

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hull_db::{Database, PatchField, Query, QueryStream};
use hull_store_sqlite::{Durability, SqlitePersistence};
use hull_values::{DocumentId, Object, Value};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};
use serde_json::json;

/// Sizes and durations of one run.
#[derive(Clone, Copy, Debug)]
struct Config {
    /// Documents preloaded for the read workloads.
    preload: usize,
    /// Point reads per repetition, in transactions of `reads_per_tx`.
    point_reads: usize,
    reads_per_tx: usize,
    /// Point reads per repetition with one read per transaction.
    single_reads: usize,
    /// Index range queries per repetition (one per transaction).
    range_queries: usize,
    /// Documents each range query returns (ranges are `[X, X + range_width)` over distinct
    /// integer `k`s, so exactly this many).
    range_width: usize,
    read_reps: usize,
    /// Length of one timed write window.
    write_window: Duration,
    write_reps: usize,
    /// Engine client threads for the durable-insert workload.
    engine_insert_threads: [usize; 3],
    /// Raw rusqlite writer threads for the durable-insert workload.
    raw_insert_threads: [usize; 2],
    contended_threads: usize,
    hot_documents: usize,
    /// `db.run` retries allowed per contended increment.
    contended_max_retries: usize,
}

impl Config {
    fn standard() -> Config {
        Config {
            preload: 20_000,
            point_reads: 20_000,
            reads_per_tx: 100,
            single_reads: 5_000,
            range_queries: 5_000,
            range_width: 10,
            read_reps: 5,
            write_window: Duration::from_secs(3),
            write_reps: 3,
            engine_insert_threads: [1, 8, 64],
            raw_insert_threads: [1, 8],
            contended_threads: 8,
            hot_documents: 10,
            contended_max_retries: 100,
        }
    }

    fn quick() -> Config {
        Config {
            point_reads: 5_000,
            single_reads: 1_000,
            range_queries: 1_000,
            read_reps: 3,
            write_window: Duration::from_millis(500),
            write_reps: 1,
            ..Config::standard()
        }
    }

    fn to_json(self) -> serde_json::Value {
        json!({
            "preload_documents": self.preload,
            "point_reads_per_rep": self.point_reads,
            "reads_per_tx": self.reads_per_tx,
            "single_reads_per_rep": self.single_reads,
            "range_queries_per_rep": self.range_queries,
            "documents_per_range": self.range_width,
            "read_reps": self.read_reps,
            "write_window_secs": self.write_window.as_secs_f64(),
            "write_reps": self.write_reps,
            "engine_insert_threads": self.engine_insert_threads,
            "raw_insert_threads": self.raw_insert_threads,
            "contended_threads": self.contended_threads,
            "hot_documents": self.hot_documents,
            "contended_max_retries": self.contended_max_retries,
        })
    }
}

/// One measured quantity of one side.
#[derive(Clone, Debug)]
struct Measure {
    label: String,
    value: f64,
    unit: &'static str,
    /// Extra facts (latency percentiles, retries, sanity checks).
    notes: BTreeMap<String, serde_json::Value>,
}

impl Measure {
    fn new(label: impl Into<String>, value: f64, unit: &'static str) -> Measure {
        Measure { label: label.into(), value, unit, notes: BTreeMap::new() }
    }

    fn note(mut self, key: &str, value: impl Into<serde_json::Value>) -> Measure {
        self.notes.insert(key.to_owned(), value.into());
        self
    }

    fn to_json(&self) -> serde_json::Value {
        json!({ "label": self.label, "value": self.value, "unit": self.unit, "notes": self.notes })
    }
}

/// Lower is better (latency) or higher is better (throughput).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
}

/// One row of the table: raw vs engine.
#[derive(Clone, Debug)]
struct Row {
    id: &'static str,
    workload: String,
    raw: Measure,
    engine: Measure,
    better: Better,
}

impl Row {
    /// engine / raw.
    fn ratio(&self) -> f64 {
        self.engine.value / self.raw.value
    }

    fn ratio_text(&self) -> String {
        let ratio = self.ratio();
        match self.better {
            Better::Lower if ratio >= 1.0 => format!("{ratio:.2}x time ({ratio:.1}x slower)"),
            Better::Lower => format!("{ratio:.2}x time ({:.1}x faster)", 1.0 / ratio),
            Better::Higher if ratio >= 1.0 => format!("{ratio:.2}x throughput (faster)"),
            Better::Higher => format!("{ratio:.2}x throughput ({:.1}x slower)", 1.0 / ratio),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "workload": self.workload,
            "raw": self.raw.to_json(),
            "engine": self.engine.to_json(),
            "ratio_engine_over_raw": self.ratio(),
            "better": match self.better { Better::Lower => "lower", Better::Higher => "higher" },
        })
    }
}

// ----- helpers ---------------------------------------------------------------------------

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// Percentile (0..=100) of latencies in microseconds.
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)])
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn latency_notes(measure: Measure, mut latencies: Vec<u32>) -> Measure {
    latencies.sort_unstable();
    measure
        .note("latency_p50_us", percentile(&latencies, 50.0))
        .note("latency_p99_us", percentile(&latencies, 99.0))
        .note("latency_max_us", latencies.last().copied().map_or(f64::NAN, f64::from))
}

/// `YYYY-MM-DD HH:MM:SS UTC` without a date crate (Howard Hinnant's civil-from-days).
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

fn scratch_dir() -> tempfile::TempDir {
    match std::env::var_os("HULL_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("create a directory in HULL_BENCH_DIR"),
        None => tempfile::tempdir().expect("create a temporary directory"),
    }
}

const PAYLOAD: &str = "The quick brown fox jumps over the lazy dog; a payload of about 100 bytes of text per document.";

fn engine_fields(k: f64) -> Object {
    Object::from([("k".to_owned(), Value::Float64(k)), ("payload".to_owned(), Value::String(PAYLOAD.to_owned()))])
}

fn raw_json(k: f64) -> String {
    json!({ "k": k, "payload": PAYLOAD }).to_string()
}

fn random_id(rng: &mut impl Rng) -> [u8; 16] {
    let mut id = [0u8; 16];
    rng.fill(&mut id);
    id
}

/// Median µs of a 4 KiB overwrite + `fdatasync` in `dir`: what one durable commit costs the
/// disk at least. Group commit pays it once per group; one-transaction-per-insert once per row.
fn fsync_probe(dir: &Path) -> f64 {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("create the fsync probe file");
    let page = [0x5Au8; 4096];
    let samples = (0..200)
        .map(|_| {
            let began = Instant::now();
            file.seek(SeekFrom::Start(0)).expect("seek");
            file.write_all(&page).expect("write");
            file.sync_data().expect("fdatasync");
            began.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    median(samples)
}

/// "db X MiB + wal Y MiB" for an SQLite file.
fn file_sizes(path: &Path) -> String {
    let mib = |p: &Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0));
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    format!("db {:.1} MiB + wal {:.1} MiB", mib(path), mib(&wal))
}

// ----- opening both sides ----------------------------------------------------------------

fn open_engine(dir: &Path) -> Database {
    let persistence = SqlitePersistence::open(&dir.join("hull.sqlite3"), Durability::Full).expect("open the Hull store");
    Database::open(Arc::new(persistence)).expect("open the Hull database")
}

/// An engine database with table `t` and its index `t.by_k` on `k`.
fn open_engine_with_index(dir: &Path) -> Database {
    let db = open_engine(dir);
    db.run(0, |tx| tx.create_index("t", "by_k", &["k".to_owned()])).expect("create t.by_k");
    db
}

fn raw_path(dir: &Path) -> PathBuf {
    dir.join("raw.sqlite3")
}

fn open_raw(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open raw SQLite");
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"), "raw database not in WAL mode: {mode}");
    conn.pragma_update(None, "synchronous", "FULL").expect("synchronous=FULL");
    conn.busy_timeout(Duration::from_secs(60)).expect("busy_timeout");
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS docs (id BLOB PRIMARY KEY, k REAL, json TEXT);
         CREATE INDEX IF NOT EXISTS docs_k ON docs (k);",
    )
    .expect("create the raw schema");
    conn
}

const RAW_INSERT: &str = "INSERT INTO docs (id, k, json) VALUES (?1, ?2, ?3)";
const RAW_GET: &str = "SELECT json FROM docs WHERE id = ?1";
const RAW_RANGE: &str = "SELECT json FROM docs WHERE k >= ?1 AND k < ?2 ORDER BY k";
const RAW_UPDATE: &str = "UPDATE docs SET json = ?1 WHERE id = ?2";

// ----- workloads 1 & 2: reads --------------------------------------------------------------

struct ReadFixture {
    _dir: tempfile::TempDir,
    db: Database,
    raw: Connection,
    engine_ids: Vec<DocumentId>,
    raw_ids: Vec<[u8; 16]>,
}

fn read_fixture(config: &Config) -> ReadFixture {
    let dir = scratch_dir();
    let mut rng = StdRng::seed_from_u64(1);
    let mut ks: Vec<f64> = (0..config.preload).map(|k| k as f64).collect();
    ks.shuffle(&mut rng);

    let started = Instant::now();
    let db = open_engine_with_index(dir.path());
    let mut engine_ids = Vec::with_capacity(ks.len());
    for chunk in ks.chunks(1000) {
        let (ids, _) = db
            .run(0, |tx| chunk.iter().map(|&k| tx.insert("t", engine_fields(k))).collect::<Result<Vec<_>, _>>())
            .expect("preload the engine");
        engine_ids.extend(ids);
    }
    let engine_load = started.elapsed();

    let started = Instant::now();
    let mut raw = open_raw(&raw_path(dir.path()));
    let mut raw_ids = Vec::with_capacity(ks.len());
    {
        let tx = raw.transaction().expect("begin");
        {
            let mut insert = tx.prepare_cached(RAW_INSERT).expect("prepare");
            for &k in &ks {
                let id = random_id(&mut rng);
                insert.execute(params![&id[..], k, raw_json(k)]).expect("preload raw");
                raw_ids.push(id);
            }
        }
        tx.commit().expect("commit");
    }
    // Move the preload from the WAL into the database file, as the engine's own checkpoints
    // did for most of its preload, so both sides read their data from the main file.
    raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    let raw_load = started.elapsed();
    println!(
        "preloaded {} documents: engine {:.2} s (1000 per transaction, {}), raw {:.2} s (one transaction, {})",
        config.preload,
        engine_load.as_secs_f64(),
        file_sizes(&dir.path().join("hull.sqlite3")),
        raw_load.as_secs_f64(),
        file_sizes(&raw_path(dir.path())),
    );
    ReadFixture { _dir: dir, db, raw, engine_ids, raw_ids }
}

/// µs per point read: `total` reads of random documents, `per_tx` per transaction.
fn engine_point_reads(f: &ReadFixture, total: usize, per_tx: usize, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let picks: Vec<DocumentId> = (0..total).map(|_| f.engine_ids[rng.random_range(0..f.engine_ids.len())]).collect();
    let started = Instant::now();
    for batch in picks.chunks(per_tx) {
        let mut tx = f.db.begin();
        for id in batch {
            let document = tx.get(*id).expect("get").expect("document exists");
            black_box(document);
        }
        f.db.commit(tx).expect("commit a read transaction");
    }
    started.elapsed().as_secs_f64() * 1e6 / total as f64
}

fn raw_point_reads(f: &ReadFixture, total: usize, per_tx: usize, seed: u64, parse: bool) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let picks: Vec<&[u8; 16]> = (0..total).map(|_| &f.raw_ids[rng.random_range(0..f.raw_ids.len())]).collect();
    let conn = &f.raw;
    let started = Instant::now();
    for batch in picks.chunks(per_tx) {
        if per_tx > 1 {
            conn.prepare_cached("BEGIN").expect("prepare").execute([]).expect("begin");
        }
        let mut get = conn.prepare_cached(RAW_GET).expect("prepare");
        for id in batch {
            let json: String = get.query_row([&id[..]], |row| row.get(0)).expect("document exists");
            if parse {
                black_box(serde_json::from_str::<serde_json::Value>(&json).expect("json"));
            } else {
                black_box(json);
            }
        }
        drop(get);
        if per_tx > 1 {
            conn.prepare_cached("COMMIT").expect("prepare").execute([]).expect("commit");
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / total as f64
}

fn range_query(x: f64, y: f64) -> Query {
    let json = json!({
        "source": {
            "type": "IndexRange",
            "indexName": "t.by_k",
            "range": [
                {"type": "Gte", "fieldPath": "k", "value": x},
                {"type": "Lt", "fieldPath": "k", "value": y},
            ],
            "order": "asc",
        },
        "operators": [],
    });
    Query::from_json(&json).expect("a valid query")
}

fn range_starts(config: &Config, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..config.range_queries).map(|_| rng.random_range(0..=config.preload - config.range_width) as f64).collect()
}

/// µs per range query (parsing the serialized query included), one read transaction each.
fn engine_ranges(f: &ReadFixture, config: &Config, seed: u64) -> f64 {
    let starts = range_starts(config, seed);
    let width = config.range_width as f64;
    let mut returned = 0;
    let started = Instant::now();
    for &x in &starts {
        let mut tx = f.db.begin();
        let mut stream = QueryStream::open(&mut tx, range_query(x, x + width)).expect("open the query");
        while let Some(document) = stream.next(&mut tx).expect("next") {
            returned += 1;
            black_box(document);
        }
        f.db.commit(tx).expect("commit a read transaction");
    }
    let elapsed = started.elapsed();
    assert_eq!(returned, starts.len() * config.range_width, "engine range queries returned the wrong number of documents");
    elapsed.as_secs_f64() * 1e6 / starts.len() as f64
}

fn raw_ranges(f: &ReadFixture, config: &Config, seed: u64) -> f64 {
    let starts = range_starts(config, seed);
    let width = config.range_width as f64;
    let mut returned = 0;
    let started = Instant::now();
    for &x in &starts {
        let mut range = f.raw.prepare_cached(RAW_RANGE).expect("prepare");
        let mut rows = range.query(params![x, x + width]).expect("query");
        while let Some(row) = rows.next().expect("next") {
            let json: String = row.get(0).expect("json");
            returned += 1;
            black_box(json);
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(returned, starts.len() * config.range_width, "raw range queries returned the wrong number of documents");
    elapsed.as_secs_f64() * 1e6 / starts.len() as f64
}

fn read_workloads(config: &Config) -> Vec<Row> {
    let f = read_fixture(config);
    // Warm both sides' caches and statement caches.
    engine_point_reads(&f, 2_000, config.reads_per_tx, 99);
    raw_point_reads(&f, 2_000, config.reads_per_tx, 99, false);
    engine_ranges(&f, &Config { range_queries: 200, ..*config }, 98);
    raw_ranges(&f, &Config { range_queries: 200, ..*config }, 98);

    let reps = config.read_reps;
    let collect = |mut run: Box<dyn FnMut(u64) -> f64 + '_>| median((0..reps).map(|rep| run(rep as u64 + 1)).collect());

    let batched_engine = collect(Box::new(|seed| engine_point_reads(&f, config.point_reads, config.reads_per_tx, seed)));
    let batched_raw = collect(Box::new(|seed| raw_point_reads(&f, config.point_reads, config.reads_per_tx, seed, false)));
    let batched_raw_parse = collect(Box::new(|seed| raw_point_reads(&f, config.point_reads, config.reads_per_tx, seed, true)));
    let single_engine = collect(Box::new(|seed| engine_point_reads(&f, config.single_reads, 1, seed)));
    let single_raw = collect(Box::new(|seed| raw_point_reads(&f, config.single_reads, 1, seed, false)));
    let range_engine = collect(Box::new(|seed| engine_ranges(&f, config, seed)));
    let range_raw = collect(Box::new(|seed| raw_ranges(&f, config, seed)));

    vec![
        Row {
            id: "point_read_batched",
            workload: format!("point read, {} reads/tx", config.reads_per_tx),
            raw: Measure::new("SELECT json WHERE id=? (BEGIN..COMMIT per batch)", batched_raw, "us/op")
                .note("raw_plus_json_parse_us_per_op", batched_raw_parse),
            engine: Measure::new("tx.get(id)", batched_engine, "us/op"),
            better: Better::Lower,
        },
        Row {
            id: "point_read_single",
            workload: "point read, 1 read/tx".into(),
            raw: Measure::new("SELECT json WHERE id=? (autocommit)", single_raw, "us/op"),
            engine: Measure::new("begin; tx.get(id); commit", single_engine, "us/op"),
            better: Better::Lower,
        },
        Row {
            id: "index_range",
            workload: format!("index range, {} docs/query", config.range_width),
            raw: Measure::new("SELECT json WHERE k>=? AND k<? ORDER BY k", range_raw, "us/query"),
            engine: Measure::new("Query::from_json + QueryStream over t.by_k", range_engine, "us/query"),
            better: Better::Lower,
        },
    ]
}

// ----- workload 3: durable single-insert commits -------------------------------------------

/// Result of one timed write window.
#[derive(Default)]
struct Window {
    ops: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
    /// Closure invocations beyond the first (engine) or failed attempts (raw).
    retries: u64,
    /// Operations given up on.
    failures: u64,
    /// Successful operations including those that finished after the window closed.
    succeeded_total: u64,
    /// Sanity check outcome, when the workload has one.
    sane: Option<bool>,
}

impl Window {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `threads` workers for `window`; each calls `op` until the deadline. `op` returns
/// `(succeeded, retries)`.
fn timed_threads<S: Send + 'static>(
    threads: usize,
    window: Duration,
    setup: impl Fn(usize) -> S + Sync,
    op: impl Fn(&mut S, &mut StdRng) -> (bool, u64) + Sync,
) -> Window {
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let mut result = Window::default();
    let elapsed = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start, stop, setup, op) = (&start, &stop, &setup, &op);
                scope.spawn(move || {
                    let mut state = setup(t);
                    let mut rng = StdRng::seed_from_u64(1000 + t as u64);
                    let mut latencies = Vec::with_capacity(1 << 14);
                    let (mut ops, mut retries, mut failures, mut late) = (0u64, 0u64, 0u64, 0u64);
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        let (ok, retried) = op(&mut state, &mut rng);
                        if stop.load(Ordering::Relaxed) {
                            late += u64::from(ok);
                            break; // finished after the window closed: not counted
                        }
                        retries += retried;
                        if ok {
                            ops += 1;
                            latencies.push(micros(began.elapsed()));
                        } else {
                            failures += 1;
                        }
                    }
                    (ops, retries, failures, late, latencies)
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        let elapsed = began.elapsed();
        for handle in handles {
            let (ops, retries, failures, late, latencies) = handle.join().expect("worker thread");
            result.ops += ops;
            result.retries += retries;
            result.failures += failures;
            result.succeeded_total += ops + late;
            result.latencies.extend(latencies);
        }
        // Operations still in flight when the window closed finish but are not counted
        // (a sanity check still sees their effects, so they are counted there separately).
        elapsed
    });
    result.elapsed = elapsed;
    result
}

fn engine_inserts(config: &Config, threads: usize) -> Window {
    let dir = scratch_dir();
    let db = open_engine_with_index(dir.path());
    for i in 0..50 {
        db.run(0, |tx| tx.insert("t", engine_fields(f64::from(i)))).expect("warm-up insert");
    }
    timed_threads(
        threads,
        config.write_window,
        |_| (),
        |_, rng| {
            let k: f64 = rng.random();
            match db.run(0, |tx| tx.insert("t", engine_fields(k))) {
                Ok(_) => (true, 0),
                Err(error) => panic!("engine insert failed: {error}"),
            }
        },
    )
}

fn raw_inserts(config: &Config, threads: usize) -> Window {
    let dir = scratch_dir();
    let path = raw_path(dir.path());
    {
        let conn = open_raw(&path);
        let mut rng = StdRng::seed_from_u64(7);
        let mut insert = conn.prepare_cached(RAW_INSERT).expect("prepare");
        for i in 0..50 {
            insert.execute(params![&random_id(&mut rng)[..], f64::from(i), raw_json(f64::from(i))]).expect("warm-up insert");
        }
    }
    timed_threads(
        threads,
        config.write_window,
        |_| open_raw(&path),
        |conn, rng| {
            let k: f64 = rng.random();
            let id = random_id(rng);
            let mut insert = conn.prepare_cached(RAW_INSERT).expect("prepare");
            match insert.execute(params![&id[..], k, raw_json(k)]) {
                Ok(_) => (true, 0),
                Err(_) => (false, 1), // SQLITE_BUSY after the busy timeout
            }
        },
    )
}

fn median_window(windows: Vec<Window>) -> (f64, Vec<u32>, u64, u64, Option<bool>) {
    let rate = median(windows.iter().map(Window::per_sec).collect());
    let retries = windows.iter().map(|w| w.retries).sum();
    let failures = windows.iter().map(|w| w.failures).sum();
    let sane = windows.iter().map(|w| w.sane).try_fold(true, |all, s| s.map(|s| all && s));
    let latencies = windows.into_iter().flat_map(|w| w.latencies).collect();
    (rate, latencies, retries, failures, sane)
}

fn insert_workloads(config: &Config) -> Vec<Row> {
    let mut raw = BTreeMap::new();
    for &threads in &config.raw_insert_threads {
        let windows = (0..config.write_reps).map(|_| raw_inserts(config, threads)).collect();
        let (rate, latencies, _, failures, _) = median_window(windows);
        let measure = Measure::new(format!("autocommit INSERT, {threads} thread(s)"), rate, "commits/s").note("busy_failures", failures);
        println!("  raw    inserts, {threads:>2} thread(s): {rate:>9.0} commits/s");
        raw.insert(threads, latency_notes(measure, latencies));
    }
    let mut rows = Vec::new();
    for &threads in &config.engine_insert_threads {
        let windows = (0..config.write_reps).map(|_| engine_inserts(config, threads)).collect();
        let (rate, latencies, _, _, _) = median_window(windows);
        println!("  engine inserts, {threads:>2} thread(s): {rate:>9.0} commits/s");
        let engine = latency_notes(Measure::new(format!("db.run(0, insert), {threads} client thread(s)"), rate, "commits/s"), latencies);
        // Compare with raw at the same thread count when measured, else with raw one-thread.
        let (raw_threads, raw_measure) = match raw.get(&threads) {
            Some(measure) => (threads, measure.clone()),
            None => (1, raw[&1].clone()),
        };
        rows.push(Row {
            id: match threads {
                1 => "insert_1",
                8 => "insert_8",
                64 => "insert_64",
                _ => "insert_n",
            },
            workload: format!("durable insert, engine {threads} thr vs raw {raw_threads} thr"),
            raw: raw_measure,
            engine,
            better: Better::Higher,
        });
    }
    rows
}

// ----- workload 4: contended read-modify-write -------------------------------------------

fn engine_contended(config: &Config) -> Window {
    let dir = scratch_dir();
    let db = open_engine(dir.path());
    let (ids, _) = db
        .run(0, |tx| {
            (0..config.hot_documents)
                .map(|_| tx.insert("counters", Object::from([("n".to_owned(), Value::Int64(0))])))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("create the counters");
    let mut window = timed_threads(
        config.contended_threads,
        config.write_window,
        |_| (),
        |_, rng| {
            let id = ids[rng.random_range(0..ids.len())];
            let mut calls = 0u64;
            let outcome = db.run(config.contended_max_retries, |tx| {
                calls += 1;
                let document = tx.get(id)?.expect("counter exists");
                let Some(Value::Int64(n)) = document.object().get("n") else { panic!("counter without n") };
                tx.patch(id, BTreeMap::from([("n".to_owned(), PatchField::Set(Value::Int64(n + 1)))]))
            });
            (outcome.is_ok(), calls - 1)
        },
    );
    let mut tx = db.begin();
    let sum: i64 = ids
        .iter()
        .map(|id| match tx.get(*id).expect("get").expect("exists").object().get("n") {
            Some(Value::Int64(n)) => *n,
            _ => panic!("counter without n"),
        })
        .sum();
    window.sane = Some(sum == window.succeeded_total as i64);
    if !window.sane.unwrap_or(false) {
        println!("  engine contended: counters sum to {sum}, but {} increments succeeded", window.succeeded_total);
    }
    window
}

fn raw_contended(config: &Config) -> Window {
    let dir = scratch_dir();
    let path = raw_path(dir.path());
    let mut rng = StdRng::seed_from_u64(3);
    let ids: Vec<[u8; 16]> = (0..config.hot_documents).map(|_| random_id(&mut rng)).collect();
    {
        let conn = open_raw(&path);
        for (i, id) in ids.iter().enumerate() {
            conn.execute(RAW_INSERT, params![&id[..], i as f64, json!({"n": 0}).to_string()]).expect("create a counter");
        }
    }
    let increment = |conn: &Connection, id: &[u8; 16]| -> rusqlite::Result<()> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let json: String = conn.prepare_cached(RAW_GET)?.query_row([&id[..]], |row| row.get(0))?;
        let mut value: serde_json::Value = serde_json::from_str(&json).expect("counter json");
        let n = value["n"].as_i64().expect("counter n");
        value["n"] = json!(n + 1);
        conn.prepare_cached(RAW_UPDATE)?.execute(params![value.to_string(), &id[..]])?;
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    };
    let mut window = timed_threads(
        config.contended_threads,
        config.write_window,
        |_| open_raw(&path),
        |conn, rng| {
            let id = &ids[rng.random_range(0..ids.len())];
            let mut retries = 0;
            loop {
                match increment(conn, id) {
                    Ok(()) => return (true, retries),
                    Err(_) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        if retries as usize >= config.contended_max_retries {
                            return (false, retries);
                        }
                        retries += 1;
                    }
                }
            }
        },
    );
    let conn = open_raw(&path);
    let mut get = conn.prepare_cached(RAW_GET).expect("prepare");
    let sum: i64 = ids
        .iter()
        .map(|id| {
            let json: String = get.query_row([&id[..]], |row| row.get(0)).expect("counter");
            serde_json::from_str::<serde_json::Value>(&json).expect("json")["n"].as_i64().expect("n")
        })
        .sum();
    window.sane = Some(sum == window.succeeded_total as i64);
    if !window.sane.unwrap_or(false) {
        println!("  raw contended: counters sum to {sum}, but {} increments succeeded", window.succeeded_total);
    }
    window
}

fn contended_workload(config: &Config) -> Row {
    let summarize = |label: String, windows: Vec<Window>| {
        let ops: u64 = windows.iter().map(|w| w.succeeded_total).sum();
        let (rate, latencies, retries, failures, sane) = median_window(windows);
        let measure = Measure::new(label, rate, "commits/s")
            .note("successful_increments_all_reps", ops)
            .note("retries_all_reps", retries)
            .note("retries_per_commit", retries as f64 / ops.max(1) as f64)
            .note("gave_up_all_reps", failures)
            .note("sum_check", if sane == Some(true) { "PASS" } else { "FAIL" });
        latency_notes(measure, latencies)
    };
    let threads = config.contended_threads;
    let raw = summarize(
        format!("{threads} thr BEGIN IMMEDIATE; SELECT; UPDATE; COMMIT"),
        (0..config.write_reps).map(|_| raw_contended(config)).collect(),
    );
    let engine = summarize(
        format!("{threads} thr db.run({}, get + patch n+1)", config.contended_max_retries),
        (0..config.write_reps).map(|_| engine_contended(config)).collect(),
    );
    Row {
        id: "contended",
        workload: format!("contended RMW, {threads} thr on {} docs", config.hot_documents),
        raw,
        engine,
        better: Better::Higher,
    }
}

// ----- reporting -------------------------------------------------------------------------

fn format_value(measure: &Measure) -> String {
    if measure.unit == "commits/s" { format!("{:.0} {}", measure.value, measure.unit) } else { format!("{:.2} {}", measure.value, measure.unit) }
}

fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.workload.len()).max().unwrap_or(10).max(8);
    println!();
    println!("{:<width$} | {:>18} | {:>18} | engine/raw", "workload", "raw rusqlite", "hull engine");
    println!("{}", "-".repeat(width + 3 + 18 + 3 + 18 + 3 + 34));
    for row in rows {
        println!("{:<width$} | {:>18} | {:>18} | {}", row.workload, format_value(&row.raw), format_value(&row.engine), row.ratio_text());
    }
    println!();
    for row in rows {
        for (side, measure) in [("raw", &row.raw), ("engine", &row.engine)] {
            if measure.notes.is_empty() {
                continue;
            }
            let notes: Vec<String> = measure
                .notes
                .iter()
                .map(|(k, v)| match v.as_f64() {
                    Some(x) if x.fract() != 0.0 => format!("{k}={x:.2}"),
                    _ => format!("{k}={}", v.to_string().trim_matches('"')),
                })
                .collect();
            println!("  {:<20} {:<6} [{}] {}", row.id, side, measure.label, notes.join(" "));
        }
    }
}

/// Runs every workload, prints the table and writes `bench/results/engine.json`.
pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: hull-bench [--quick] [--only reads|inserts|contended]...\n  --quick  shorter run (smoke test)\n  --only   run a subset (for profiling; writes results/partial.json)\n  HULL_BENCH_DIR=<dir>  where the temporary databases go (default: the system temp dir)");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let config = if quick { Config::quick() } else { Config::standard() };
    // `--only reads|inserts|contended` (repeatable) runs a subset, e.g. under `perf record`;
    // such runs write `results/partial.json` so they never replace a full run's results.
    let only: Vec<&str> = args.windows(2).filter(|w| w[0] == "--only").map(|w| w[1].as_str()).collect();
    let wanted = |name: &str| only.is_empty() || only.contains(&name);

    let run_started = Instant::now();
    let date = utc_now();
    let load_start = loadavg();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let scratch = scratch_dir();
    let scratch_fs = command_output("df", &["-T", &scratch.path().to_string_lossy()])
        .and_then(|s| s.lines().nth(1).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned()))
        .unwrap_or_else(|| "unknown".into());
    println!("hull-bench {} ({})", if quick { "--quick" } else { "standard run" }, date);
    println!("machine: nproc={nproc}, cpu={}, sqlite {}, scratch dir {} ({scratch_fs})", cpu_model(), rusqlite::version(), scratch.path().parent().unwrap_or(scratch.path()).display());
    let fsync_us = fsync_probe(scratch.path());
    println!("fsync: a 4 KiB write + fdatasync takes {fsync_us:.0} us (median of 200) in the scratch dir");
    println!("loadavg at start: {load_start}");
    println!("sizes: {}", config.to_json());
    drop(scratch);

    let mut rows = Vec::new();
    if wanted("reads") {
        println!("\n[1,2] reads ({} reps each, median)", config.read_reps);
        rows.extend(read_workloads(&config));
    }
    if wanted("inserts") {
        println!(
            "\n[3] durable single-insert commits ({} x {:.1} s windows each, median)",
            config.write_reps,
            config.write_window.as_secs_f64()
        );
        rows.extend(insert_workloads(&config));
    }
    if wanted("contended") {
        println!("\n[4] contended read-modify-write ({} x {:.1} s windows each, median)", config.write_reps, config.write_window.as_secs_f64());
        rows.push(contended_workload(&config));
    }

    let load_end = loadavg();
    print_table(&rows);

    let find = |id: &str| rows.iter().find(|r| r.id == id);
    let mut aims = Vec::new();
    if let Some(row) = find("point_read_batched") {
        let ratio = row.ratio();
        aims.push(json!({"aim": "point reads (100/tx) within 3x of raw", "ratio": ratio, "met": ratio <= 3.0}));
    }
    if let Some(row) = find("insert_64") {
        let ratio = row.ratio();
        aims.push(json!({"aim": "engine 64-client commits/s >= 5x raw one-tx-per-insert (1 thread)", "ratio": ratio, "met": ratio >= 5.0}));
    }
    if let Some(row) = find("contended") {
        for (side, measure) in [("raw", &row.raw), ("engine", &row.engine)] {
            let pass = measure.notes.get("sum_check").and_then(|v| v.as_str()) == Some("PASS");
            aims.push(json!({"aim": format!("contended: {side} counters sum equals successful increments"), "met": pass}));
        }
    }
    println!("\naims:");
    for aim in &aims {
        let ratio = aim["ratio"].as_f64().map_or(String::new(), |r| format!(" (ratio {r:.2})"));
        let verdict = if aim["met"].as_bool() == Some(true) { "PASS" } else { "MISS" };
        println!("  {verdict}  {}{ratio}", aim["aim"].as_str().unwrap_or(""));
    }
    println!("\nloadavg at start: {load_start}\nloadavg at end:   {load_end}\ntotal time: {:.1} s", run_started.elapsed().as_secs_f64());

    let report = json!({
        "date_utc": date,
        "mode": if quick { "quick" } else { "standard" },
        "git": command_output("git", &["-C", env!("CARGO_MANIFEST_DIR"), "describe", "--always", "--dirty"]),
        "machine": {
            "nproc": nproc,
            "cpu": cpu_model(),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).ok(),
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "scratch_filesystem": scratch_fs,
            "fsync_4k_median_us": fsync_us,
            "sqlite_version": rusqlite::version(),
            "shared_machine_note": "numbers depend on other load on the machine; see loadavg",
        },
        "sizes": config.to_json(),
        "results": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "aims": aims,
        "total_secs": run_started.elapsed().as_secs_f64(),
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let name = match (only.is_empty(), quick) {
        (false, _) => "partial.json",
        (true, true) => "engine-quick.json",
        (true, false) => "engine.json",
    };
    let path = dir.join(name);
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json") + "\n")) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => eprintln!("could not write {}: {error}", path.display()),
    }
}
