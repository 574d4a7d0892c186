//! `sync_fanout`: one query watched by N WebSocket subscribers of a release `hull serve`, one
//! mutation per round: how long until the last subscriber has the new result, and how much
//! memory each idle subscribed connection costs the server.
//!
//!     ./scripts/bench.sh sync [N ...]     (default N = 1000 10000; builds hull and this first)
//!
//! Each subscriber speaks the sync protocol over tokio-tungstenite (Connect, then one
//! `ModifyQuerySet` adding `calls:names` of the hull-js `basic` fixture project). Each round a
//! separate writer socket sends the mutation `calls:insertOne`; the round's latency runs from
//! sending it to the moment the last subscriber has read the Transition carrying the new result
//! (so it includes running the mutation, about a millisecond). The writer's `MutationResponse`
//! arrives right after the commit; "from response" is measured from there. Server RSS is read
//! from `/proc/<pid>/status` before connecting and once every subscriber has its first result;
//! the difference divided by N is the cost of one idle subscribed connection (its socket, its
//! session, its subscription). Results go to `bench/results/sync_fanout.json`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hull_bench::support::{HullServer, raise_fd_limit, rss_kib};
use hull_bench::{hull_binary, repo_root};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 15;
const WARMUP_ROUNDS: usize = 2;
/// Connections opened at once while connecting the subscribers.
const CONNECT_CONCURRENCY: usize = 100;
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);

fn start_server(data_dir: &Path) -> HullServer {
    let hull = hull_binary("./scripts/bench.sh sync");
    let fixture = repo_root().join("crates/hull-js/tests/fixtures/basic.push.json");
    let status = Command::new(&hull).args(["deploy-push-request", "--data-dir"]).arg(data_dir).arg(&fixture).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "deploying the fixture failed");
    HullServer::start(&hull, data_dir, None)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(url: &str, session: usize) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let connect = json!({"type": "Connect", "sessionId": format!("00000000-0000-4000-8000-{session:012}"), "connectionCount": 0, "lastCloseReason": "InitialConnect"});
    socket.send(Message::Text(connect.to_string().into())).await.unwrap();
    socket
}

/// One subscriber: reports the arrival time of every Transition that changed its query.
async fn subscriber(url: Arc<String>, index: usize, connecting: Arc<tokio::sync::Semaphore>, arrivals: mpsc::UnboundedSender<Instant>) {
    let permit = connecting.acquire().await.unwrap();
    let mut socket = open(&url, index).await;
    let add = json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
        {"type": "Add", "queryId": 0, "udfPath": "calls:names", "args": [{}]}]});
    socket.send(Message::Text(add.to_string().into())).await.unwrap();
    drop(permit);
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else { continue };
        // Cheap filter before parsing: only Transitions with a result matter.
        if !text.contains("QueryUpdated") {
            continue;
        }
        let arrived = Instant::now();
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["type"] == "Transition" && arrivals.send(arrived).is_err() {
            return;
        }
    }
}

struct Run {
    connect_s: f64,
    rss_before_kib: u64,
    rss_after_kib: u64,
    last_ms: Vec<f64>,
    last_from_response_ms: Vec<f64>,
    median_subscriber_ms: Vec<f64>,
}

