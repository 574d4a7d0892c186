//! What the `hull` binary's end-to-end tests share: running `hull` commands, starting
//! `hull serve` on free ports (killed and reaped on drop), and finding node and the pinned npm
//! packages.
#![allow(dead_code)] // each test binary uses part of it

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a debug build may take to start answering, on a loaded two-core machine.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Delay between two readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Bound on one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The binary under test.
pub const HULL: &str = env!("CARGO_BIN_EXE_hull");

/// A push request fixture of hull-js (`crates/hull-js/tests/fixtures/<name>.push.json`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../hull-js/tests/fixtures/{name}.push.json"))
}

/// The pinned npm packages (`npm/node_modules`, installed by `scripts/setup.sh`).
pub fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../npm/node_modules")
}

/// Fails the test, saying why, when node or the pinned `convex` package is missing.
pub fn require_node() {
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs Node.js (`node` on PATH) to run the real Convex clients: {version:?}"
    );
    assert!(
        node_modules().join("convex/package.json").is_file(),
        "the pinned convex package is missing from npm/node_modules: run scripts/setup.sh"
    );
}

/// Runs `hull args...`, asserting success.
pub fn hull(args: &[&str]) -> Output {
    let output = Command::new(HULL)
        .args(args)
        .env_remove("HULL_INSTANCE_NAME")
        .env_remove("HULL_INSTANCE_SECRET")
        .env_remove("HULL_URL")
        .env_remove("HULL_ADMIN_KEY")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hull {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A `hull serve` child, killed and reaped on drop.
pub struct Server {
    child: Child,
    stderr_path: PathBuf,
    /// The API port.
    pub port: u16,
    /// The HTTP actions port.
    pub site_port: u16,
}

impl Server {
    /// Kills the server with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the server logged.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two free loopback ports (bound, then released): the API's and the HTTP actions'.
pub fn free_ports() -> (u16, u16) {
    let api = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let site = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    (api.local_addr().unwrap().port(), site.local_addr().unwrap().port())
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// Whether something accepts connections on `port` and answers `GET /` with any status.
pub fn answers_http(port: u16) -> bool {
    probe(port, "/").is_some_and(|response| response.starts_with("HTTP/1.1 "))
}

fn answers_version(port: u16) -> bool {
    probe(port, "/version").is_some_and(|response| response.starts_with("HTTP/1.1 200"))
}

/// The raw answer to `GET path` on `port`, or `None` when nothing answers within
/// [`PROBE_TIMEOUT`].
fn probe(port: u16, path: &str) -> Option<String> {
    let address = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// A URL of the test PostgreSQL server (`TEST_POSTGRES_URL`; scripts/test.sh starts one) with a
/// schema of its own, named after `tag`, so tests never share data.
pub fn postgres_url_with_fresh_schema(tag: &str) -> String {
    let base = std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: start a test server with `scripts/postgres.sh start` and export the URL it prints, or run ./scripts/test.sh",
    );
    static SCHEMAS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("hull_{tag}_{}_{n}_{}", std::process::id(), nanos % 1_000_000_000);
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}schema={schema}")
}

/// Starts `hull serve --data-dir data_dir extra...` on free ports and waits until it answers;
/// its stderr goes to `logs/serve.stderr`.
pub fn serve(data_dir: &Path, logs: &Path, extra: &[&str]) -> Server {
    serve_on(data_dir, logs, extra, free_ports(), &[])
}

/// [`serve`] on the given `(API, HTTP actions)` ports (a restarted server where its clients
/// expect it), with extra environment variables (`RUST_LOG`, say).
pub fn serve_on(data_dir: &Path, logs: &Path, extra: &[&str], (api_port, site_port): (u16, u16), env: &[(&str, &str)]) -> Server {
    let stderr_path = logs.join("serve.stderr");
    let child = Command::new(HULL)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--port", &api_port.to_string(), "--site-port", &site_port.to_string()])
        .args(extra)
        .env_remove("HULL_INSTANCE_NAME")
        .env_remove("HULL_INSTANCE_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server { child, stderr_path, port: api_port, site_port };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !answers_version(api_port) {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("hull serve exited ({status}); stderr:\n{}", server.stderr());
        }
        assert!(Instant::now() < deadline, "hull serve did not answer in time; stderr:\n{}", server.stderr());
        std::thread::sleep(POLL_INTERVAL);
    }
    server
}

/// One raw HTTP/1.1 request; the status and body of the answer.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> (u16, String) {
    try_http(port, method, path, headers, body).unwrap_or_else(|| panic!("{method} {path}: could not reach the server on port {port}"))
}

/// [`http`], or `None` when the connection cannot be made or breaks before an answer starts
/// (status 0: the answer was cut short).
pub fn try_http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Option<(u16, String)> {
    let body = body.as_ref();
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    // The server may answer (an error) before reading the whole body, and close.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    if response.is_empty() {
        return None;
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// A copy of hull-js's fixture project `name` in `root/project`, resolving `convex` from the
/// pinned `npm/node_modules`.
pub fn project(name: &str, root: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hull-js/tests/projects").join(name);
    let project = root.join("project");
    copy_dir(&source.join("convex"), &project.join("convex"));
    std::fs::copy(source.join("package.json"), project.join("package.json")).unwrap();
    std::os::unix::fs::symlink(node_modules(), project.join("node_modules")).unwrap();
    project
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

/// Runs the node script `script` (in `tests/js/`) with `input` as its one argument (JSON) and
/// the pinned npm packages on `NODE_PATH`, asserting that it succeeds and prints "ok" last.
pub fn run_node_script(script: &str, input: &serde_json::Value, server: &Server) {
    run_node_script_with_args(script, &[&input.to_string()], server);
}

/// [`run_node_script`] with these arguments.
pub fn run_node_script_with_args(script: &str, args: &[&str], server: &Server) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js").join(script);
    let output = Command::new("node").arg(&path).args(args).env("NODE_PATH", node_modules()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\nserver stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.stderr()
    );
}

/// Runs `convex <command> --url <server> --admin-key <key>` (the pinned CLI) in `project`;
/// whether it succeeded, and its stdout + stderr.
pub fn convex(project: &Path, server: &Server, key: &str, command: &[&str]) -> (bool, String) {
    let output: Output = Command::new(node_modules().join(".bin/convex"))
        .args(command)
        .args(["--url", &server.url(), "--admin-key", key])
        .current_dir(project)
        .env_remove("CONVEX_DEPLOYMENT")
        .env_remove("CONVEX_DEPLOY_KEY")
        .env_remove("CONVEX_SELF_HOSTED_URL")
        .env_remove("CONVEX_SELF_HOSTED_ADMIN_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
