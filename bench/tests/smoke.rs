//! The end-to-end benchmark in smoke mode, so the harness cannot rot: runs the `e2e` binary
//! against the debug `hull` the suite has built, into a temporary directory, and checks the
//! shape of what it wrote. No performance thresholds: only that every workload ran and
//! answered on every system.

use std::path::Path;
use std::process::Command;

const E2E: &str = env!("CARGO_BIN_EXE_e2e");

fn hull_next_to_e2e() -> std::path::PathBuf {
    let hull = Path::new(E2E).with_file_name("hull");
    assert!(hull.exists(), "{} not found: build it (`cargo build -p hull`; the workspace test run builds it)", hull.display());
    hull
}

fn require_node_baseline() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/node_modules");
    assert!(
        modules.join("better-sqlite3").is_dir() && modules.join("ws").is_dir(),
        "the Node baseline's packages are missing from {}: run scripts/setup.sh",
        modules.display()
    );
    let convex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../npm/node_modules/convex/package.json");
    assert!(convex.is_file(), "the pinned convex CLI is missing from npm/node_modules: run scripts/setup.sh");
}

#[test]
fn smoke_run_writes_a_report_with_every_workload_on_every_system() {
    require_node_baseline();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(E2E)
        .args(["--smoke", "--hull"])
        .arg(hull_next_to_e2e())
        .arg("--out")
        .arg(out.path())
        .env_remove("HULL_E2E_OUT")
        .output()
        .unwrap();
    assert!(output.status.success(), "e2e --smoke failed ({}):\nstdout:\n{}\nstderr:\n{}", output.status, String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));

    let markdown = std::fs::read_to_string(out.path().join("latest.md")).unwrap();
    assert!(markdown.contains("## Targets"), "{markdown}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("latest.json")).unwrap()).unwrap();
    for key in ["mode", "date_utc", "machine", "config", "workloads", "contended_check", "fanout", "cold_start", "deploy", "memory", "targets"] {
        assert!(report.get(key).is_some(), "latest.json lacks {key}");
    }
    assert_eq!(report["mode"], "smoke");
    for key in ["nproc", "cpu", "kernel", "loadavg_start", "loadavg_end", "git_commit"] {
        assert!(report["machine"].get(key).is_some(), "machine lacks {key}");
    }

    let workloads = report["workloads"].as_array().unwrap();
    let ids: Vec<&str> = workloads.iter().map(|w| w["id"].as_str().unwrap()).collect();
    for prefix in ["point_read_http", "point_read_ws", "range_10", "range_100", "action", "insert", "contended"] {
        assert!(ids.iter().any(|id| id.starts_with(prefix)), "no {prefix} workload in {ids:?}");
    }
    for workload in workloads {
        let results = workload["results"].as_object().unwrap();
        let expected: &[&str] = if workload["id"].as_str().unwrap().starts_with("point_read_ws") { &["hull"] } else { &["hull", "node", "limit"] };
        for system in expected {
            let stats = &results[*system];
            assert!(stats["throughput_per_s"].as_f64().unwrap() > 0.0, "{} on {system}: no throughput: {stats}", workload["id"]);
            // A contended increment may fail legitimately (OCC retries exhausted); the final-count
            // check below covers it.
            if !workload["id"].as_str().unwrap().starts_with("contended") {
                assert_eq!(stats["errors"], 0, "{} on {system} had errors: {stats}", workload["id"]);
            }
        }
    }
    for system in ["hull", "node", "limit"] {
        assert_eq!(report["contended_check"][system]["final_count_matches"], true, "{system}: {}", report["contended_check"]);
        assert!(report["cold_start"][system]["startup_ms_median"].as_f64().unwrap() > 0.0);
        assert!(report["memory"]["bulk"][system]["documents_per_s"].as_f64().unwrap() > 0.0);
        assert!(report["memory"]["idle_connections"][system]["rss_connected_kib"].as_u64().unwrap() > 0);
        let fanout = &report["fanout"][0]["results"][system];
        assert!(fanout["last_subscriber_ms"]["p50"].as_f64().unwrap() > 0.0, "{system}: {fanout}");
    }
    assert!(report["deploy"]["generated_project"]["first_deploy_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["targets"].as_array().unwrap().len(), 7);
}
