//! The scheduler and crons end to end: the real Convex CLI deploys a copy of the hull-js
//! fixture project `scheduler` to a `hull serve` child; the real `ConvexHttpClient`
//! (`tests/js/scheduler_client.cjs`) schedules, cancels, chains and watches the every-second
//! cron. Then `hull serve` is killed with SIGKILL while hundreds of scheduled mutations and a
//! slow action run, and restarted: every mutation ran exactly once, the interrupted action is
//! failed and not re-run, a job that fell due while the server was down runs once. Last, a
//! redeploy with the CLI changes the crons.
//!
//! Node.js is required: without it this test fails, saying so.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::{convex, hull, project, require_node, run_node_script_with_args, serve, try_http, Server};

/// Bound on waiting for the scheduler to finish work it should do promptly.
const PATIENCE: Duration = Duration::from_secs(60);
/// Scheduled mutations in flight when the server is killed.
const CRASH_JOBS: usize = 300;

/// Calls a public function over the HTTP API; returns its value.
fn call(server: &Server, kind: &str, path: &str, args: Json) -> Json {
    let body = json!({"path": path, "args": args, "format": "json"}).to_string();
    let (status, answer) = try_http(server.port, "POST", &format!("/api/{kind}"), &[("Content-Type", "application/json")], body).expect("the server answers");
    let answer: Json = serde_json::from_str(&answer).unwrap_or(Json::String(answer));
    assert!(status == 200 && answer["status"] == "success", "{kind} {path} failed ({status}): {answer}");
    answer["value"].clone()
}

fn events(server: &Server, kind: &str) -> Vec<Json> {
    call(server, "query", "jobs:events", json!({"kind": kind})).as_array().unwrap().clone()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `npx convex deploy -y` of `project` to `server` with the pinned CLI; returns its output.
fn deploy(project: &Path, server: &Server, key: &str) -> String {
    let (ok, text) = convex(project, server, key, &["deploy", "-y", "--typecheck", "disable"]);
    assert!(ok, "deploy failed:\n{text}\nserver:\n{}", server.stderr());
    text
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

#[test]
fn scheduled_functions_and_crons_with_the_real_cli_and_client_survive_sigkill() {
    require_node();
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let key = String::from_utf8(hull(&["admin-key", "--data-dir", data_dir.to_str().unwrap()]).stdout).unwrap().trim().to_owned();
    let first_logs = temp.path().join("first");
    std::fs::create_dir_all(&first_logs).unwrap();
    let mut server = serve(&data_dir, &first_logs, &[]);
    let project = project("scheduler", temp.path());
    deploy(&project, &server, &key);

    // 1. The real client.
    run_node_script_with_args("scheduler_client.cjs", &[&server.url(), &key], &server);

    // 2. SIGKILL while scheduled work runs: a slow action, hundreds of mutations, and a job
    //    that falls due while the server is down.
    let slow = call(&server, "mutation", "jobs:scheduleSlowAction", json!({"kind": "slow", "ms": 4000}));
    wait_until("the slow action to start", || !events(&server, "slow started").is_empty());
    let later = call(&server, "mutation", "jobs:scheduleAfter", json!({"delayMs": 1500, "kind": "due while down"}));
    call(&server, "mutation", "jobs:scheduleMany", json!({"count": CRASH_JOBS, "at": now_ms(), "kind": "crash"}));
    wait_until("some crash jobs to run", || !events(&server, "crash").is_empty());
    let ran_before_kill = events(&server, "crash").len();
    server.kill();
    eprintln!("{ran_before_kill} of {CRASH_JOBS} crash jobs had run when hull serve was killed");
    std::thread::sleep(Duration::from_millis(1600));

    let second_logs = temp.path().join("second");
    std::fs::create_dir_all(&second_logs).unwrap();
    let server = serve(&data_dir, &second_logs, &[]);
    wait_until("every crash job to run", || events(&server, "crash").len() >= CRASH_JOBS);
    std::thread::sleep(Duration::from_millis(500));
    let crash = events(&server, "crash");
    let numbers: BTreeSet<u64> = crash.iter().map(|e| e["n"].as_f64().unwrap() as u64).collect();
    assert_eq!(crash.len(), CRASH_JOBS, "a scheduled mutation ran twice ({ran_before_kill} had run before the kill)");
    assert_eq!(numbers, (0..CRASH_JOBS as u64).collect(), "a scheduled mutation was lost");
    let slow_job = call(&server, "query", "jobs:job", json!({"id": slow}));
    assert_eq!(slow_job["state"], json!({"kind": "failed", "error": "Transient error while executing action"}));
    wait_until("the job due while down", || events(&server, "due while down").len() == 1);
    assert_eq!(call(&server, "query", "jobs:job", json!({"id": later}))["state"]["kind"], "success");
    std::thread::sleep(Duration::from_millis(4000));
    assert!(events(&server, "slow finished").is_empty(), "the interrupted action ran again");
    assert_eq!(events(&server, "slow started").len(), 1, "the interrupted action ran again");

    // 3. A redeploy changes the crons: "tick" slows to an hour, "tock" is new.
    let crons = project.join("convex/crons.ts");
    let text = std::fs::read_to_string(&crons).unwrap().replace(
        r#"crons.interval("tick", { seconds: 1 }, internal.jobs.log, { kind: "tick" });"#,
        r#"crons.interval("tick", { hours: 1 }, internal.jobs.log, { kind: "tick" });
crons.interval("tock", { seconds: 1 }, internal.jobs.log, { kind: "tock" });"#,
    );
    std::fs::write(&crons, text).unwrap();
    deploy(&project, &server, &key);
    let ticks = events(&server, "tick").len();
    wait_until("the new cron to fire twice", || events(&server, "tock").len() >= 2);
    assert!(events(&server, "tick").len() <= ticks + 1, "the slowed cron kept firing");
    let stored = call(&server, "query", "jobs:jobs", json!({}));
    assert!(stored.as_array().unwrap().iter().any(|j| j["args"] == json!([{"kind": "tock"}])));
}
