//! `deploy_http`: deploy time of a 20-module project with the real `convex` CLI, and HTTP
//! function-call round trips on loopback, against a release `hull serve`.
//!
//!     ./scripts/bench.sh deploy        (builds hull and this program in release first)
//!
//! Baselines from the same run: the deploy is compared with `npx convex codegen` on the same
//! project (the CLI's own bundling work, no server), and a query round trip with `GET /version`
//! (the HTTP stack without running a function). Results go to `bench/results/deploy_http.json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use hull_bench::support::{self, HullServer};
use hull_bench::{hull_binary, repo_root};

const MODULES: usize = 20;
const DEPLOY_REPS: usize = 3;
const ROUND_TRIPS: usize = 2000;

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
    support::write_module_project(&project, MODULES);
    let data = dir.path().join("data");
    let hull = hull_binary("./scripts/bench.sh deploy");
    let key = support::admin_key(&hull, &data);
    let server = HullServer::start(&hull, &data, None);
    let (port, url) = (server.port, server.url());
    let deploy_args = support::DEPLOY_ARGS;
    let loadavg_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first = support::run_convex(&project, &url, &key, &deploy_args);
    let mut redeploys = Vec::new();
    let mut codegens = Vec::new();
    for rep in 0..DEPLOY_REPS {
        // Change one module so every redeploy pushes something.
        let module = project.join("convex/module0.ts");
        let mut source = std::fs::read_to_string(&module).unwrap();
        source.push_str(&format!("\nexport const marker{rep} = query({{ args: {{}}, handler: async () => {rep} }});\n"));
        std::fs::write(&module, source).unwrap();
        redeploys.push(support::run_convex(&project, &url, &key, &deploy_args));
        codegens.push(support::run_convex(&project, &url, &key, &["codegen", "--typecheck", "disable"]));
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