async fn run(subscribers: usize) -> Run {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server(&temp.path().join("data"));
    let url = Arc::new(format!("ws://127.0.0.1:{}/api/1.48.0/sync", server.port));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = rss_kib(server.child.pid());

    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let started = Instant::now();
    let connecting = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let tasks: Vec<_> = (0..subscribers).map(|i| tokio::spawn(subscriber(url.clone(), i, connecting.clone(), arrivals_tx.clone()))).collect();
    drop(arrivals_tx);
    // Every subscriber's first result.
    for _ in 0..subscribers {
        tokio::time::timeout(ROUND_TIMEOUT, arrivals.recv()).await.expect("initial results in time").unwrap();
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_kib = rss_kib(server.child.pid());

    let mut writer = open(&url, subscribers + 1).await;
    let (mut last_ms, mut last_from_response_ms, mut median_subscriber_ms) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..WARMUP_ROUNDS + ROUNDS {
        let mutation = json!({"type": "Mutation", "requestId": round, "udfPath": "calls:insertOne", "args": [{"name": format!("round-{round}")}]});
        let sent = Instant::now();
        writer.send(Message::Text(mutation.to_string().into())).await.unwrap();
        let responded = loop {
            let Some(Ok(message)) = writer.next().await else { panic!("writer socket closed") };
            if matches!(&message, Message::Text(text) if text.contains("MutationResponse")) {
                break Instant::now();
            }
        };
        let mut times = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            let arrived = tokio::time::timeout(ROUND_TIMEOUT, arrivals.recv()).await.expect("every subscriber updated in time").unwrap();
            times.push(ms(arrived.saturating_duration_since(sent)));
        }
        times.sort_by(f64::total_cmp);
        let last = *times.last().unwrap();
        if round >= WARMUP_ROUNDS {
            last_ms.push(last);
            last_from_response_ms.push(last - ms(responded - sent));
            median_subscriber_ms.push(percentile(&times, 0.5));
        }
        // Drain the writer's own Transition and let the server settle between rounds.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for task in tasks {
        task.abort();
    }
    drop(server);
    Run { connect_s, rss_before_kib, rss_after_kib, last_ms, last_from_response_ms, median_subscriber_ms }
}

fn summary(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (percentile(&sorted, 0.5), percentile(&sorted, 0.99))
}

fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("arguments are subscriber counts")).collect();
    let counts = if counts.is_empty() { vec![1000, 10_000] } else { counts };
    let fd_limit = raise_fd_limit();
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned();
    println!("nproc {}, open-file limit {fd_limit}, load average at start: {}", std::thread::available_parallelism().map_or(0, |n| n.get()), loadavg());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut results = Vec::new();
    for n in counts {
        assert!((n as u64 + 64) < fd_limit, "{n} subscribers need an open-file limit above {}", n + 64);
        let run = runtime.block_on(run(n));
        let (last_p50, last_p99) = summary(&run.last_ms);
        let (response_p50, response_p99) = summary(&run.last_from_response_ms);
        let (median_p50, _) = summary(&run.median_subscriber_ms);
        let per_connection = (run.rss_after_kib.saturating_sub(run.rss_before_kib)) as f64 * 1024.0 / n as f64;
        println!(
            "{n:>6} subscribers: connect+first result {:.1} s; mutation sent -> last subscriber p50 {last_p50:.1} ms, p99 {last_p99:.1} ms \
             (from MutationResponse p50 {response_p50:.1} ms, p99 {response_p99:.1} ms; median subscriber p50 {median_p50:.1} ms) over {ROUNDS} rounds; \
             server RSS {} -> {} KiB, {:.1} KiB per idle subscribed connection",
            run.connect_s,
            run.rss_before_kib,
            run.rss_after_kib,
            per_connection / 1024.0
        );
        results.push(json!({
            "subscribers": n,
            "connect_and_first_result_s": run.connect_s,
            "last_subscriber_ms": {"p50": last_p50, "p99": last_p99, "rounds": run.last_ms},
            "last_subscriber_from_response_ms": {"p50": response_p50, "p99": response_p99},
            "median_subscriber_ms_p50": median_p50,
            "server_rss_kib": {"before": run.rss_before_kib, "after": run.rss_after_kib},
            "rss_bytes_per_idle_connection": per_connection,
        }));
    }
    println!("load average at end: {}", loadavg());
    let out = repo_root().join("bench/results");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("sync_fanout.json"), serde_json::to_string_pretty(&json!({"runs": results, "loadavg_end": loadavg()})).unwrap()).unwrap();
}
