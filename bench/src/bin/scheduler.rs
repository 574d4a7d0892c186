//! Scheduling latency: how late a scheduled function starts after its due time, with 1,000 and
//! 10,000 other jobs pending (due an hour later), on the SQLite store with full durability.
//!
//!     ./scripts/bench.sh scheduler [PROBES]   (= cargo run --release -p hull-bench --bin scheduler)
//!
//! For each backlog size, a fresh deployment of the hull-js fixture project `scheduler` (its
//! crons removed, so nothing else runs) gets the backlog, then:
//! - **spaced**: PROBES jobs (default 200) due 10 ms apart, each scheduled by its own mutation
//!   ahead of time; the latency of one is its mutation's insert time (`_creationTime`, the wall
//!   clock when it wrote) minus its due time. This is the loop's wake-up latency.
//! - **burst**: 100 jobs due at the same instant; the latency of the last one is bounded by
//!   execution throughput (at most `SCHEDULED_JOB_EXECUTION_PARALLELISM` at once, two JS
//!   workers), so the tail shows how fast a backlog of due work drains.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hull_app::{AppConfig, Application, CallKind, Caller, FunctionPath, InstanceSecret};
use hull_db::Database;
use hull_store_sqlite::{Durability, SqlitePersistence};
use serde_json::{Value as Json, json};

const FIXTURE: &str = include_str!("../../../crates/hull-js/tests/fixtures/scheduler.push.json");
const BACKLOGS: [usize; 2] = [1_000, 10_000];
const BURST: usize = 100;
const PROBE_SPACING_MS: f64 = 10.0;
/// Scheduled functions one mutation may schedule (Convex's limit).
const PER_MUTATION: usize = 1_000;

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

fn call(app: &Application, kind: CallKind, path: &str, args: Json) -> Json {
    let outcome = app.call(&Caller::Admin { acting_as: None }, kind, &FunctionPath::parse(path).unwrap(), args).unwrap();
    outcome.result.unwrap_or_else(|e| panic!("{path} failed: {}", e.message)).to_json()
}

/// Latencies in ms of the events of `kinds` against their due times, once all exist.
fn wait_for_latencies(app: &Application, kinds: &[(String, f64)], expected_per_kind: usize) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::new();
    for (kind, due) in kinds {
        loop {
            let events = call(app, CallKind::Query, "jobs:events", json!({"kind": kind}));
            let events = events.as_array().unwrap();
            if events.len() >= expected_per_kind {
                latencies.extend(events.iter().map(|e| e["_creationTime"].as_f64().unwrap() - due));
                break;
            }
            assert!(Instant::now() < deadline, "the scheduled jobs did not run");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// Documents in `_scheduled_functions` (a system scan: a query may not return 10,000).
fn stored_jobs(database: &Database) -> usize {
    let mut tx = database.begin_system();
    let table = tx.catalog().table_by_name(hull_app::SCHEDULED_FUNCTIONS_TABLE).unwrap().number;
    let mut stream = hull_db::QueryStream::full_table(&mut tx, table, hull_store::Order::Asc).unwrap();
    let mut count = 0;
    while stream.next(&mut tx).unwrap().is_some() {
        count += 1;
    }
    count
}

fn summary(latencies: &[f64]) -> String {
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  min {:>6.2} ms  (n={})",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        at(0.0),
        latencies.len()
    )
}

fn main() {
    let probes: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    // Without crons.js nothing but the measured jobs runs.
    let mut push: Json = serde_json::from_str(FIXTURE).unwrap();
    push["appDefinition"]["changedModules"].as_array_mut().unwrap().retain(|m| m["path"] != "crons.js");
    let push = push.to_string();
    println!("scheduling latency (due time -> the job's mutation writes), SQLite store, full durability");
    for backlog in BACKLOGS {
        let dir = tempfile::tempdir().unwrap();
        let persistence = SqlitePersistence::open(&dir.path().join("hull.sqlite3"), Durability::Full).unwrap();
        let database = Database::open(Arc::new(persistence)).unwrap();
        let config = AppConfig::new("bench", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
        let app = Application::open(database, config).unwrap();
        app.deploy_push_request(&push).unwrap();

        let started = Instant::now();
        let later = now_ms() + 3_600_000.0;
        for _ in 0..backlog / PER_MUTATION {
            call(&app, CallKind::Mutation, "jobs:scheduleMany", json!({"count": PER_MUTATION, "at": later, "kind": "backlog"}));
        }
        let pending = stored_jobs(app.database());
        println!("\nbacklog {backlog} pending jobs (scheduled in {:.1} s; {pending} jobs stored)", started.elapsed().as_secs_f64());

        // Due after every probe is scheduled (a mutation with fsync each), 10 ms apart.
        let base = now_ms() + 2_000.0 + probes as f64 * 5.0;
        let kinds: Vec<(String, f64)> = (0..probes).map(|i| (format!("probe {i}"), base + i as f64 * PROBE_SPACING_MS)).collect();
        for (kind, due) in &kinds {
            call(&app, CallKind::Mutation, "jobs:scheduleAt", json!({"at": due, "kind": kind}));
        }
        assert!(now_ms() < base, "scheduling the probes took longer than planned");
        let spaced = wait_for_latencies(&app, &kinds, 1);
        println!("  spaced ({probes} jobs 10 ms apart)   {}", summary(&spaced));

        let due = now_ms() + 1_000.0;
        call(&app, CallKind::Mutation, "jobs:scheduleMany", json!({"count": BURST, "at": due, "kind": "burst"}));
        let burst = wait_for_latencies(&app, &[("burst".to_owned(), due)], BURST);
        println!("  burst ({BURST} jobs due at once)      {}", summary(&burst));
        app.stop_scheduler();
    }
}
