//! End to end with the real clients: deploys the hull-js fixture project into a data directory
//! (`hull deploy-push-request`), prints an admin key (`hull admin-key`), starts `hull serve` on
//! free ports, and runs `tests/js/http_client.cjs` (`ConvexHttpClient`) and
//! `tests/js/sync_client.cjs` (`ConvexClient` over the sync WebSocket), from the pinned `convex`
//! package in `npm/node_modules`.
//!
//! Node.js is required: without it this test fails, saying so.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a debug build may take to start answering, on a loaded two-core machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Delay between two readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Bound on one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

const HULL: &str = env!("CARGO_BIN_EXE_hull");

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hull-js/tests/fixtures/basic.push.json")
}

fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../npm/node_modules")
}

/// A `hull serve` child, killed and reaped on drop.
struct Server {
    child: Child,
    stderr_path: PathBuf,
}

impl Server {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hull(args: &[&str]) -> Output {
    let output = Command::new(HULL).args(args).env_remove("HULL_INSTANCE_NAME").env_remove("HULL_INSTANCE_SECRET").output().unwrap();
    assert!(
        output.status.success(),
        "hull {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn free_ports() -> (u16, u16) {
    let api = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let site = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    (api.local_addr().unwrap().port(), site.local_addr().unwrap().port())
}

fn answers_version(port: u16) -> bool {
    let address = (Ipv4Addr::LOCALHOST, port).into();
    let Ok(mut stream) = TcpStream::connect_timeout(&address, PROBE_TIMEOUT) else { return false };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let request = format!("GET /version HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok() && stream.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.1 200")
}

/// The status of `GET path` with `Authorization: <authorization>`.
fn get_status(port: u16, path: &str, authorization: &str) -> u16 {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

fn serve(data_dir: &Path, logs: &Path, extra: &[&str]) -> (Server, u16) {
    let (api_port, site_port) = free_ports();
    let stderr_path = logs.join("serve.stderr");
    let child = Command::new(HULL)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--port", &api_port.to_string(), "--site-port", &site_port.to_string()])
        .args(extra)
        .env_remove("HULL_INSTANCE_NAME")
        .env_remove("HULL_INSTANCE_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server { child, stderr_path };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !answers_version(api_port) {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("hull serve exited ({status}); stderr:\n{}", server.stderr());
        }
        assert!(Instant::now() < deadline, "hull serve did not answer in time; stderr:\n{}", server.stderr());
        std::thread::sleep(POLL_INTERVAL);
    }
    (server, api_port)
}

/// Deploys the fixture project into a fresh data directory, serves it and runs the client
/// script `tests/js/<script>` against it with the deployment URL and an admin key.
fn run_client_script(script: &str) {
    let temp = tempfile::tempdir().unwrap();
    let (server, port, key) = deployed_server(temp.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js").join(script);
    let output = Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&key)
        .env("NODE_PATH", node_modules())
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
}

/// Deploys the fixture project into a data directory under `temp` and serves it: the server,
/// its API port and an admin key.
fn deployed_server(temp: &Path) -> (Server, u16, String) {
    let node_version = Command::new("node").arg("--version").output();
    assert!(
        node_version.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs Node.js (`node` on PATH) to run the real Convex client: {node_version:?}"
    );
    assert!(node_modules().join("convex/package.json").is_file(), "the pinned convex package is missing from npm/node_modules");

    let data_dir = temp.join("data");
    let data = data_dir.to_str().unwrap();
    let deployed = hull(&["deploy-push-request", "--data-dir", data, fixture().to_str().unwrap()]);
    let report = String::from_utf8(deployed.stdout).unwrap();
    assert!(report.starts_with("Deployed "), "{report}");
    assert!(report.contains("added indexes counters.by_name, messages.by_channel"), "{report}");

    let key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    let name = std::fs::read_to_string(data_dir.join("instance.json")).unwrap();
    assert!(name.contains(key.split('|').next().unwrap()), "the key names the stored instance: {key} / {name}");

    let (server, port) = serve(&data_dir, temp, &[]);
    (server, port, key)
}

#[test]
fn convex_http_client_calls_a_deployed_project_over_a_real_socket() {
    run_client_script("http_client.cjs");
}

/// The real `ConvexClient` over the sync WebSocket: live updates from another client,
/// `await mutation()` after its effect is visible, re-runs on an auth change, a consistent
/// paginated query during inserts, and a resent mutation that runs once (raw protocol, and the
/// real client reconnecting through a proxy that cut the connection as the answer came by).
#[test]
fn convex_client_syncs_live_queries_over_the_websocket() {
    run_client_script("sync_client.cjs");
}

/// The official Rust client (`convex` crate): a subscription sees a mutation's effect.
#[test]
fn the_rust_convex_client_subscribes_and_sees_a_mutation() {
    use futures_util::StreamExt;

    let temp = tempfile::tempdir().unwrap();
    let (server, port, _) = deployed_server(temp.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let mut client = convex::ConvexClient::new(&url).await.unwrap();
        let mut names = client.subscribe("calls:names", Default::default()).await.unwrap();
        let first = tokio::time::timeout(CLIENT_WAIT, names.next()).await.unwrap().unwrap();
        assert_eq!(first, convex::FunctionResult::Value(convex::Value::Array(vec![])));

        let mut writer = client.clone();
        let args = [("name".to_owned(), convex::Value::from("from-rust"))].into();
        let inserted = writer.mutation("calls:insertOne", args).await.unwrap();
        assert!(matches!(inserted, convex::FunctionResult::Value(convex::Value::String(_))), "{inserted:?}");
        let next = tokio::time::timeout(CLIENT_WAIT, names.next()).await.unwrap().unwrap();
        assert_eq!(
            next,
            convex::FunctionResult::Value(convex::Value::Array(vec![convex::Value::from("from-rust")])),
            "server stderr:\n{}",
            server.stderr()
        );
    });
}

/// How long the Rust client may take for one update.
const CLIENT_WAIT: Duration = Duration::from_secs(20);

#[test]
fn admin_keys_are_stable_per_data_dir_and_the_secret_file_is_private() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let data = data.to_str().unwrap();
    let first = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap();
    let second = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap();
    assert_eq!(first.split('|').next(), second.split('|').next());
    let secret_path = Path::new(data).join("instance_secret");
    let secret = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(secret.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let given = String::from_utf8(
        hull(&["admin-key", "--data-dir", data, "--instance-name", "other", "--instance-secret", &"ef".repeat(32)]).stdout,
    )
    .unwrap();
    assert!(given.starts_with("other|"), "{given}");
}

#[test]
fn keys_issued_for_a_given_name_and_secret_work_on_a_server_started_with_them() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let secret = "5a".repeat(32);
    let flags = ["--instance-name", "given-name", "--instance-secret", secret.as_str()];
    let mut args = vec!["admin-key", "--data-dir", data.to_str().unwrap()];
    args.extend(flags);
    let key = String::from_utf8(hull(&args).stdout).unwrap().trim().to_owned();
    let stored_key = String::from_utf8(hull(&["admin-key", "--data-dir", data.to_str().unwrap()]).stdout).unwrap().trim().to_owned();

    let (server, port) = serve(&data, temp.path(), &flags);
    assert_eq!(get_status(port, "/api/check_admin_key", &format!("Convex {key}")), 200, "stderr:\n{}", server.stderr());
    // A key for the stored identity is not valid for the one given on the command line.
    assert_eq!(get_status(port, "/api/check_admin_key", &format!("Convex {stored_key}")), 401);
}
