//! Runs the real `hull` binary: `hull serve` on a temporary data directory and free loopback
//! ports, talked to over plain HTTP/1.1 on `std::net::TcpStream`.
//!
//! Every started process is owned by a [`Hull`] guard whose `Drop` kills it, so a failing
//! assertion never leaves a server running. A process's stderr goes to a file in the test's
//! temporary directory and is printed in every failure message about that process.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a debug build may take to start answering, on a loaded two-core CI machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping or failing server may take to exit; above the server's 10 s grace
/// period for in-flight requests.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Delay between two readiness probes or exit checks.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Bound on connecting to, writing to and reading from the server for one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Upstream's answer (404 `text/plain`) while no `http.js` is deployed (wire protocols §10.2).
const NO_HTTP_ACTIONS: &str = "This Convex deployment does not have HTTP actions enabled.";

/// A running (or exited) `hull` process; killed and reaped on drop.
struct Hull {
    child: Child,
    api_port: u16,
    site_port: u16,
    stderr_path: PathBuf,
}

impl Hull {
    /// Starts `hull serve` on `data_dir` with fresh free ports and `extra` flags. Its stderr
    /// goes to `<logs>/<label>.stderr`.
    fn start(data_dir: &Path, logs: &Path, label: &str, extra: &[&str]) -> Hull {
        let (api_port, site_port) = free_ports();
        let stderr_path = logs.join(format!("{label}.stderr"));
        let stderr = File::create(&stderr_path).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_hull"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--port", &api_port.to_string(), "--site-port", &site_port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .env("RUST_LOG", "info");
        for variable in ["HULL_DATA_DIR", "HULL_INTERFACE", "HULL_PORT", "HULL_SITE_PORT", "HULL_INSTANCE_NAME"] {
            command.env_remove(variable);
        }
        let child = command.spawn().expect("the hull binary starts");
        Hull { child, api_port, site_port, stderr_path }
    }

