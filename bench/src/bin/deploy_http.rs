//! `deploy_http`: deploy time of a 20-module project with the real `convex` CLI, and HTTP
//! function-call round trips on loopback, against a release `hull serve`.
//!
//!     ./scripts/bench.sh deploy        (builds hull and this program in release first)
//!
//! Baselines from the same run: the deploy is compared with `npx convex codegen` on the same
//! project (the CLI's own bundling work, no server), and a query round trip with `GET /version`
//! (the HTTP stack without running a function). Results go to `bench/results/deploy_http.json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hull_bench::{hull_binary, repo_root};

const MODULES: usize = 20;
const DEPLOY_REPS: usize = 3;
const ROUND_TRIPS: usize = 2000;

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// A project of `MODULES` modules, each with a query and a mutation on one indexed table.
fn write_project(dir: &Path) {
    let convex = dir.join("convex");
    std::fs::create_dir_all(&convex).unwrap();
    std::fs::write(dir.join("package.json"), r#"{"name":"bench-project","private":true,"type":"module","dependencies":{"convex":"1.48.0"}}"#).unwrap();
    std::os::unix::fs::symlink(repo_root().join("npm/node_modules"), dir.join("node_modules")).unwrap();
    std::fs::write(
        convex.join("schema.ts"),
        "import { defineSchema, defineTable } from \"convex/server\";\nimport { v } from \"convex/values\";\nexport default defineSchema({ items: defineTable({ module: v.number(), n: v.number() }).index(\"by_module\", [\"module\", \"n\"]) });\n",
    )
    .unwrap();
    for m in 0..MODULES {
        std::fs::write(
            convex.join(format!("module{m}.ts")),
            format!(
                "import {{ query, mutation }} from \"./_generated/server\";\nimport {{ v }} from \"convex/values\";\n\
                 export const get = query({{ args: {{}}, handler: async (ctx) => await ctx.db.query(\"items\").withIndex(\"by_module\", (q) => q.eq(\"module\", {m})).take(10) }});\n\
                 export const add = mutation({{ args: {{ n: v.number() }}, handler: async (ctx, {{ n }}) => await ctx.db.insert(\"items\", {{ module: {m}, n }}) }});\n"
            ),
        )
        .unwrap();
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn convex_cli(project: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(repo_root().join("npm/node_modules/.bin/convex"))
        .args(args)
        .current_dir(project)
        .env_remove("CONVEX_DEPLOYMENT")
        .env_remove("CONVEX_SELF_HOSTED_URL")
        .env_remove("CONVEX_SELF_HOSTED_ADMIN_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "convex {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

/// One request on a keep-alive connection; returns the status.
fn request(stream: &mut BufReader<TcpStream>, head: &str, body: &str) -> u16 {
    stream.get_mut().write_all(format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).unwrap();
    let mut status_line = String::new();
    stream.read_line(&mut status_line).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    status_line[9..12].parse().unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

fn round_trips(port: u16, head: &str, body: &str) -> (f64, f64) {
    let mut stream = BufReader::new(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap());
    stream.get_mut().set_nodelay(true).unwrap();
    for _ in 0..100 {
        assert_eq!(request(&mut stream, head, body), 200);
    }
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        assert_eq!(request(&mut stream, head, body), 200);
        samples.push(started.elapsed());
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn median(mut values: Vec<Duration>) -> f64 {
    values.sort();
    values[values.len() / 2].as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    write_project(&project);
    let data = dir.path().join("data");
    let key = String::from_utf8(Command::new(hull_binary("./scripts/bench.sh deploy")).args(["admin-key", "--data-dir", data.to_str().unwrap()]).output().unwrap().stdout).unwrap();
    let key = key.trim().to_owned();
    let (port, site_port) = (free_port(), free_port());
    let _server = Server(
        Command::new(hull_binary("./scripts/bench.sh deploy"))
            .args(["serve", "--data-dir", data.to_str().unwrap(), "--port", &port.to_string(), "--site-port", &site_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "hull serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://127.0.0.1:{port}");
    let deploy_args = ["deploy", "-y", "--typecheck", "disable", "--codegen", "enable", "--url", &url, "--admin-key", &key];
    let loadavg_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first = convex_cli(&project, &deploy_args);
    let mut redeploys = Vec::new();
    let mut codegens = Vec::new();
    for rep in 0..DEPLOY_REPS {
        // Change one module so every redeploy pushes something.
        let module = project.join("convex/module0.ts");
        let mut source = std::fs::read_to_string(&module).unwrap();
        source.push_str(&format!("\nexport const marker{rep} = query({{ args: {{}}, handler: async () => {rep} }});\n"));
        std::fs::write(&module, source).unwrap();
        redeploys.push(convex_cli(&project, &deploy_args));
        codegens.push(convex_cli(&project, &["codegen", "--typecheck", "disable", "--url", &url, "--admin-key", &key]));
    }
    let query_head = format!("POST /api/query HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n");
    let query_body = r#"{"path":"module3:get","args":{},"format":"json"}"#;
    let (query_p50, query_p99) = round_trips(port, &query_head, query_body);
    let version_head = format!("GET /version HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    let (version_p50, version_p99) = round_trips(port, &version_head, "");
    let loadavg_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let report = serde_json::json!({
        "modules": MODULES,
        "first_deploy_s": first.as_secs_f64(),
        "redeploy_median_s": median(redeploys),
        "codegen_median_s": median(codegens),
        "query_round_trip_us": {"p50": query_p50, "p99": query_p99},
        "version_round_trip_us": {"p50": version_p50, "p99": version_p99},
        "loadavg_start": loadavg_start.trim(),
        "loadavg_end": loadavg_end.trim(),
    });
    println!("deploy of a {MODULES}-module project with the real convex CLI (release hull serve, loopback):");
    println!("  first deploy            {:>8.2} s", report["first_deploy_s"].as_f64().unwrap());
    println!("  redeploy (median of {DEPLOY_REPS})   {:>8.2} s", report["redeploy_median_s"].as_f64().unwrap());
    println!("  codegen baseline        {:>8.2} s   (CLI bundling + start_push only)", report["codegen_median_s"].as_f64().unwrap());
    println!("HTTP round trips ({ROUND_TRIPS}, one keep-alive connection):");
    println!("  POST /api/query         p50 {query_p50:>8.1} µs   p99 {query_p99:>8.1} µs");
    println!("  GET /version (baseline) p50 {version_p50:>8.1} µs   p99 {version_p99:>8.1} µs   ratio p50 {:.1}x", query_p50 / version_p50);
    println!("loadavg at start: {}loadavg at end:   {}", loadavg_start, loadavg_end);
    let path = repo_root().join("bench/results/deploy_http.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", path.display());
}
