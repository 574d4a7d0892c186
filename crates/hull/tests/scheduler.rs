//! The scheduler and crons end to end: the real Convex CLI deploys a copy of the hull-js
//! fixture project `scheduler` to a `hull serve` child; the real `ConvexHttpClient`
//! (`tests/js/scheduler_client.cjs`) schedules, cancels, chains and watches the every-second
//! cron. Then `hull serve` is killed with SIGKILL while hundreds of scheduled mutations and a
//! slow action run, and restarted: every mutation ran exactly once, the interrupted action is
//! failed and not re-run, a job that fell due while the server was down runs once. Last, a
//! redeploy with the CLI changes the crons.
//!
//! Node.js is required: without it this test fails, saying so.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

/// How long a debug build may take to start answering, on a loaded two-core machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on waiting for the scheduler to finish work it should do promptly.
const PATIENCE: Duration = Duration::from_secs(60);
/// Scheduled mutations in flight when the server is killed.
const CRASH_JOBS: usize = 300;

const HULL: &str = env!("CARGO_BIN_EXE_hull");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `hull serve` child, killed (SIGKILL) and reaped on drop.
struct Server {
    child: Child,
    stderr_path: PathBuf,
    port: u16,
}

impl Server {
    fn start(data_dir: &Path, logs: &Path) -> Server {
        let port = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let (port, site_port) = (port(), port());
        let stderr_path = logs.join(format!("serve-{port}.stderr"));
        let child = Command::new(HULL)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--port", &port.to_string(), "--site-port", &site_port.to_string()])
            .env_remove("HULL_INSTANCE_NAME")
            .env_remove("HULL_INSTANCE_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server { child, stderr_path, port };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while http(port, "GET", "/version", b"").map(|(status, _)| status) != Some(200) {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("hull serve exited ({status}); stderr:\n{}", server.stderr());
            }
            assert!(Instant::now() < deadline, "hull serve did not answer in time; stderr:\n{}", server.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Calls a public function over the HTTP API; returns its value.
    fn call(&self, kind: &str, path: &str, args: Json) -> Json {
        let body = json!({"path": path, "args": args, "format": "json"}).to_string();
        let (status, answer) = http(self.port, "POST", &format!("/api/{kind}"), body.as_bytes()).expect("the server answers");
        let answer: Json = serde_json::from_str(&answer).unwrap_or(Json::String(answer));
        assert!(status == 200 && answer["status"] == "success", "{kind} {path} failed ({status}): {answer}");
        answer["value"].clone()
    }

    fn events(&self, kind: &str) -> Vec<Json> {
        self.call("query", "jobs:events", json!({"kind": kind})).as_array().unwrap().clone()
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange: `(status, body)`; `None` when the server is not there.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `npx convex deploy -y` of `project` to `server` with the pinned CLI; returns its output.
fn deploy(project: &Path, server: &Server, key: &str) -> String {
    let output = Command::new(repo().join("npm/node_modules/.bin/convex"))
        .args(["deploy", "-y", "--typecheck", "disable", "--url", &server.url(), "--admin-key", key])
        .current_dir(project)
        .env_remove("CONVEX_DEPLOYMENT")
        .env_remove("CONVEX_DEPLOY_KEY")
        .env_remove("CONVEX_SELF_HOSTED_URL")
        .env_remove("CONVEX_SELF_HOSTED_ADMIN_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "deploy failed:\n{text}\nserver:\n{}", server.stderr());
    text
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

#[test]
fn scheduled_functions_and_crons_with_the_real_cli_and_client_survive_sigkill() {
    let node = Command::new("node").arg("--version").output();
    assert!(node.as_ref().is_ok_and(|o| o.status.success()), "this test needs Node.js (`node` on PATH): {node:?}");
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let key = Command::new(HULL).args(["admin-key", "--data-dir", data_dir.to_str().unwrap()]).output().unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let server = Server::start(&data_dir, temp.path());

    let source = repo().join("crates/hull-js/tests/projects/scheduler");
    let project = temp.path().join("project");
    copy_dir(&source.join("convex"), &project.join("convex"));
    std::fs::copy(source.join("package.json"), project.join("package.json")).unwrap();
    std::os::unix::fs::symlink(repo().join("npm/node_modules"), project.join("node_modules")).unwrap();
    deploy(&project, &server, &key);

    // 1. The real client.
    let output = Command::new("node")
        .arg(repo().join("crates/hull/tests/js/scheduler_client.cjs"))
        .arg(server.url())
        .arg(&key)
        .env("NODE_PATH", repo().join("npm/node_modules"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "the client script failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\nserver stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.stderr()
    );

    // 2. SIGKILL while scheduled work runs: a slow action, hundreds of mutations, and a job
    //    that falls due while the server is down.
    let slow = server.call("mutation", "jobs:scheduleSlowAction", json!({"kind": "slow", "ms": 4000}));
    wait_until("the slow action to start", || !server.events("slow started").is_empty());
    let later = server.call("mutation", "jobs:scheduleAfter", json!({"delayMs": 1500, "kind": "due while down"}));
    server.call("mutation", "jobs:scheduleMany", json!({"count": CRASH_JOBS, "at": now_ms(), "kind": "crash"}));
    wait_until("some crash jobs to run", || !server.events("crash").is_empty());
    let ran_before_kill = server.events("crash").len();
    server.kill();
    eprintln!("{ran_before_kill} of {CRASH_JOBS} crash jobs had run when hull serve was killed");
    std::thread::sleep(Duration::from_millis(1600));

    let server = Server::start(&data_dir, temp.path());
    wait_until("every crash job to run", || server.events("crash").len() >= CRASH_JOBS);
    std::thread::sleep(Duration::from_millis(500));
    let crash = server.events("crash");
    let numbers: BTreeSet<u64> = crash.iter().map(|e| e["n"].as_f64().unwrap() as u64).collect();
    assert_eq!(crash.len(), CRASH_JOBS, "a scheduled mutation ran twice ({ran_before_kill} had run before the kill)");
    assert_eq!(numbers, (0..CRASH_JOBS as u64).collect(), "a scheduled mutation was lost");
    let slow_job = server.call("query", "jobs:job", json!({"id": slow}));
    assert_eq!(slow_job["state"], json!({"kind": "failed", "error": "Transient error while executing action"}));
    wait_until("the job due while down", || server.events("due while down").len() == 1);
    assert_eq!(server.call("query", "jobs:job", json!({"id": later}))["state"]["kind"], "success");
    std::thread::sleep(Duration::from_millis(4000));
    assert!(server.events("slow finished").is_empty(), "the interrupted action ran again");
    assert_eq!(server.events("slow started").len(), 1, "the interrupted action ran again");

    // 3. A redeploy changes the crons: "tick" slows to an hour, "tock" is new.
    let crons = project.join("convex/crons.ts");
    let text = std::fs::read_to_string(&crons).unwrap().replace(
        r#"crons.interval("tick", { seconds: 1 }, internal.jobs.log, { kind: "tick" });"#,
        r#"crons.interval("tick", { hours: 1 }, internal.jobs.log, { kind: "tick" });
crons.interval("tock", { seconds: 1 }, internal.jobs.log, { kind: "tock" });"#,
    );
    std::fs::write(&crons, text).unwrap();
    deploy(&project, &server, &key);
    let ticks = server.events("tick").len();
    wait_until("the new cron to fire twice", || server.events("tock").len() >= 2);
    assert!(server.events("tick").len() <= ticks + 1, "the slowed cron kept firing");
    let stored = server.call("query", "jobs:jobs", json!({}));
    assert!(stored.as_array().unwrap().iter().any(|j| j["args"] == json!([{"kind": "tock"}])));
}
