//! The results: `latest.md` (tables, targets) and its JSON twin `latest.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use super::{Config, System, Workload};
use crate::support;

/// Everything one run measured, with the machine it ran on.
pub struct Report {
    config: Config,
    started: Instant,
    date_utc: String,
    machine: BTreeMap<&'static str, Value>,
    /// Per system: process start to healthy on an empty store, idle RSS.
    pub cold_start: BTreeMap<System, Value>,
    /// Deploy of the generated multi-module project.
    pub deploy: Value,
    /// Deploy of the benchmark project with the real CLI.
    pub bench_project_deploy_s: Option<f64>,
    /// Hull's RSS with the benchmark project deployed, before any load.
    pub memory_idle_deployed_kib: Option<u64>,
    /// Per system: seconds to seed the documents.
    pub seed_s: BTreeMap<System, f64>,
    /// The throughput workloads.
    pub workloads: Vec<Workload>,
    /// Per system: the contended counter's final-count check.
    pub contended_check: BTreeMap<System, Value>,
    /// Per subscriber count, per system.
    pub fanout: Vec<(usize, BTreeMap<System, Value>)>,
    /// Per system: RSS with idle WebSocket connections.
    pub idle_connections: BTreeMap<System, Value>,
    /// Per system: the bulk load and RSS after it.
    pub bulk: BTreeMap<System, Value>,
}

fn git(args: &[&str]) -> Option<String> {
    let mut all = vec!["-C", env!("CARGO_MANIFEST_DIR")];
    all.extend_from_slice(args);
    support::command_output("git", &all)
}

