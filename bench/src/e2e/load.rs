//! The load generator: closed loops of N clients, each on its own keep-alive connection (or
//! WebSocket), for a fixed window after a warm-up; per-request latencies and throughput.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::http;
use super::systems::{self, Op, System};

/// One measured window.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Requests started and answered inside the window.
    pub ops: u64,
    /// Requests that failed inside the window.
    pub errors: u64,
    /// The window's length.
    pub secs: f64,
    /// Median latency.
    pub p50_us: f64,
    /// 99th percentile latency.
    pub p99_us: f64,
    /// Requests answered successfully, warm-up and stragglers after the window included (the
    /// contended counter's check).
    pub acknowledged_total: u64,
}

impl Stats {
    /// Answers per second.
    pub fn throughput(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// Summarizes latencies (µs) measured over a `secs` window.
    pub fn from_latencies(mut latencies_us: Vec<u32>, errors: u64, secs: f64, acknowledged_total: u64) -> Stats {
        latencies_us.sort_unstable();
        Stats {
            ops: latencies_us.len() as u64,
            errors,
            secs,
            p50_us: percentile(&latencies_us, 0.50),
            p99_us: percentile(&latencies_us, 0.99),
            acknowledged_total,
        }
    }

    /// Its JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "ops": self.ops, "errors": self.errors, "window_s": self.secs, "throughput_per_s": self.throughput(),
            "p50_us": self.p50_us, "p99_us": self.p99_us, "acknowledged_total": self.acknowledged_total,
        })
    }
}

/// The `p` quantile (0..=1) of sorted values; NaN when empty.
pub fn percentile<T: Copy + Into<f64>>(sorted: &[T], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].into()
}

/// The window every client of one run shares.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Requests before this are warm-up.
    pub start: Instant,
    /// No request starts at or after this.
    pub end: Instant,
}

impl Window {
    /// A window of `length` after `warmup` from now.
    pub fn after(warmup: Duration, length: Duration) -> Window {
        let start = Instant::now() + warmup;
        Window { start, end: start + length }
    }
}

/// What each client of a run brings back.
#[derive(Default)]
pub struct ClientResult {
    /// Latencies (µs) of the requests that started inside the window.
    pub latencies_us: Vec<u32>,
    /// Failures inside the window.
    pub errors: u64,
}

impl ClientResult {
    /// Waits for every client and pools their results.
    pub async fn join(tasks: Vec<tokio::task::JoinHandle<ClientResult>>) -> ClientResult {
        let mut all = ClientResult::default();
        for task in tasks {
            let result = task.await.expect("a load client panicked");
            all.latencies_us.extend(result.latencies_us);
            all.errors += result.errors;
        }
        all
    }
}

/// Makes the next request of a client from its random generator.
pub type OpMaker = Arc<dyn Fn(&mut StdRng) -> Op + Send + Sync>;

/// `clients` closed-loop HTTP clients sending `make_op`'s requests to `system` for `window`
/// after `warmup`.
pub async fn http_closed_loop(system: System, port: u16, clients: usize, warmup: Duration, window: Duration, make_op: OpMaker) -> Stats {
    let frame = Window::after(warmup, window);
    let acknowledged = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (make_op, acknowledged) = (make_op.clone(), acknowledged.clone());
            tokio::spawn(async move { http_client(system, port, client, frame, &*make_op, &acknowledged).await })
        })
        .collect();
    let all = ClientResult::join(tasks).await;
    Stats::from_latencies(all.latencies_us, all.errors, window.as_secs_f64(), acknowledged.load(Ordering::Relaxed))
}

async fn http_client(system: System, port: u16, client: usize, window: Window, make_op: &(dyn Fn(&mut StdRng) -> Op + Send + Sync), acknowledged: &AtomicU64) -> ClientResult {
    let mut rng = StdRng::seed_from_u64(client as u64 + 1);
    let mut result = ClientResult::default();
    let mut connection = http::Connection::open(port).await.expect("connect a load client");
    let mut failure_shown = false;
    loop {
        let request = systems::request(system, port, &make_op(&mut rng));
        let sent = Instant::now();
        if sent >= window.end {
            return result;
        }
        let ok = match connection.send(&request).await {
            Ok((status, body)) => {
                let ok = systems::succeeded(system, status, &body);
                if !ok && !failure_shown {
                    failure_shown = true;
                    eprintln!("{} client {client}: status {status}: {}", system.name(), String::from_utf8_lossy(&body[..body.len().min(300)]));
                }
                ok
            }
            Err(error) => {
                eprintln!("{} client {client}: {error}; reconnecting", system.name());
                connection = http::Connection::open(port).await.expect("reconnect a load client");
                false
            }
        };
        if ok {
            acknowledged.fetch_add(1, Ordering::Relaxed);
        }
        if sent >= window.start {
            if ok {
                result.latencies_us.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            } else {
                result.errors += 1;
            }
        }
    }
}
