//! The workloads. Each runs against one started system and returns what it measured; the
//! orchestration (which systems, in which order) is in `mod.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use super::Config;
use super::http;
use super::load::{self, OpMaker, Stats};
use super::sync;
use super::systems::{self, Binaries, Op, Running, System};
use crate::support;

/// Keys of inserted documents start here, above every seeded key, so range reads keep
/// returning seeded documents only.
pub const INSERTED_K_MIN: u32 = 1_000_000;
/// Keys of the bulk (memory) load start here.
const BULK_K_MIN: u32 = 2_000_000;
/// The counter the contended workload increments.
pub const HOT_COUNTER: &str = "hot";
/// The counter fan-out subscribers watch.
const FANOUT_COUNTER: &str = "fanout";

/// Seeds `count` documents with `k` = 0..count in batches of `batch`; returns their ids in
/// `k` order.
pub async fn seed(running: &Running, count: u32, batch: u32) -> Vec<Value> {
    let mut ids = Vec::with_capacity(count as usize);
    for start in (0..count).step_by(batch as usize) {
        let op = Op::InsertMany { start, count: batch.min(count - start), return_ids: true };
        let value = systems::call(running.system, running.port, &op).await.unwrap_or_else(|e| panic!("seed {}: {e}", running.system.name()));
        ids.extend(value.as_array().expect("seed returns the new ids").iter().cloned());
    }
    assert_eq!(ids.len(), count as usize, "{} seeded every document", running.system.name());
    for name in [HOT_COUNTER, FANOUT_COUNTER] {
        systems::call(running.system, running.port, &Op::Increment { name }).await.expect("create the counters");
    }
    ids
}

/// Point reads of random seeded documents.
pub fn point_reads(ids: Arc<Vec<Value>>) -> OpMaker {
    Arc::new(move |rng| Op::Get { id: ids[rng.random_range(0..ids.len())].clone() })
}

/// Range reads of `n` documents from a random seeded key.
pub fn range_reads(seeded: u32, n: u32) -> OpMaker {
    Arc::new(move |rng| Op::Range { k: rng.random_range(0..seeded - n), n })
}

/// Inserts of new documents (keys above the seeded ones).
pub fn inserts() -> OpMaker {
    Arc::new(|rng| Op::Insert { k: INSERTED_K_MIN + rng.random_range(0..INSERTED_K_MIN) })
}

/// Hull: the action `readWrite` (a query and a mutation); baselines: the same read and insert.
pub fn read_writes(ids: Arc<Vec<Value>>) -> OpMaker {
    Arc::new(move |rng| Op::ReadWrite { id: ids[rng.random_range(0..ids.len())].clone(), k: INSERTED_K_MIN + rng.random_range(0..INSERTED_K_MIN) })
}

/// A closed-loop HTTP window.
pub async fn http_window(running: &Running, config: &Config, clients: usize, make_op: OpMaker) -> Stats {
    load::http_closed_loop(running.system, running.port, clients, config.warmup, config.window, make_op).await
}

/// The contended counter: `clients` clients increment one document. Returns the stats and
/// whether the counter grew by exactly the number of acknowledged increments.
pub async fn contended(running: &Running, config: &Config, clients: usize) -> (Stats, Value) {
    let counter = |running: &Running| systems::call(running.system, running.port, &Op::Counter { name: HOT_COUNTER });
    let before = systems::counter_value(&counter(running).await.expect("read the counter")).expect("a number");
    let stats = http_window(running, config, clients, Arc::new(|_| Op::Increment { name: HOT_COUNTER })).await;
    let after = systems::counter_value(&counter(running).await.expect("read the counter")).expect("a number");
    let acknowledged = stats.acknowledged_total as i64;
    let check = json!({"counter_before": before, "counter_after": after, "acknowledged_increments": acknowledged,
        "final_count_matches": after - before == acknowledged});
    (stats, check)
}