impl Report {
    /// Records the machine and the start of the run.
    pub fn begin(config: &Config, scratch: &Path, fd_limit: u64) -> Report {
        let machine = BTreeMap::from([
            ("nproc", json!(std::thread::available_parallelism().map_or(0, |n| n.get()))),
            ("cpu", json!(support::cpu_model())),
            ("kernel", json!(std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).ok())),
            ("memory_total", json!(std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| m.lines().next().map(str::to_owned)))),
            ("scratch_filesystem", json!(support::filesystem_of(scratch))),
            ("loadavg_start", json!(support::loadavg())),
            ("open_file_limit", json!(fd_limit)),
            ("node", json!(support::command_output("node", &["--version"]))),
            ("sqlite", json!(rusqlite::version())),
            ("git_commit", json!(git(&["rev-parse", "HEAD"]))),
            ("git_describe", json!(git(&["describe", "--always", "--dirty"]))),
            ("build_s", json!(std::env::var("HULL_E2E_BUILD_S").ok().and_then(|s| s.parse::<f64>().ok()))),
            ("note", json!("load generator and servers share the same cores; one system is loaded at a time while the others idle")),
        ]);
        Report {
            config: config.clone(),
            started: Instant::now(),
            date_utc: crate::utc_now(),
            machine,
            cold_start: BTreeMap::new(),
            deploy: Value::Null,
            bench_project_deploy_s: None,
            memory_idle_deployed_kib: None,
            seed_s: BTreeMap::new(),
            workloads: Vec::new(),
            contended_check: BTreeMap::new(),
            fanout: Vec::new(),
            idle_connections: BTreeMap::new(),
            bulk: BTreeMap::new(),
        }
    }

    /// Records the end of the run.
    pub fn finish(&mut self) {
        self.machine.insert("loadavg_end", json!(support::loadavg()));
        self.machine.insert("harness_wall_s", json!(self.started.elapsed().as_secs_f64()));
    }

    fn workload(&self, id: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.id == id)
    }

    /// Throughput ratio of Hull to `other` in workload `id`.
    fn ratio(&self, id: &str, other: System) -> Option<f64> {
        let w = self.workload(id)?;
        Some(w.results.get(&System::Hull)?.throughput() / w.results.get(&other)?.throughput())
    }

    fn largest_fanout_p99_ms(&self) -> Option<(usize, f64)> {
        let (subscribers, results) = self.fanout.last()?;
        Some((*subscribers, results.get(&System::Hull)?["last_subscriber_ms"]["p99"].as_f64()?))
    }

    /// The targets: (target, measured, met).
    pub fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let most_readers = self.config.read_clients.iter().max().copied().unwrap_or(1);
        let most_writers = self.config.insert_clients.iter().max().copied().unwrap_or(1);
        let reads = format!("point_read_http_c{most_readers}");
        let inserts = format!("insert_c{most_writers}");
        let mut targets = Vec::new();
        let mut ratio_target = |name: String, id: &str, other: System, at_least: f64| {
            let ratio = self.ratio(id, other);
            targets.push((name, ratio.map_or("n/a".into(), |r| format!("{r:.2}x")), ratio.map(|r| r >= at_least)));
        };
        ratio_target(format!("HTTP point-read throughput >= 2x Node ({most_readers} clients)"), &reads, System::Node, 2.0);
        ratio_target(format!("HTTP point-read throughput >= 50% of the limit ({most_readers} clients)"), &reads, System::Limit, 0.5);
        ratio_target(format!("durable insert throughput >= 2x Node ({most_writers} clients)"), &inserts, System::Node, 2.0);
        let p50 = self.workload("point_read_http_c1").and_then(|w| w.results.get(&System::Hull)).map(|s| s.p50_us);
        targets.push(("p50 point-read latency < 1 ms (HTTP, 1 client)".into(), p50.map_or("n/a".into(), |p| format!("{:.3} ms", p / 1e3)), p50.map(|p| p < 1000.0)));
        let fanout = self.largest_fanout_p99_ms();
        targets.push((
            match fanout.map(|f| f.0) {
                Some(10_000) => "fan-out to 10,000 subscribers p99 < 250 ms".to_owned(),
                other => format!("fan-out p99 < 250 ms ({} subscribers; the target is for 10,000)", other.unwrap_or(0)),
            },
            fanout.map_or("n/a".into(), |f| format!("{:.1} ms", f.1)),
            fanout.map(|f| f.1 < 250.0),
        ));
        let cold = self.cold_start.get(&System::Hull).and_then(|c| c["startup_ms_median"].as_f64());
        targets.push(("cold start < 100 ms, empty store".into(), cold.map_or("n/a".into(), |c| format!("{c:.1} ms")), cold.map(|c| c < 100.0)));
        let idle = self.memory_idle_deployed_kib.map(|k| k as f64 / 1024.0);
        targets.push(("idle RSS < 40 MB (benchmark project deployed, no load)".into(), idle.map_or("n/a".into(), |m| format!("{m:.1} MiB")), idle.map(|m| m < 40.0)));
        targets
    }

    /// The JSON twin of the Markdown report.
    pub fn to_json(&self) -> Value {
        let per_system = |map: &BTreeMap<System, Value>| map.iter().map(|(s, v)| (s.name().to_owned(), v.clone())).collect::<serde_json::Map<_, _>>();
        let workloads: Vec<Value> = self
            .workloads
            .iter()
            .map(|w| {
                let results: serde_json::Map<_, _> = w.results.iter().map(|(s, stats)| (s.name().to_owned(), stats.to_json())).collect();
                json!({"id": w.id, "title": w.title, "clients": w.clients, "results": results,
                    "ratios": {"hull_over_node": self.ratio(&w.id, System::Node), "hull_over_limit": self.ratio(&w.id, System::Limit)}})
            })
            .collect();
        let targets: Vec<Value> = self.targets().into_iter().map(|(t, v, met)| json!({"target": t, "measured": v, "met": met})).collect();
        json!({
            "mode": self.config.mode,
            "date_utc": self.date_utc,
            "machine": self.machine,
            "config": self.config.to_json(),
            "workloads": workloads,
            "contended_check": per_system(&self.contended_check),
            "fanout": self.fanout.iter().map(|(n, r)| json!({"subscribers": n, "results": per_system(r)})).collect::<Vec<_>>(),
            "cold_start": per_system(&self.cold_start),
            "deploy": {"generated_project": self.deploy, "bench_project_s": self.bench_project_deploy_s},
            "seed_s": self.seed_s.iter().map(|(s, v)| (s.name().to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "memory": {"hull_idle_deployed_kib": self.memory_idle_deployed_kib, "idle_connections": per_system(&self.idle_connections), "bulk": per_system(&self.bulk)},
            "targets": targets,
        })
    }

    /// Writes `latest.md` and `latest.json` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let (markdown, json) = (dir.join("latest.md"), dir.join("latest.json"));
        std::fs::write(&markdown, self.to_markdown())?;
        std::fs::write(&json, serde_json::to_string_pretty(&self.to_json()).expect("serialize the report") + "\n")?;
        Ok((markdown, json))
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("–".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn cell_throughput(w: &Workload, system: System) -> String {
    w.results.get(&system).map_or("–".into(), |s| {
        let errors = if s.errors > 0 { format!(" ({} errors)", s.errors) } else { String::new() };
        format!("{:.0}/s · {:.2} / {:.2} ms{errors}", s.throughput(), s.p50_us / 1e3, s.p99_us / 1e3)
    })
}

fn ratio_cell(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |r| format!("{r:.2}x"))
}

impl Report {
    /// The Markdown report.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let m = |key: &str| self.machine.get(key).map_or("?".into(), |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        let _ = writeln!(out, "# Hull end-to-end benchmark ({} run)\n", self.config.mode);
        let _ = writeln!(out, "{} · commit `{}` · {} × {} · kernel {} · scratch fs {} · node {} · SQLite {}\n", self.date_utc, m("git_describe"), m("nproc"), m("cpu"), m("kernel"), m("scratch_filesystem"), m("node"), m("sqlite"));
        let _ = writeln!(out, "Load average: start `{}`, end `{}`. Harness wall time {:.0} s; {}.\n", m("loadavg_start"), m("loadavg_end"), self.machine.get("harness_wall_s").and_then(Value::as_f64).unwrap_or(0.0), self.machine.get("build_s").and_then(Value::as_f64).map_or("build time not measured (run through scripts/bench.sh e2e)".into(), |b| format!("the release build before it took {b:.0} s")));
        let _ = writeln!(out, "Hull = `hull serve` with `bench/project` deployed by the real `convex` CLI, called like ConvexHttpClient (`POST /api/query|mutation|action`) or ConvexClient (sync WebSocket). Node = `bench/node/server.mjs` (node:http + better-sqlite3, one transaction per request, ws broadcast). Limit = `limit_server` (axum + rusqlite, group commit, no function runtime). All use SQLite in WAL mode with `synchronous=FULL` on the same disk. The load generator (Rust, tokio, one keep-alive connection per client) runs on the same {} cores as the servers, so absolute numbers understate a dedicated server; ratios compare like with like. {} documents `{{k, payload ~100 B}}` seeded into each; windows of {:.1} s after {:.1} s warm-up.\n", m("nproc"), self.config.seed_documents, self.config.window.as_secs_f64(), self.config.warmup.as_secs_f64());

        let _ = writeln!(out, "## Targets\n\n| target | measured | |\n|---|---|---|");
        for (target, measured, met) in self.targets() {
            let verdict = match met { Some(true) => "met", Some(false) => "**MISSED**", None => "not measured" };
            let _ = writeln!(out, "| {target} | {measured} | {verdict} |");
        }

        let _ = writeln!(out, "\n## Requests (throughput · p50 / p99 latency)\n\n| workload | Hull | Node | Limit | Hull/Node | Hull/Limit |\n|---|---|---|---|---|---|");
        for w in &self.workloads {
            let _ = writeln!(out, "| {} | {} | {} | {} | {} | {} |", w.title, cell_throughput(w, System::Hull), cell_throughput(w, System::Node), cell_throughput(w, System::Limit), ratio_cell(self.ratio(&w.id, System::Node)), ratio_cell(self.ratio(&w.id, System::Limit)));
        }
        let _ = writeln!(out, "\nThe WebSocket point read is Hull only (the baselines have no query protocol): per read the client sends `ModifyQuerySet` Add, waits for the `Transition` with the result, then sends Remove, as `ConvexClient.query` does. The action row is Hull's action calling `ctx.runQuery` + `ctx.runMutation` against the baselines' read + insert in one request.\n");
        let _ = writeln!(out, "Contended counter, final count equals acknowledged increments:");
        for (system, check) in &self.contended_check {
            let _ = writeln!(out, "- {}: {} (before {}, after {}, acknowledged {})", system.name(), if check["final_count_matches"] == true { "yes" } else { "**NO**" }, check["counter_before"], check["counter_after"], check["acknowledged_increments"]);
        }

        let _ = writeln!(out, "\n## Subscription fan-out (increment sent → last subscriber has the new value)\n\n| subscribers | system | p50 | p99 | after write ack p50 | median subscriber p50 | connect + first value | server RSS subscribed |\n|---|---|---|---|---|---|---|---|");
        for (subscribers, results) in &self.fanout {
            for (system, r) in results {
                let _ = writeln!(out, "| {subscribers} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} s | {} |", system.name(), r["last_subscriber_ms"]["p50"].as_f64().unwrap_or(f64::NAN), r["last_subscriber_ms"]["p99"].as_f64().unwrap_or(f64::NAN), r["last_subscriber_after_write_ack_ms"]["p50"].as_f64().unwrap_or(f64::NAN), r["median_subscriber_ms_p50"].as_f64().unwrap_or(f64::NAN), r["connect_and_first_value_s"].as_f64().unwrap_or(f64::NAN), mib(r["server_rss_kib"]["subscribed"].as_u64()));
            }
        }
        let _ = writeln!(out, "\nHull's subscribers speak the sync protocol (Connect, Add `bench:counter`); the baselines' hold a plain `ws` connection and get the new value pushed after each write. p99 over {} rounds is close to the maximum.", self.config.fanout_rounds);

        let _ = writeln!(out, "\n## Start, deploy, memory\n\n| | Hull | Node | Limit |\n|---|---|---|---|");
        let row = |out: &mut String, label: &str, f: &dyn Fn(System) -> String| {
            let _ = writeln!(out, "| {label} | {} | {} | {} |", f(System::Hull), f(System::Node), f(System::Limit));
        };
        row(&mut out, "cold start to first healthy answer, empty store (median)", &|s| self.cold_start.get(&s).and_then(|c| c["startup_ms_median"].as_f64()).map_or("–".into(), |v| format!("{v:.1} ms")));
        row(&mut out, "idle RSS, empty store", &|s| mib(self.cold_start.get(&s).and_then(|c| c["idle_rss_empty_kib"].as_u64())));
        row(&mut out, "idle RSS, benchmark project deployed", &|s| if s == System::Hull { mib(self.memory_idle_deployed_kib) } else { "–".into() });
        row(&mut out, &format!("RSS with {} idle WebSocket connections", self.config.idle_connections), &|s| mib(self.idle_connections.get(&s).and_then(|c| c["rss_connected_kib"].as_u64())));
        row(&mut out, "… per connection", &|s| self.idle_connections.get(&s).and_then(|c| c["bytes_per_connection"].as_f64()).map_or("–".into(), |b| format!("{:.1} KiB", b / 1024.0)));
        row(&mut out, &format!("bulk load of {} documents ({} per call, {} callers)", self.config.bulk_documents, self.config.bulk_batch, self.config.bulk_clients), &|s| self.bulk.get(&s).and_then(|b| b["load_s"].as_f64()).map_or("–".into(), |v| format!("{v:.1} s")));
        row(&mut out, "RSS after the bulk load", &|s| mib(self.bulk.get(&s).and_then(|b| b["rss_after_kib"].as_u64())));
        row(&mut out, &format!("seeding {} documents", self.config.seed_documents), &|s| self.seed_s.get(&s).map_or("–".into(), |v| format!("{v:.2} s")));
        let deploy = |key: &str| self.deploy[key].as_f64().map_or("–".into(), |v| format!("{v:.2} s"));
        let _ = writeln!(out, "\nDeploy with the real CLI (`npx convex deploy`, no typecheck): the benchmark project {}; a generated {}-module project: first deploy {}, redeploy after one module changed {}.", self.bench_project_deploy_s.map_or("–".into(), |v| format!("{v:.2} s")), self.config.deploy_modules, deploy("first_deploy_s"), deploy("redeploy_s"));
        out
    }
}
