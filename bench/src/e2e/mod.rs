//! The end-to-end benchmark (issue 11): Hull over loopback with real clients, side by side with
//! what a user would otherwise write (the Node baseline, `bench/node/server.mjs`) and with the
//! limit of this machine (`limit_server`: axum + rusqlite, no function runtime), in one run, on
//! the same data. `./scripts/bench.sh e2e` builds and runs it; `bench/README.md` explains it.
//!
//! Design: every system is a separate process started here; one load generator (this process,
//! one tokio runtime) drives all of them with the same requests, so the client's cost is the
//! same for each and ratios between systems are fair, even though client and server share the
//! machine's cores. Workloads are closed loops over fixed windows, one system at a time.
//!
//! Code map: `systems` (starting the three, requests and answers per system), `http` (the
//! keep-alive client), `sync` (WebSocket clients: Convex's sync protocol and plain `/ws`),
//! `load` (closed loops, latency statistics), `workloads` (each workload), `report` (the
//! Markdown and JSON results, targets).

mod http;
mod load;
mod report;
mod sync;
mod systems;
mod workloads;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use report::Report;
pub use systems::{Binaries, System};

use load::Stats;
use systems::Running;

/// Sizes and durations of one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// `smoke` or `full`.
    pub mode: &'static str,
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// One measured window.
    pub window: Duration,
    /// Pause before reading a server's RSS after a change.
    pub settle: Duration,
    /// Documents seeded into every system (`k` = 0..N).
    pub seed_documents: u32,
    /// Documents per seeding call.
    pub seed_batch: u32,
    /// Client counts for reads and the action.
    pub read_clients: Vec<usize>,
    /// Client counts for durable inserts.
    pub insert_clients: Vec<usize>,
    /// Clients of the contended counter.
    pub contended_clients: usize,
    /// Subscriber counts for fan-out.
    pub fanout_subscribers: Vec<usize>,
    /// Measured fan-out rounds (after the warm-up rounds).
    pub fanout_rounds: usize,
    /// Fan-out rounds not measured.
    pub fanout_warmup_rounds: usize,
    /// Idle WebSocket connections for the memory workload.
    pub idle_connections: usize,
    /// Documents of the bulk load (memory after N documents).
    pub bulk_documents: u32,
    /// Documents per bulk call.
    pub bulk_batch: u32,
    /// Concurrent bulk callers.
    pub bulk_clients: usize,
    /// Cold starts per system (median reported).
    pub cold_start_reps: usize,
    /// Modules of the generated deploy project.
    pub deploy_modules: usize,
}

impl Config {
    /// The full run (about 10 minutes on 2 cores).
    pub fn full() -> Config {
        Config {
            mode: "full",
            warmup: Duration::from_millis(500),
            window: Duration::from_secs(3),
            settle: Duration::from_secs(1),
            seed_documents: 10_000,
            seed_batch: 1_000,
            read_clients: vec![1, 32],
            insert_clients: vec![1, 16, 64],
            contended_clients: 32,
            fanout_subscribers: vec![1_000, 10_000],
            fanout_rounds: 10,
            fanout_warmup_rounds: 2,
            idle_connections: 10_000,
            bulk_documents: 1_000_000,
            bulk_batch: 1_000,
            bulk_clients: 4,
            cold_start_reps: 5,
            deploy_modules: 20,
        }
    }

    /// A few seconds a workload, small sizes: keeps the harness from rotting (the test suite
    /// runs it against the debug build). Its numbers mean nothing.
    pub fn smoke() -> Config {
        Config {
            mode: "smoke",
            warmup: Duration::from_millis(100),
            window: Duration::from_millis(300),
            settle: Duration::from_millis(200),
            seed_documents: 2_000,
            seed_batch: 500,
            read_clients: vec![1, 4],
            insert_clients: vec![1, 4],
            contended_clients: 4,
            fanout_subscribers: vec![200],
            fanout_rounds: 3,
            fanout_warmup_rounds: 1,
            idle_connections: 300,
            bulk_documents: 20_000,
            bulk_batch: 1_000,
            bulk_clients: 2,
            cold_start_reps: 2,
            deploy_modules: 3,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "mode": self.mode, "warmup_s": self.warmup.as_secs_f64(), "window_s": self.window.as_secs_f64(),
            "seed_documents": self.seed_documents, "read_clients": self.read_clients, "insert_clients": self.insert_clients,
            "contended_clients": self.contended_clients, "fanout_subscribers": self.fanout_subscribers,
            "fanout_rounds": self.fanout_rounds, "idle_connections": self.idle_connections,
            "bulk_documents": self.bulk_documents, "bulk_batch": self.bulk_batch, "cold_start_reps": self.cold_start_reps,
            "deploy_modules": self.deploy_modules,
        })
    }
}

