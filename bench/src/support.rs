//! What the benchmark programs share: the repository's paths, free ports, starting `hull serve`
//! and waiting for it, the admin key, the real `convex` CLI, process RSS, the open-file limit
//! and the machine's description.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first request (a debug build on a loaded machine).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The repository's root (the benches read fixtures and `npm/` from it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ is inside the repository").to_path_buf()
}

/// The `hull` binary next to the running bench binary (for `cargo build --release`, the release
/// one); `what` is the command that builds both (named in the failure).
pub fn hull_binary(what: &str) -> PathBuf {
    let path = std::env::current_exe().expect("the bench binary's path").with_file_name("hull");
    assert!(path.exists(), "{} not found: build it with `cargo build --release -p hull` ({what} does)", path.display());
    path
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port").local_addr().expect("its address").port()
}

/// Raises this process's open-file soft limit to its hard limit (children inherit it): 10,000
/// sockets on each side need more than the usual 1,024. Returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    limit.rlim_cur
}

/// Resident set size of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in KiB")
}

/// `/proc/loadavg`, trimmed.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "unavailable".into())
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown".into())
}

/// A command's trimmed stdout when it succeeds.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Whether `GET path` on the loopback `port` answers 200 (one fresh connection).
pub fn answers_200(port: u16, path: &str) -> bool {
    let address = (Ipv4Addr::LOCALHOST, port).into();
    let Ok(mut stream) = TcpStream::connect_timeout(&address, PROBE_TIMEOUT) else { return false };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    stream.write_all(request.as_bytes()).is_ok() && stream.read_to_end(&mut response).is_ok() && response.starts_with(b"HTTP/1.1 200")
}

/// A child process killed and reaped on drop.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `GET path` on `port` every `poll` until it answers 200; the time that took, counted
/// from `started`. Panics when the child exits or `STARTUP_TIMEOUT` passes.
pub fn wait_healthy(child: &mut ChildGuard, port: u16, path: &str, started: Instant, poll: Duration) -> Duration {
    loop {
        if answers_200(port, path) {
            return started.elapsed();
        }
        if let Some(status) = child.0.try_wait().expect("poll the child") {
            panic!("the server on port {port} exited before answering: {status}");
        }
        assert!(started.elapsed() < STARTUP_TIMEOUT, "the server on port {port} did not answer GET {path} in {STARTUP_TIMEOUT:?}");
        std::thread::sleep(poll);
    }
}

/// A running `hull serve` (killed on drop).
pub struct HullServer {
    /// The process.
    pub child: ChildGuard,
    /// The API port (queries, mutations, sync WebSocket).
    pub port: u16,
    /// The HTTP actions port.
    pub site_port: u16,
    /// Process start to the first `GET /version` answered.
    pub startup: Duration,
}

impl HullServer {
    /// Starts `hull serve` on `data_dir` and free ports and waits until `GET /version` answers.
    /// Its output goes to `log` when given, else nowhere.
    pub fn start(hull: &Path, data_dir: &Path, log: Option<&Path>) -> HullServer {
        let (port, site_port) = (free_port(), free_port());
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("create the server log")),
            None => Stdio::null(),
        };
        let started = Instant::now();
        let child = Command::new(hull)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--port", &port.to_string(), "--site-port", &site_port.to_string()])
            .env_remove("HULL_INSTANCE_NAME")
            .env_remove("HULL_INSTANCE_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn hull serve");
        let mut child = ChildGuard(child);
        let startup = wait_healthy(&mut child, port, "/version", started, Duration::from_millis(1));
        HullServer { child, port, site_port, startup }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The admin key of the deployment in `data_dir` (`hull admin-key`; creates its identity).
pub fn admin_key(hull: &Path, data_dir: &Path) -> String {
    let output = Command::new(hull).arg("admin-key").arg("--data-dir").arg(data_dir).output().expect("run hull admin-key");
    assert!(output.status.success(), "hull admin-key failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("the admin key is text").trim().to_owned()
}

/// The pinned `convex` CLI (`npm/node_modules`, installed by `scripts/setup.sh`).
pub fn convex_cli() -> PathBuf {
    let cli = repo_root().join("npm/node_modules/.bin/convex");
    assert!(cli.exists(), "{} is missing: run scripts/setup.sh", cli.display());
    cli
}

/// Makes `project` resolve `convex` from the pinned `npm/node_modules`.
pub fn link_node_modules(project: &Path) {
    std::os::unix::fs::symlink(repo_root().join("npm/node_modules"), project.join("node_modules")).expect("link node_modules");
}

/// Runs the real CLI in `project` against a self-hosted deployment (`CONVEX_SELF_HOSTED_URL`,
/// `CONVEX_SELF_HOSTED_ADMIN_KEY`); panics with its output when it fails. Returns the time taken.
pub fn run_convex(project: &Path, url: &str, admin_key: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(convex_cli())
        .args(args)
        .current_dir(project)
        .env_remove("CONVEX_DEPLOYMENT")
        .env_remove("CONVEX_DEPLOY_KEY")
        .env("CONVEX_SELF_HOSTED_URL", url)
        .env("CONVEX_SELF_HOSTED_ADMIN_KEY", admin_key)
        .stdin(Stdio::null())
        .output()
        .expect("run the convex CLI");
    assert!(
        output.status.success(),
        "convex {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// `npx convex deploy` without type checking (the benchmarks time the server, not `tsc`).
pub const DEPLOY_ARGS: [&str; 6] = ["deploy", "-y", "--typecheck", "disable", "--codegen", "enable"];

/// Writes a project of `modules` modules into `dir`, each with a query and a mutation on one
/// indexed table, resolving `convex` from `npm/node_modules`.
pub fn write_module_project(dir: &Path, modules: usize) {
    let convex = dir.join("convex");
    std::fs::create_dir_all(&convex).expect("create the project");
    std::fs::write(dir.join("package.json"), r#"{"name":"bench-project","private":true,"type":"module","dependencies":{"convex":"1.48.0"}}"#)
        .expect("write package.json");
    link_node_modules(dir);
    std::fs::write(
        convex.join("schema.ts"),
        "import { defineSchema, defineTable } from \"convex/server\";\nimport { v } from \"convex/values\";\nexport default defineSchema({ items: defineTable({ module: v.number(), n: v.number() }).index(\"by_module\", [\"module\", \"n\"]) });\n",
    )
    .expect("write schema.ts");
    for m in 0..modules {
        std::fs::write(
            convex.join(format!("module{m}.ts")),
            format!(
                "import {{ query, mutation }} from \"./_generated/server\";\nimport {{ v }} from \"convex/values\";\n\
                 export const get = query({{ args: {{}}, handler: async (ctx) => await ctx.db.query(\"items\").withIndex(\"by_module\", (q) => q.eq(\"module\", {m})).take(10) }});\n\
                 export const add = mutation({{ args: {{ n: v.number() }}, handler: async (ctx, {{ n }}) => await ctx.db.insert(\"items\", {{ module: {m}, n }}) }});\n"
            ),
        )
        .expect("write a module");
    }
}

/// Copies the directory tree `from` to `to` (regular files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// The file system type `df -T` reports for `dir`.
pub fn filesystem_of(dir: &Path) -> String {
    command_output("df", &["-T", &dir.display().to_string()])
        .and_then(|out| out.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