    /// Starts a server and waits until `/version` answers.
    fn start_ready(data_dir: &Path, logs: &Path, label: &str, extra: &[&str]) -> Hull {
        let mut hull = Hull::start(data_dir, logs, label, extra);
        hull.wait_ready();
        hull
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("hull exited before answering ({status}); stderr:\n{}", self.stderr());
            }
            if let Ok(response) = get(self.api_port, "/version") {
                assert_eq!(response.status, 200, "{response:?}\nstderr:\n{}", self.stderr());
                return;
            }
            assert!(Instant::now() < deadline, "hull did not answer within {STARTUP_TIMEOUT:?}; stderr:\n{}", self.stderr());
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for the process to exit on its own.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "hull did not exit within {EXIT_TIMEOUT:?}; stderr:\n{}", self.stderr());
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Sends SIGTERM, as a service manager would, and waits for the exit.
    fn terminate(&mut self) -> ExitStatus {
        // The shell's `kill` builtin: present wherever `sh` is, unlike /usr/bin/kill.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed: {status}");
        self.wait_exit()
    }

    fn get(&self, port: u16, path: &str) -> Response {
        get(port, path).unwrap_or_else(|err| panic!("GET {path} on port {port} failed: {err}; stderr:\n{}", self.stderr()))
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Hull {
    fn drop(&mut self) {
        // Errors mean it has already exited and been reaped; nothing left to clean up.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two distinct ports that were free a moment ago. Both listeners are held at once so the OS
/// cannot hand out the same port twice; the small window before hull binds them is accepted.
fn free_ports() -> (u16, u16) {
    let api = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let site = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    (api.local_addr().unwrap().port(), site.local_addr().unwrap().port())
}

#[derive(Debug)]
struct Response {
    status: u16,
    content_type: String,
    body: String,
}

/// `GET path` on `127.0.0.1:port` with `Connection: close`, so the body is everything after the
/// headers.
fn get(port: u16, path: &str) -> std::io::Result<Response> {
    let address = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&address, REQUEST_TIMEOUT)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let mut content_type = String::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        assert!(!value.trim().eq_ignore_ascii_case("chunked"), "this client does not decode chunked bodies");
        if name.eq_ignore_ascii_case("content-type") {
            content_type = value.trim().to_owned();
        }
    }
    Ok(Response { status, content_type, body: body.to_owned() })
}

#[test]
fn serve_answers_health_routes_and_404_envelopes_on_both_ports() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let hull = Hull::start_ready(&data_dir, temp.path(), "server", &[]);

    let version = hull.get(hull.api_port, "/version");
    assert_eq!((version.status, version.body.as_str()), (200, VERSION));
    assert!(version.content_type.starts_with("text/plain"), "{version:?}");
    let version = hull.get(hull.site_port, "/version");
    assert_eq!((version.status, version.body.as_str()), (200, VERSION));

    let name = hull.get(hull.api_port, "/instance_name");
    assert_eq!(name.status, 200);
    let stored = std::fs::read_to_string(data_dir.join("instance.json")).unwrap();
    assert_eq!(stored.trim(), format!(r#"{{"instanceName":"{}"}}"#, name.body));
    assert!(name.body.starts_with("hull-"), "{name:?}");

    let missing = hull.get(hull.api_port, "/no/such/path");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/json");
    assert_eq!(missing.body, r#"{"code":"NotFound","message":"No route for GET /no/such/path on this deployment."}"#);
    for path in ["/no/such/path", "/", "/api/hook"] {
        let missing = hull.get(hull.site_port, path);
        assert_eq!((missing.status, missing.body.as_str()), (404, NO_HTTP_ACTIONS), "{path}");
        assert!(missing.content_type.starts_with("text/plain"), "{missing:?}");
    }

    let expected_line = format!(
        "Hull {VERSION} listening on http://127.0.0.1:{} (API) and http://127.0.0.1:{} (HTTP actions), data in {}",
        hull.api_port,
        hull.site_port,
        data_dir.display()
    );
    assert!(hull.stderr().contains(&expected_line), "stderr:\n{}", hull.stderr());
    assert!(data_dir.join("db.sqlite3").is_file());
}

#[test]
fn instance_name_is_stable_across_a_graceful_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");

    let mut first = Hull::start_ready(&data_dir, temp.path(), "first", &[]);
    let name = first.get(first.api_port, "/instance_name").body;
    let status = first.terminate();
    assert!(status.success(), "SIGTERM ends hull cleanly, got {status}; stderr:\n{}", first.stderr());
    assert!(first.stderr().contains("received SIGTERM, shutting down"), "stderr:\n{}", first.stderr());
    assert!(first.stderr().contains("Hull stopped"), "stderr:\n{}", first.stderr());

    let second = Hull::start_ready(&data_dir, temp.path(), "second", &[]);
    assert_eq!(second.get(second.api_port, "/instance_name").body, name);
}

#[test]
fn instance_name_flag_overrides_without_changing_the_stored_name() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut generated = Hull::start_ready(&data_dir, temp.path(), "generated", &[]);
    let stored = generated.get(generated.api_port, "/instance_name").body;
    assert!(generated.terminate().success());

    let mut named = Hull::start_ready(&data_dir, temp.path(), "named", &["--instance-name", "my-app"]);
    assert_eq!(named.get(named.api_port, "/instance_name").body, "my-app");
    assert!(named.terminate().success());

    let again = Hull::start_ready(&data_dir, temp.path(), "again", &[]);
    assert_eq!(again.get(again.api_port, "/instance_name").body, stored);
}

#[test]
fn a_second_server_on_the_same_data_dir_fails_fast_with_the_in_use_error() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let first = Hull::start_ready(&data_dir, temp.path(), "first", &[]);

    let mut second = Hull::start(&data_dir, temp.path(), "second", &[]);
    let status = second.wait_exit();
    let stderr = second.stderr();
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let error_line = stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_else(|| panic!("stderr:\n{stderr}"));
    assert!(error_line.contains("in use by another Hull process"), "{error_line}");
    assert!(error_line.contains(&format!("pid {}", first.child.id())), "{error_line}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "stderr:\n{stderr}");
    assert!(!stderr.contains("listening on"), "the second server never bound its ports:\n{stderr}");

    // The first server is unaffected.
    assert_eq!(first.get(first.api_port, "/version").body, VERSION);
}

#[test]
fn invalid_flags_fail_before_touching_the_data_dir() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut bad = Hull::start(&data_dir, temp.path(), "bad", &["--instance-name", "Not Valid"]);
    assert_eq!(bad.wait_exit().code(), Some(1));
    assert!(bad.stderr().starts_with("error: invalid instance name \"Not Valid\""), "stderr:\n{}", bad.stderr());
    assert!(!data_dir.exists());
}
