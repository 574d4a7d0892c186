//! `hull` on PostgreSQL, end to end with real processes: a deployment moves from SQLite to
//! PostgreSQL with `hull export` / `hull import`, and two `hull serve --db postgres://...`
//! processes fail over: the standby waits while the primary lives and serves every
//! acknowledged write after the primary is killed.
//!
//! Needs `TEST_POSTGRES_URL` (scripts/test.sh starts a server with scripts/postgres.sh).

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HULL: &str = env!("CARGO_BIN_EXE_hull");
/// How long a debug build may take to start answering, on a loaded two-core machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The failover must complete within this (the standby polls the lock every 100 ms).
const TAKEOVER_BOUND: Duration = Duration::from_secs(20);
const SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hull-js/tests/fixtures/basic.push.json")
}

fn hull(args: &[&str]) -> String {
    let output = Command::new(HULL).args(args).env_remove("HULL_DB").output().unwrap();
    assert!(
        output.status.success(),
        "hull {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// A `hull serve` child, killed (SIGKILL) and reaped on drop.
struct Server {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, db: Option<&str>) -> Server {
        let (port, site_port) = (free_port(), free_port());
        std::fs::create_dir_all(data_dir).unwrap();
        let stderr = data_dir.join(format!("serve-{port}.log"));
        let mut command = Command::new(HULL);
        command
            .args(["serve", "--data-dir", data_dir.to_str().unwrap(), "--port", &port.to_string(), "--site-port", &site_port.to_string()])
            .args(["--instance-name", "failover-test", "--instance-secret", SECRET])
            .env_remove("HULL_DB")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        if let Some(db) = db {
            command.args(["--db", db]);
        }
        Server { child: command.spawn().unwrap(), port, stderr }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_until_serving(&mut self, timeout: Duration) -> Duration {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("hull serve exited ({status}):\n{}", self.log());
            }
            if request(self.port, "GET", "/version", "").is_some() {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("hull serve did not answer within {timeout:?}:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; `None` when nothing listens.
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Calls a public function over the HTTP API and returns its value.
fn call(port: u16, kind: &str, path: &str, args: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"path": path, "args": args, "format": "json"}).to_string();
    let (status, response) = request(port, "POST", &format!("/api/{kind}"), &body).expect("the server answers");
    let response: serde_json::Value = serde_json::from_str(&response).unwrap_or_else(|_| panic!("{status}: {response}"));
    assert_eq!(response["status"], "success", "{path}: {response}");
    response["value"].clone()
}

fn bodies(port: u16, channel: &serde_json::Value) -> Vec<String> {
    let mut bodies: Vec<String> = call(port, "query", "messages:list", serde_json::json!({"channel": channel, "limit": 1000}))
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    bodies.sort();
    bodies
}

#[test]
fn a_deployment_moves_from_sqlite_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_dir = dir.path().join("sqlite");
    hull(&["deploy-push-request", "--data-dir", sqlite_dir.to_str().unwrap(), fixture().to_str().unwrap()]);
    let channel;
    let before;
    {
        let mut server = Server::start(&sqlite_dir, None);
        server.wait_until_serving(STARTUP_TIMEOUT);
        channel = call(server.port, "mutation", "channels:create", serde_json::json!({"name": "general"}));
        for n in 0..5 {
            call(server.port, "mutation", "messages:send", serde_json::json!({"message": {"channel": channel, "body": format!("m{n}")}, "author": "ann"}));
        }
        before = bodies(server.port, &channel);
    }
    let export = dir.path().join("deployment.jsonl");
    let exported = hull(&["export", "--data-dir", sqlite_dir.to_str().unwrap(), export.to_str().unwrap()]);
    assert!(exported.starts_with("Exported "), "{exported}");

    let db = support::postgres_url_with_fresh_schema("cli_import");
    let postgres_dir = dir.path().join("postgres");
    let imported = hull(&["import", "--data-dir", postgres_dir.to_str().unwrap(), "--db", &db, export.to_str().unwrap()]);
    assert!(imported.starts_with("Imported "), "{imported}");
    let mut server = Server::start(&postgres_dir, Some(&db));
    server.wait_until_serving(STARTUP_TIMEOUT);
    assert_eq!(bodies(server.port, &channel), before, "the same messages, found through the same channel ID");
    // The deployed code came along: mutations work on PostgreSQL.
    call(server.port, "mutation", "messages:send", serde_json::json!({"message": {"channel": channel, "body": "on postgres"}, "author": "ann"}));
    assert_eq!(bodies(server.port, &channel).len(), 6);
}

#[test]
fn a_standby_takes_over_when_the_primary_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = support::postgres_url_with_fresh_schema("cli_failover");
    let (primary_dir, standby_dir) = (dir.path().join("primary"), dir.path().join("standby"));
    hull(&["deploy-push-request", "--data-dir", primary_dir.to_str().unwrap(), "--db", &db, fixture().to_str().unwrap()]);

    let mut primary = Server::start(&primary_dir, Some(&db));
    primary.wait_until_serving(STARTUP_TIMEOUT);
    let mut standby = Server::start(&standby_dir, Some(&db));
    // The standby waits for the writer lock and does not serve meanwhile.
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !standby.log().contains("waiting as a standby") {
        assert!(Instant::now() < deadline, "the standby never said it waits:\n{}", standby.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(request(standby.port, "GET", "/version", "").is_none(), "a standby must not serve while the primary lives");

    let channel = call(primary.port, "mutation", "channels:create", serde_json::json!({"name": "general"}));
    let mut acknowledged = Vec::new();
    for n in 0..30 {
        let body = format!("m{n:02}");
        call(primary.port, "mutation", "messages:send", serde_json::json!({"message": {"channel": channel, "body": body}, "author": "ann"}));
        acknowledged.push(body);
    }
    primary.child.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    primary.child.wait().unwrap();
    standby.wait_until_serving(TAKEOVER_BOUND);
    let takeover = killed_at.elapsed();
    eprintln!("the standby served {takeover:?} after the primary was killed");

    assert_eq!(bodies(standby.port, &channel), acknowledged, "every acknowledged write is served by the new primary");
    call(standby.port, "mutation", "messages:send", serde_json::json!({"message": {"channel": channel, "body": "after"}, "author": "ann"}));
}