/// One fan-out run: `subscribers` sockets watch the counter `fanout`; each round one increment
/// is sent over HTTP and the round lasts until every subscriber has the new value.
pub async fn fanout(running: &Running, config: &Config, subscribers: usize) -> Value {
    let url = Arc::new(running.ws_url());
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let connecting = Arc::new(Semaphore::new(sync::CONNECT_CONCURRENCY));
    let rss_before_kib = running.rss_kib();
    let started = Instant::now();
    let tasks: Vec<_> = (0..subscribers)
        .map(|i| tokio::spawn(sync::subscriber(running.system, url.clone(), i, connecting.clone(), arrivals_tx.clone())))
        .collect();
    drop(arrivals_tx);
    for _ in 0..subscribers {
        receive(&mut arrivals).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let rss_subscribed_kib = running.rss_kib();
    let mut writer = http::Connection::open(running.port).await.expect("connect the writer");
    let increment = systems::request(running.system, running.port, &Op::Increment { name: FANOUT_COUNTER });
    let (mut last_ms, mut from_response_ms, mut median_ms) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..config.fanout_warmup_rounds + config.fanout_rounds {
        let sent = Instant::now();
        let (status, body) = writer.send(&increment).await.expect("send the increment");
        let responded = Instant::now();
        let n = systems::counter_value(&systems::value(running.system, status, &body).expect("the increment succeeded")).expect("a number");
        let mut times = Vec::with_capacity(subscribers);
        while times.len() < subscribers {
            let (arrived, value) = receive(&mut arrivals).await;
            assert!(value <= n, "a subscriber saw {value} after the increment to {n}");
            if value == n {
                times.push(arrived.saturating_duration_since(sent).as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        if round >= config.fanout_warmup_rounds {
            let last = *times.last().expect("at least one subscriber");
            last_ms.push(last);
            from_response_ms.push(last - responded.saturating_duration_since(sent).as_secs_f64() * 1e3);
            median_ms.push(load::percentile(&times, 0.5));
        }
    }
    for task in tasks {
        task.abort();
    }
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let (last_ms, from_response_ms, median_ms) = (sorted(last_ms), sorted(from_response_ms), sorted(median_ms));
    json!({
        "subscribers": subscribers, "rounds": last_ms.len(), "connect_and_first_value_s": connect_s,
        "last_subscriber_ms": {"p50": load::percentile(&last_ms, 0.5), "p99": load::percentile(&last_ms, 0.99), "max": last_ms.last()},
        "last_subscriber_after_write_ack_ms": {"p50": load::percentile(&from_response_ms, 0.5), "p99": load::percentile(&from_response_ms, 0.99)},
        "median_subscriber_ms_p50": load::percentile(&median_ms, 0.5),
        "updates_per_s": subscribers as f64 / (load::percentile(&last_ms, 0.5) / 1e3),
        "server_rss_kib": {"before": rss_before_kib, "subscribed": rss_subscribed_kib},
    })
}

async fn receive(arrivals: &mut mpsc::UnboundedReceiver<sync::Arrival>) -> sync::Arrival {
    tokio::time::timeout(Duration::from_secs(120), arrivals.recv()).await.expect("a subscriber update in time").expect("subscribers run")
}

/// Server RSS with `count` idle WebSocket connections (Hull: sync `Connect` sent).
pub async fn idle_connections(running: &Running, config: &Config, count: usize) -> Value {
    let before = running.rss_kib();
    let started = Instant::now();
    let sockets = sync::idle_connections(running.system, &running.ws_url(), count).await;
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(config.settle).await;
    let after = running.rss_kib();
    drop(sockets);
    tokio::time::sleep(config.settle).await;
    json!({"connections": count, "connect_s": connect_s, "rss_before_kib": before, "rss_connected_kib": after,
        "bytes_per_connection": (after.saturating_sub(before) * 1024) as f64 / count as f64})
}

/// Inserts `config.bulk_documents` documents in batches of `config.bulk_batch` from
/// `config.bulk_clients` clients; the time taken and the server's RSS before and after.
pub async fn bulk_load(running: &Running, config: &Config) -> Value {
    let before = running.rss_kib();
    let batches = config.bulk_documents / config.bulk_batch;
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..config.bulk_clients)
        .map(|_| {
            let (next, system, port, batch) = (next.clone(), running.system, running.port, config.bulk_batch);
            tokio::spawn(async move {
                let mut connection = http::Connection::open(port).await.expect("connect a bulk client");
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= batches {
                        return;
                    }
                    let op = Op::InsertMany { start: BULK_K_MIN + index * batch, count: batch, return_ids: false };
                    let (status, body) = connection.send(&systems::request(system, port, &op)).await.expect("send a batch");
                    let inserted = systems::value(system, status, &body).unwrap_or_else(|e| panic!("bulk insert on {}: {e}", system.name()));
                    assert_eq!(systems::counter_value(&inserted), Some(i64::from(batch)), "a batch inserted all its documents");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a bulk client panicked");
    }
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(config.settle).await;
    let after = running.rss_kib();
    json!({"documents": config.bulk_documents, "batch": config.bulk_batch, "clients": config.bulk_clients, "load_s": secs,
        "documents_per_s": f64::from(config.bulk_documents) / secs, "rss_before_kib": before, "rss_after_kib": after})
}

/// Process start to first healthy answer on an empty store, `config.cold_start_reps` times; the
/// idle RSS of the first start.
pub fn cold_start(binaries: &Binaries, config: &Config, system: System, scratch: &Path) -> Value {
    let mut startups_ms = Vec::new();
    let mut idle_rss_kib = 0;
    for rep in 0..config.cold_start_reps {
        let dir = scratch.join(format!("cold-{}-{rep}", system.name()));
        std::fs::create_dir_all(&dir).expect("create the cold-start directory");
        let running = match system {
            System::Hull => systems::start_hull(binaries, &dir.join("data"), &dir.join("serve.log")).0,
            _ => systems::start_baseline(binaries, system, &dir.join("db.sqlite3"), &dir.join("serve.log")),
        };
        startups_ms.push(running.startup.as_secs_f64() * 1e3);
        if rep == 0 {
            std::thread::sleep(config.settle);
            idle_rss_kib = running.rss_kib();
        }
    }
    let mut sorted = startups_ms.clone();
    sorted.sort_by(f64::total_cmp);
    json!({"startup_ms_median": load::percentile(&sorted, 0.5), "startup_ms": startups_ms, "idle_rss_empty_kib": idle_rss_kib})
}

/// Deploy time of a generated `config.deploy_modules`-module project to a fresh Hull with the
/// real CLI: the first deploy and a redeploy after one module changed.
pub fn deploy_modules(binaries: &Binaries, config: &Config, scratch: &Path) -> Value {
    let dir = scratch.join("deploy");
    std::fs::create_dir_all(&dir).expect("create the deploy directory");
    let (running, key) = systems::start_hull(binaries, &dir.join("data"), &dir.join("serve.log"));
    let project = dir.join("project");
    support::write_module_project(&project, config.deploy_modules);
    let url = format!("http://127.0.0.1:{}", running.port);
    let first = support::run_convex(&project, &url, &key, &support::DEPLOY_ARGS);
    let module = project.join("convex/module0.ts");
    let mut source = std::fs::read_to_string(&module).expect("read module0.ts");
    source.push_str("\nexport const marker = query({ args: {}, handler: async () => 1 });\n");
    std::fs::write(&module, source).expect("change module0.ts");
    let redeploy = support::run_convex(&project, &url, &key, &support::DEPLOY_ARGS);
    json!({"modules": config.deploy_modules, "first_deploy_s": first.as_secs_f64(), "redeploy_s": redeploy.as_secs_f64()})
}
