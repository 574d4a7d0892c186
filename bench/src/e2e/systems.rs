//! The three systems under test and how to talk to each: Hull (the benchmark project deployed
//! with the real CLI, called like `ConvexHttpClient` does), the Node baseline
//! (`bench/node/server.mjs`) and the limit (`limit_server`), both with the same JSON endpoints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http;
use crate::support::{self, ChildGuard, HullServer};

/// One of the systems compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum System {
    /// `hull serve` with the benchmark project.
    Hull,
    /// node:http + better-sqlite3 + ws.
    Node,
    /// axum + rusqlite, no function runtime.
    Limit,
}

impl System {
    /// Every system, in report order.
    pub const ALL: [System; 3] = [System::Hull, System::Node, System::Limit];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            System::Hull => "hull",
            System::Node => "node",
            System::Limit => "limit",
        }
    }
}

/// One request of a workload.
#[derive(Clone, Debug)]
pub enum Op {
    /// Point read by id.
    Get { id: Value },
    /// The first `n` documents with `k >= k`.
    Range { k: u32, n: u32 },
    /// One durable insert.
    Insert { k: u32 },
    /// `count` inserts in one transaction; `return_ids` asks for the new ids.
    InsertMany { start: u32, count: u32, return_ids: bool },
    /// Adds one to a counter.
    Increment { name: &'static str },
    /// A counter's value.
    Counter { name: &'static str },
    /// Hull: an action calling a query and a mutation; baselines: a read and an insert.
    ReadWrite { id: Value, k: u32 },
}

/// Hull's function path and JSON arguments for `op`, and whether it is a query, a mutation or
/// an action.
fn hull_call(op: &Op) -> (&'static str, &'static str, Value) {
    match op {
        Op::Get { id } => ("query", "bench:get", json!({"id": id})),
        Op::Range { k, n } => ("query", "bench:range", json!({"k": k, "n": n})),
        Op::Insert { k } => ("mutation", "bench:insert", json!({"k": k})),
        Op::InsertMany { start, count, return_ids } => {
            ("mutation", if *return_ids { "bench:seed" } else { "bench:insertMany" }, json!({"start": start, "count": count}))
        }
        Op::Increment { name } => ("mutation", "bench:increment", json!({"name": name})),
        Op::Counter { name } => ("query", "bench:counter", json!({"name": name})),
        Op::ReadWrite { id, k } => ("action", "bench:readWrite", json!({"id": id, "k": k})),
    }
}

/// The HTTP request `op` is for `system` on `port`.
pub fn request(system: System, port: u16, op: &Op) -> Vec<u8> {
    if system == System::Hull {
        let (kind, path, args) = hull_call(op);
        let body = json!({"path": path, "args": args, "format": "json"}).to_string();
        return http::post(port, &format!("/api/{kind}"), &body);
    }
    match op {
        Op::Get { id } => http::get(port, &format!("/get?id={id}")),
        Op::Range { k, n } => http::get(port, &format!("/range?k={k}&n={n}")),
        Op::Counter { name } => http::get(port, &format!("/counter?name={name}")),
        Op::Insert { k } => http::post(port, "/insert", &json!({"k": k}).to_string()),
        Op::InsertMany { start, count, return_ids } => {
            http::post(port, if *return_ids { "/seed" } else { "/insertMany" }, &json!({"start": start, "count": count}).to_string())
        }
        Op::Increment { name } => http::post(port, "/increment", &json!({"name": name}).to_string()),
        Op::ReadWrite { id, k } => http::post(port, "/readWrite", &json!({"id": id, "k": k}).to_string()),
    }
}

/// Whether an answer is a success, without parsing it (the load generator's per-request check).
pub fn succeeded(system: System, status: u16, body: &[u8]) -> bool {
    status == 200 && (system != System::Hull || body.starts_with(br#"{"status":"success""#) || contains(body, br#""status":"success""#))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The value an answer carries (Hull wraps it in `{"status":"success","value":...}`).
pub fn value(system: System, status: u16, body: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(body);
    let parsed: Value = serde_json::from_slice(body).map_err(|e| format!("status {status}, not JSON ({e}): {text}"))?;
    if !succeeded(system, status, body) {
        return Err(format!("status {status}: {text}"));
    }
    Ok(if system == System::Hull { parsed["value"].clone() } else { parsed })
}

/// A counter's value: an integer, though Convex JSON may write a float64 as `2.0`.
pub fn counter_value(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// Sends `op` on a fresh connection and returns the answer's value.
pub async fn call(system: System, port: u16, op: &Op) -> Result<Value, String> {
    let mut connection = http::Connection::open(port).await.map_err(|e| format!("connect to {port}: {e}"))?;
    let (status, body) = connection.send(&request(system, port, op)).await.map_err(|e| format!("{op:?}: {e}"))?;
    value(system, status, &body)
}

/// A started system: its process and port, killed on drop.
pub struct Running {
    /// Which system.
    pub system: System,
    /// Its HTTP (and WebSocket) port.
    pub port: u16,
    /// Process start to the first health check answered.
    pub startup: Duration,
    process: Process,
}

/// The process behind a [`Running`] (each kills its child on drop).
enum Process {
    Hull(HullServer),
    Baseline(ChildGuard),
}

impl Running {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        match &self.process {
            Process::Hull(server) => server.child.pid(),
            Process::Baseline(child) => child.pid(),
        }
    }

    /// Its resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        support::rss_kib(self.pid())
    }

    /// The WebSocket URL subscribers connect to.
    pub fn ws_url(&self) -> String {
        match self.system {
            System::Hull => format!("ws://127.0.0.1:{}/api/1.48.0/sync", self.port),
            System::Node | System::Limit => format!("ws://127.0.0.1:{}/ws", self.port),
        }
    }
}

/// Where the binaries and the Node baseline are.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `hull`.
    pub hull: PathBuf,
    /// `limit_server`.
    pub limit: PathBuf,
    /// `bench/node/server.mjs` (its `node_modules` installed by `scripts/setup.sh`).
    pub node_script: PathBuf,
}

impl Binaries {
    /// Panics, saying what to run, when the Node baseline's packages are missing.
    pub fn check(&self) {
        let modules = self.node_script.with_file_name("node_modules");
        assert!(
            modules.join("better-sqlite3").is_dir() && modules.join("ws").is_dir(),
            "the Node baseline's packages are missing from {}: run scripts/setup.sh",
            modules.display()
        );
        assert!(self.hull.exists(), "{} not found: build hull first", self.hull.display());
        assert!(self.limit.exists(), "{} not found: build limit_server first", self.limit.display());
    }
}

/// Starts Hull on an empty `data_dir` (no deploy).
pub fn start_hull(binaries: &Binaries, data_dir: &Path, log: &Path) -> (Running, String) {
    let key = support::admin_key(&binaries.hull, data_dir);
    let server = HullServer::start(&binaries.hull, data_dir, Some(log));
    (Running { system: System::Hull, port: server.port, startup: server.startup, process: Process::Hull(server) }, key)
}

/// Starts a baseline with its database at `database` and waits until `/healthz` answers.
pub fn start_baseline(binaries: &Binaries, system: System, database: &Path, log: &Path) -> Running {
    let port = support::free_port();
    let mut command = match system {
        System::Node => {
            let mut command = Command::new("node");
            command.arg(&binaries.node_script);
            command
        }
        System::Limit => Command::new(&binaries.limit),
        System::Hull => unreachable!("Hull starts with start_hull"),
    };
    let log = std::fs::File::create(log).expect("create the server log");
    let started = Instant::now();
    let child = command
        .arg(port.to_string())
        .arg(database)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start the {} baseline: {e}", system.name()));
    let mut child = ChildGuard(child);
    let startup = support::wait_healthy(&mut child, port, "/healthz", started, Duration::from_millis(1));
    Running { system, port, startup, process: Process::Baseline(child) }
}

/// Copies `bench/project` to `dir`, links `node_modules` and deploys it to `hull` with the real
/// CLI. Returns the deploy's duration.
pub fn deploy_bench_project(hull: &Running, admin_key: &str, dir: &Path) -> Duration {
    let project = dir.join("project");
    support::copy_dir(&support::repo_root().join("bench/project"), &project);
    support::link_node_modules(&project);
    support::run_convex(&project, &format!("http://127.0.0.1:{}", hull.port), admin_key, &support::DEPLOY_ARGS)
}