/// One throughput workload: its results per system.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Stable id (JSON key), e.g. `point_read_http_c32`.
    pub id: String,
    /// What it is, for the table.
    pub title: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Per system.
    pub results: BTreeMap<System, Stats>,
}

/// A directory for the run's databases: `HULL_BENCH_DIR` or the system's temporary directory
/// (it must be a real disk for durable writes to cost what they cost).
fn scratch_dir() -> tempfile::TempDir {
    match std::env::var_os("HULL_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("create a directory in HULL_BENCH_DIR"),
        None => tempfile::tempdir().expect("create a temporary directory"),
    }
}

fn progress(message: &str) {
    eprintln!("[e2e {:>6.1}s] {message}", crate::e2e::elapsed_s());
}

static RUN_STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn elapsed_s() -> f64 {
    RUN_STARTED.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Runs every workload on every system and returns the report (see `report::Report::write`).
pub fn run(config: &Config, binaries: &Binaries, systems: &[System]) -> Report {
    elapsed_s();
    binaries.check();
    let fd_limit = crate::support::raise_fd_limit();
    let scratch = scratch_dir();
    let mut report = Report::begin(config, scratch.path(), fd_limit);
    let wanted = |system| systems.contains(&system);

    for &system in systems {
        progress(&format!("cold start: {}", system.name()));
        report.cold_start.insert(system, workloads::cold_start(binaries, config, system, scratch.path()));
    }
    if wanted(System::Hull) {
        progress(&format!("deploy of a {}-module project", config.deploy_modules));
        report.deploy = workloads::deploy_modules(binaries, config, scratch.path());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let mut running = Vec::new();
    for &system in systems {
        running.push(runtime.block_on(start_and_seed(binaries, config, system, scratch.path(), &mut report)));
    }
    runtime.block_on(idle_connections(config, &running, &mut report));
    runtime.block_on(throughput_workloads(config, &running, &mut report));
    runtime.block_on(fanout_and_memory(config, &running, &mut report));
    drop(running);
    report.finish();
    report
}

/// Starts `system` (Hull: deploys the benchmark project) and seeds it.
async fn start_and_seed(binaries: &Binaries, config: &Config, system: System, scratch: &Path, report: &mut Report) -> (Running, Arc<Vec<Value>>) {
    progress(&format!("start and seed {}", system.name()));
    let dir = scratch.join(format!("main-{}", system.name()));
    std::fs::create_dir_all(&dir).expect("create the system's directory");
    let running = match system {
        System::Hull => {
            let (running, key) = systems::start_hull(binaries, &dir.join("data"), &dir.join("serve.log"));
            let deploy = systems::deploy_bench_project(&running, &key, &dir);
            tokio::time::sleep(config.settle).await;
            report.memory_idle_deployed_kib = Some(running.rss_kib());
            report.bench_project_deploy_s = Some(deploy.as_secs_f64());
            running
        }
        _ => systems::start_baseline(binaries, system, &dir.join("db.sqlite3"), &dir.join("serve.log")),
    };
    let started = Instant::now();
    let ids = workloads::seed(&running, config.seed_documents, config.seed_batch).await;
    report.seed_s.insert(system, started.elapsed().as_secs_f64());
    (running, Arc::new(ids))
}

async fn throughput_workloads(config: &Config, running: &[(Running, Arc<Vec<Value>>)], report: &mut Report) {
    let seeded = config.seed_documents;
    // (id, title, clients, over the sync WebSocket)
    let mut plans: Vec<(String, String, usize, bool)> = Vec::new();
    for &clients in &config.read_clients {
        plans.push((format!("point_read_http_c{clients}"), format!("point read, HTTP, {clients} client(s)"), clients, false));
    }
    for &clients in &config.read_clients {
        plans.push((format!("point_read_ws_c{clients}"), format!("point read, sync WebSocket, {clients} client(s)"), clients, true));
    }
    for n in [10, 100] {
        for &clients in &config.read_clients {
            plans.push((format!("range_{n}_c{clients}"), format!("index range, {n} documents, {clients} client(s)"), clients, false));
        }
    }
    for &clients in &config.read_clients {
        plans.push((format!("action_c{clients}"), format!("action: query + mutation, {clients} client(s)"), clients, false));
    }
    for &clients in &config.insert_clients {
        plans.push((format!("insert_c{clients}"), format!("durable insert, {clients} client(s)"), clients, false));
    }
    for (id, title, clients, websocket) in plans {
        let mut workload = Workload { id: id.clone(), title, clients, results: BTreeMap::new() };
        for (system_running, ids) in running {
            if websocket && system_running.system != System::Hull {
                continue; // the baselines have no read-over-WebSocket protocol
            }
            let make_op = op_maker_for(&id, ids.clone(), seeded);
            progress(&format!("{id}: {}", system_running.system.name()));
            let stats = if websocket {
                sync::hull_point_reads(&system_running.ws_url(), clients, config.warmup, config.window, make_op).await
            } else {
                workloads::http_window(system_running, config, clients, make_op).await
            };
            progress(&format!("  {:.0}/s, p50 {:.3} ms, p99 {:.3} ms, {} errors", stats.throughput(), stats.p50_us / 1e3, stats.p99_us / 1e3, stats.errors));
            workload.results.insert(system_running.system, stats);
        }
        report.workloads.push(workload);
    }
    let mut workload = Workload { id: format!("contended_c{}", config.contended_clients), title: format!("contended counter, {} clients", config.contended_clients), clients: config.contended_clients, results: BTreeMap::new() };
    for (system_running, _) in running {
        progress(&format!("{}: {}", workload.id, system_running.system.name()));
        let (stats, check) = workloads::contended(system_running, config, config.contended_clients).await;
        workload.results.insert(system_running.system, stats);
        report.contended_check.insert(system_running.system, check);
    }
    report.workloads.push(workload);
}

/// The op maker of workload `id` over one system's seeded ids.
fn op_maker_for(id: &str, ids: Arc<Vec<Value>>, seeded: u32) -> load::OpMaker {
    if id.starts_with("point_read") {
        workloads::point_reads(ids)
    } else if let Some(rest) = id.strip_prefix("range_") {
        let n = rest.split('_').next().and_then(|n| n.parse().ok()).expect("range_<n>_c<clients>");
        workloads::range_reads(seeded, n)
    } else if id.starts_with("action") {
        workloads::read_writes(ids)
    } else {
        workloads::inserts()
    }
}

/// RSS with many idle connections, first, while the servers' memory is still the seeded
/// state's (an earlier fan-out would leave its high-water mark behind).
async fn idle_connections(config: &Config, running: &[(Running, Arc<Vec<Value>>)], report: &mut Report) {
    for (system_running, _) in running {
        progress(&format!("{} idle connections: {}", config.idle_connections, system_running.system.name()));
        report.idle_connections.insert(system_running.system, workloads::idle_connections(system_running, config, config.idle_connections).await);
    }
}

async fn fanout_and_memory(config: &Config, running: &[(Running, Arc<Vec<Value>>)], report: &mut Report) {
    for &subscribers in &config.fanout_subscribers {
        let mut results = BTreeMap::new();
        for (system_running, _) in running {
            progress(&format!("fan-out to {subscribers} subscribers: {}", system_running.system.name()));
            let result = workloads::fanout(system_running, config, subscribers).await;
            progress(&format!("  last subscriber p50 {:.1} ms, p99 {:.1} ms", result["last_subscriber_ms"]["p50"].as_f64().unwrap_or(f64::NAN), result["last_subscriber_ms"]["p99"].as_f64().unwrap_or(f64::NAN)));
            results.insert(system_running.system, result);
        }
        report.fanout.push((subscribers, results));
    }
    for (system_running, _) in running {
        progress(&format!("bulk load of {} documents: {}", config.bulk_documents, system_running.system.name()));
        report.bulk.insert(system_running.system, workloads::bulk_load(system_running, config).await);
    }
}

/// Where results go: `HULL_E2E_OUT` or `bench/results`.
pub fn default_out_dir() -> PathBuf {
    std::env::var_os("HULL_E2E_OUT").map_or_else(|| crate::support::repo_root().join("bench/results"), PathBuf::from)
}
