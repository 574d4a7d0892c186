//! The scheduler and crons over the real CLI bundle of hull-js's `tests/projects/scheduler`
//! (`crates/hull-js/tests/fixtures/scheduler.push.json`, read from there, never copied):
//! `runAfter`/`runAt` in the past and future, cancel, chains, failures, limits, a mutation that
//! throws after scheduling, restarts (pending jobs run once, interrupted actions fail), and
//! crons firing and changing with a redeploy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hull_app::{AppConfig, Application, CallKind, CallOutcome, Caller, FunctionPath, InstanceSecret};
use hull_db::Database;
use hull_store::MemoryPersistence;
use serde_json::{Value as Json, json};

/// Bound on waiting for something the scheduler should do promptly (debug build, loaded CI).
const PATIENCE: Duration = Duration::from_secs(20);

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/scheduler.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

fn config() -> AppConfig {
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
    config.js_workers = 2;
    config
}

fn open(persistence: &Arc<MemoryPersistence>) -> Application {
    Application::open(Database::open(persistence.clone()).unwrap(), config()).unwrap()
}

fn deployed() -> (Arc<MemoryPersistence>, Application) {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    app.deploy_push_request(&fixture()).unwrap();
    (persistence, app)
}

fn call(app: &Application, kind: CallKind, path: &str, args: Json) -> CallOutcome {
    let admin = Caller::Admin { acting_as: None };
    app.call(&admin, kind, &FunctionPath::parse(path).unwrap(), args).unwrap()
}

fn ok(outcome: CallOutcome) -> Json {
    match outcome.result {
        Ok(value) => value.to_json(),
        Err(error) => panic!("call failed: {error:?}"),
    }
}

fn error_message(outcome: CallOutcome) -> String {
    outcome.result.expect_err("expected a function error").message
}

fn mutation(app: &Application, path: &str, args: Json) -> Json {
    ok(call(app, CallKind::Mutation, path, args))
}

fn job(app: &Application, id: &Json) -> Json {
    ok(call(app, CallKind::Query, "jobs:job", json!({"id": id})))
}

fn events(app: &Application, kind: &str) -> Vec<Json> {
    ok(call(app, CallKind::Query, "jobs:events", json!({"kind": kind}))).as_array().unwrap().clone()
}

fn jobs(app: &Application) -> Vec<Json> {
    ok(call(app, CallKind::Query, "jobs:jobs", json!({}))).as_array().unwrap().clone()
}

/// The jobs other than the every-second "tick" cron's, which can land at any moment.
fn jobs_but_ticks(app: &Application) -> Vec<Json> {
    jobs(app).into_iter().filter(|job| !job.to_string().contains(r#""tick""#)).collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the job `id` reached a terminal state, and returns it.
fn finished(app: &Application, id: &Json) -> Json {
    let mut last = Json::Null;
    wait_until(&format!("job {id} to finish"), || {
        last = job(app, id);
        !matches!(last["state"]["kind"].as_str(), Some("pending" | "inProgress"))
    });
    last
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

#[test]
fn run_after_zero_runs_once_and_the_job_reads_like_upstream() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 0, "kind": "now"}));
    let done = finished(&app, &id);
    assert_eq!(done["state"], json!({"kind": "success"}));
    assert_eq!(done["name"], "jobs.js:log");
    assert_eq!(done["args"], json!([{"kind": "now"}]));
    assert!(done["completedTime"].as_f64().unwrap() >= done["scheduledTime"].as_f64().unwrap());
    assert_eq!(done["_id"], id);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(events(&app, "now").len(), 1, "a scheduled mutation runs exactly once");
    // The job is listed through ctx.db.system.query too.
    assert!(jobs(&app).iter().any(|j| j["_id"] == id));
}

#[test]
fn run_at_in_the_past_runs_at_once_and_in_the_future_waits_for_its_time() {
    let (_, app) = deployed();
    let now = now_ms();
    let past = mutation(&app, "jobs:scheduleAt", json!({"at": now - 60_000.0, "kind": "past"}));
    let future = mutation(&app, "jobs:scheduleAt", json!({"at": now + 1500.0, "kind": "future"}));
    assert_eq!(finished(&app, &past)["state"]["kind"], "success");
    assert_eq!(job(&app, &future)["state"]["kind"], "pending", "a future job waits");
    assert_eq!(job(&app, &future)["scheduledTime"].as_f64().unwrap(), now + 1500.0);
    assert_eq!(finished(&app, &future)["state"]["kind"], "success");
    let ran = events(&app, "future");
    assert_eq!(ran.len(), 1);
    // `_creationTime` is the wall clock when the job's mutation wrote (its `Date.now()` is the
    // snapshot's time, which may be older).
    assert!(ran[0]["_creationTime"].as_f64().unwrap() >= now + 1500.0, "ran before its time: {ran:?}");
    // Far outside five years either way is refused.
    let refused = call(&app, CallKind::Mutation, "jobs:scheduleAt", json!({"at": now + 6.0 * 365.0 * 86_400_000.0, "kind": "x"}));
    assert!(error_message(refused).contains("more than five years"));
}

#[test]
fn cancel_stops_a_pending_job_and_is_a_no_op_afterwards() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 1000, "kind": "canceled"}));
    mutation(&app, "jobs:cancel", json!({"id": id}));
    let canceled = job(&app, &id);
    assert_eq!(canceled["state"], json!({"kind": "canceled"}));
    assert!(canceled["completedTime"].is_number());
    mutation(&app, "jobs:cancel", json!({"id": id}));
    assert_eq!(job(&app, &id), canceled, "canceling again changes nothing");
    // Canceling a finished job is a no-op too, and an action may cancel.
    let done = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 0, "kind": "done"}));
    finished(&app, &done);
    ok(call(&app, CallKind::Action, "jobs:cancelFromAction", json!({"id": done})));
    assert_eq!(job(&app, &done)["state"]["kind"], "success");
    let later = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 1000, "kind": "canceled"}));
    ok(call(&app, CallKind::Action, "jobs:cancelFromAction", json!({"id": later})));
    assert_eq!(job(&app, &later)["state"]["kind"], "canceled");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(events(&app, "canceled").is_empty(), "a canceled job never runs");
}

#[test]
fn a_chain_of_scheduled_mutations_runs_link_by_link() {
    let (_, app) = deployed();
    mutation(&app, "jobs:scheduleChain", json!({"kind": "chain", "length": 5}));
    wait_until("the chain to end", || events(&app, "chain").len() == 5);
    let links: Vec<f64> = events(&app, "chain").iter().map(|e| e["n"].as_f64().unwrap()).collect();
    assert_eq!(links, vec![4.0, 3.0, 2.0, 1.0, 0.0]);
}

#[test]
fn a_mutation_that_throws_schedules_nothing() {
    let (_, app) = deployed();
    let before = jobs_but_ticks(&app).len();
    let outcome = call(&app, CallKind::Mutation, "jobs:scheduleThenThrow", json!({"kind": "thrown"}));
    assert!(error_message(outcome).contains("changed my mind"));
    assert_eq!(jobs_but_ticks(&app).len(), before);
    std::thread::sleep(Duration::from_millis(300));
    assert!(events(&app, "thrown").is_empty());
}

#[test]
fn failures_are_recorded_and_a_failed_mutation_leaves_no_writes() {
    let (_, app) = deployed();
    let ids = mutation(&app, "jobs:scheduleFailing", json!({}));
    let (mutation_job, action_job) = (finished(&app, &ids[0]), finished(&app, &ids[1]));
    assert_eq!(mutation_job["state"]["kind"], "failed");
    assert!(mutation_job["state"]["error"].as_str().unwrap().contains("scheduled boom"), "{mutation_job}");
    assert_eq!(action_job["state"]["kind"], "failed");
    assert!(action_job["state"]["error"].as_str().unwrap().contains("action boom"), "{action_job}");
    assert!(events(&app, "never committed").is_empty());
    // The executions appear in the log stream.
    let (logged, _) = app.function_executions_since(0);
    assert!(logged.iter().any(|e| e.identifier == "jobs.js:failing" && e.error.is_some()));
}

#[test]
fn actions_run_once_and_actions_may_schedule() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleAction", json!({"kind": "from action job", "delayMs": 0}));
    assert_eq!(finished(&app, &id)["state"]["kind"], "success");
    assert_eq!(events(&app, "from action job").len(), 1);
    let id = ok(call(&app, CallKind::Action, "jobs:scheduleFromAction", json!({"kind": "scheduled by action", "delayMs": 0})));
    assert_eq!(finished(&app, &id)["state"]["kind"], "success");
    assert_eq!(events(&app, "scheduled by action").len(), 1);
}

#[test]
fn limits_and_bad_targets_fail_with_clear_errors() {
    let (_, app) = deployed();
    let before = jobs_but_ticks(&app).len();
    let too_many = call(&app, CallKind::Mutation, "jobs:scheduleMany", json!({"count": 1001, "at": now_ms() + 60_000.0, "kind": "many"}));
    assert!(error_message(too_many).contains("Too many functions scheduled by this mutation (limit: 1000)"));
    // 9 jobs of 1 MB arguments pass the 8 MiB total.
    let too_large = call(&app, CallKind::Mutation, "jobs:scheduleBigArgs", json!({"bytes": 1_000_000, "count": 9}));
    assert!(
        error_message(too_large).contains("Too large total size of the arguments of scheduled functions from this mutation (limit: 8388608 bytes)")
    );
    assert_eq!(jobs_but_ticks(&app).len(), before, "a failed mutation schedules nothing");
    let query = error_message(call(&app, CallKind::Mutation, "jobs:scheduleQuery", json!({})));
    assert!(query.contains("only mutations and actions can be scheduled"), "{query}");
    let bad_args = error_message(call(&app, CallKind::Mutation, "jobs:scheduleBadArgs", json!({})));
    assert!(bad_args.contains("ArgumentValidationError"), "{bad_args}");
    // Exactly the limit is fine.
    mutation(&app, "jobs:scheduleMany", json!({"count": 1000, "at": now_ms() + 60_000.0, "kind": "many"}));
    assert_eq!(jobs_but_ticks(&app).len(), before + 1000);
}

#[test]
fn after_a_restart_due_jobs_run_once_and_interrupted_actions_fail() {
    let (persistence, app) = deployed();
    let pending = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 1500, "kind": "across restart"}));
    let action = mutation(&app, "jobs:scheduleAction", json!({"kind": "interrupted", "delayMs": 60_000}));
    app.stop_scheduler();
    // Simulate a crash while the action ran: its job is left in progress.
    let database = app.database().clone();
    database
        .run_system(0, |tx| {
            let id = hull_values::DocumentId::decode(action.as_str().unwrap())?;
            let mut fields = tx.get(id)?.unwrap().user_fields();
            fields.insert("state".into(), hull_values::Value::Object([("kind".to_owned(), hull_values::Value::String("inProgress".into()))].into()));
            tx.replace(id, fields)?;
            Ok(())
        })
        .unwrap();
    drop(database);
    drop(app);
    std::thread::sleep(Duration::from_millis(1600));

    let app = open(&persistence);
    let failed = job(&app, &action);
    assert_eq!(failed["state"], json!({"kind": "failed", "error": "Transient error while executing action"}));
    assert_eq!(finished(&app, &pending)["state"]["kind"], "success");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(events(&app, "across restart").len(), 1);
    assert!(events(&app, "interrupted").is_empty(), "an interrupted action is not re-run");
}

#[test]
fn crons_fire_on_time_and_a_redeploy_changes_them() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    let started = now_ms();
    app.deploy_push_request(&fixture()).unwrap();
    wait_until("three ticks", || events(&app, "tick").len() >= 3);
    let ticks: Vec<f64> = events(&app, "tick").iter().map(|e| e["_creationTime"].as_f64().unwrap()).collect();
    // At once after the deploy (as upstream's interval crons), then 1 s apart.
    assert!(ticks[0] >= started && ticks[0] < started + 5000.0, "{ticks:?}");
    for pair in ticks.windows(2) {
        assert!(pair[1] - pair[0] >= 900.0, "ticks too close: {ticks:?}");
    }
    // The other schedules are registered with their next UTC occurrence, not fired.
    for kind in ["hourly", "daily", "weekly", "monthly", "new year"] {
        assert!(events(&app, kind).is_empty());
    }
    // `_cron_jobs` reads like upstream's: name, cronSpec (udfPath, cronSchedule), prevTs and
    // nextTs in nanoseconds (Int64).
    let crons = ok(call(&app, CallKind::Query, "jobs:crons", json!({})));
    let by_name = |name: &str| crons.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let names: std::collections::BTreeSet<String> = crons.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["daily", "hourly", "monthly", "new year", "tick", "weekly"].map(String::from).into());
    assert_eq!(by_name("weekly")["udfPath"], "jobs.js:logAction");
    assert_eq!(by_name("new year")["schedule"], json!({"type": "cron", "cronExpr": "0 0 1 1 *"}));
    let next_ns = |name: &str| {
        let value = hull_values::Value::from_json(&by_name(name)["nextTs"]).unwrap();
        let hull_values::Value::Int64(ns) = value else { panic!("nextTs is not an Int64: {value:?}") };
        ns as f64 / 1e6
    };
    let hourly = next_ns("hourly");
    assert!(hourly > now_ms() && hourly <= now_ms() + 3_600_000.0 && (hourly / 60_000.0) % 60.0 == 17.0, "{hourly}");
    assert!(!by_name("tick")["prevTs"].is_null(), "tick ran, so it has a previous due time");

    // A redeploy: "tick" slows to an hour, "hourly" is removed, "fast" is added.
    let pushed: Json = serde_json::from_str(&fixture()).unwrap();
    let mut changed = pushed.clone();
    for module in changed["appDefinition"]["changedModules"].as_array_mut().unwrap() {
        if module["path"] == "crons.js" {
            let source = module["source"].as_str().unwrap().replace("{ seconds: 1 }", "{ hours: 1 }").replace(
                r#"n.hourly("hourly", { minuteUTC: 17 }, o.jobs.log, { kind: "hourly" });"#,
                r#"n.interval("fast", { seconds: 1 }, o.jobs.log, { kind: "fast" });"#,
            );
            module["source"] = Json::String(source);
        }
    }
    let plan = app.start_push(&changed.to_string(), &[], false).unwrap();
    assert_eq!(plan.cron_diff.added, vec!["fast".to_owned()]);
    assert_eq!(plan.cron_diff.updated, vec!["tick".to_owned()]);
    assert_eq!(plan.cron_diff.deleted, vec!["hourly".to_owned()]);
    app.finish_push(&plan.push_id, false).unwrap();
    let ticks_after_deploy = events(&app, "tick").len();
    wait_until("the new cron", || events(&app, "fast").len() >= 2);
    assert!(events(&app, "tick").len() <= ticks_after_deploy + 1, "the slowed cron kept firing every second");

    // A restart neither repeats nor loses runs: "fast" continues at one per second.
    app.stop_scheduler();
    drop(app);
    let app = open(&persistence);
    let before = events(&app, "fast").len();
    std::thread::sleep(Duration::from_millis(2500));
    let after = events(&app, "fast").len();
    assert!((before + 1..=before + 4).contains(&after), "fast ran {} times in 2.5 s after a restart", after - before);
}

#[test]
fn scheduled_runs_know_their_job_and_count_against_the_transaction() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleWhoAmI", json!({}));
    finished(&app, &id);
    let recorded = events(&app, "who am i");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["note"], id, "getRequestMetadata().scheduledFunctionId");
    // A call that is not a scheduled run sees none (the id does not leak into later calls).
    mutation(&app, "jobs:whoAmI", json!({}));
    assert_eq!(events(&app, "who am i")[1]["note"], "none");

    let metrics = mutation(&app, "jobs:scheduleAndMeasure", json!({}));
    assert_eq!(metrics["functionsScheduled"]["used"], 2.0);
    assert_eq!(metrics["functionsScheduled"]["remaining"], 998.0);
    let bytes = metrics["scheduledFunctionArgsBytes"]["used"].as_f64().unwrap();
    assert!(bytes > 0.0 && bytes < 100.0, "{metrics}");
}

#[test]
fn an_action_canceled_while_it_runs_schedules_only_canceled_jobs() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleCancelMe", json!({}));
    wait_until("the action to start", || !events(&app, "waiting").is_empty());
    assert_eq!(job(&app, &id)["state"]["kind"], "inProgress");
    mutation(&app, "jobs:cancel", json!({"id": id}));
    wait_until("the action to schedule", || !events(&app, "child scheduled").is_empty());
    // The action ran to its end, but its job stays canceled and its child is canceled.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(job(&app, &id)["state"]["kind"], "canceled");
    let child = jobs(&app).into_iter().find(|j| j["args"] == json!([{"kind": "child of canceled"}])).unwrap();
    assert_eq!(child["state"]["kind"], "canceled");
    assert!(events(&app, "child of canceled").is_empty());
}

#[test]
fn finished_jobs_are_deleted_after_a_week() {
    let (persistence, app) = deployed();
    let old = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 0, "kind": "old"}));
    let recent = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 0, "kind": "recent"}));
    let waiting = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 3_600_000, "kind": "waiting"}));
    finished(&app, &old);
    finished(&app, &recent);
    app.stop_scheduler();
    // Age one job past the retention (one week), as if it had finished eight days ago.
    app.database()
        .run_system(0, |tx| {
            let id = hull_values::DocumentId::decode(old.as_str().unwrap())?;
            let mut fields = tx.get(id)?.unwrap().user_fields();
            fields.insert("completedTime".into(), hull_values::Value::Float64(now_ms() - 8.0 * 86_400_000.0));
            tx.replace(id, fields)?;
            Ok(())
        })
        .unwrap();
    drop(app);
    // The first pass after a start collects.
    let app = open(&persistence);
    wait_until("the old job to be deleted", || job(&app, &old).is_null());
    assert_eq!(job(&app, &recent)["state"]["kind"], "success");
    assert_eq!(job(&app, &waiting)["state"]["kind"], "pending");
}

#[test]
fn user_code_cannot_write_job_documents() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 60_000, "kind": "protected"}));
    let before = job(&app, &id);
    let errors = mutation(&app, "jobs:tamper", json!({"id": id}));
    for (error, method) in errors.as_array().unwrap().iter().zip(["db.patch", "db.replace", "db.delete"]) {
        let error = error.as_str().unwrap();
        assert!(error.contains(&format!("`{method}` cannot change")) && error.contains("read-only system table _scheduled_functions"), "{error}");
    }
    assert_eq!(job(&app, &id), before);
}

#[test]
fn the_loop_wakes_for_due_times_and_commits_and_does_not_poll() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    // Without crons.js nothing is due.
    let mut push: Json = serde_json::from_str(&fixture()).unwrap();
    push["appDefinition"]["changedModules"].as_array_mut().unwrap().retain(|m| m["path"] != "crons.js");
    app.deploy_push_request(&push.to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let idle = app.scheduler_stats().passes;
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(app.scheduler_stats().passes, idle, "the loop passed while nothing changed");

    // A job due in 500 ms: a pass for the commit that scheduled it, one at its due time, and
    // a few as it runs and completes; not one per poll interval.
    let id = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 500, "kind": "wake"}));
    finished(&app, &id);
    std::thread::sleep(Duration::from_millis(200));
    let used = app.scheduler_stats().passes - idle;
    assert!((2..=8).contains(&used), "{used} passes for one job");
    assert_eq!(app.scheduler_stats().running, 0);
}

#[test]
fn conflicting_scheduled_mutations_are_re_run_and_each_counts_once() {
    let (_, app) = deployed();
    // Up to ten run at once on one counter document: most attempts conflict and are re-run.
    mutation(&app, "jobs:scheduleBumps", json!({"name": "hot", "count": 60}));
    wait_until("every bump to finish", || {
        jobs(&app).iter().filter(|j| j["name"] == "jobs.js:bump").all(|j| j["state"]["kind"] == "success")
    });
    assert_eq!(ok(call(&app, CallKind::Query, "jobs:counter", json!({"name": "hot"}))), 60.0);
}

#[test]
fn stopping_the_scheduler_waits_for_running_jobs_within_a_limit() {
    let (_, app) = deployed();
    let id = mutation(&app, "jobs:scheduleSlowAction", json!({"kind": "stopping", "ms": 1500}));
    wait_until("the slow action to start", || !events(&app, "stopping started").is_empty());
    let started = Instant::now();
    assert!(!app.stop_scheduler_within(Some(Duration::from_millis(200))), "the action is still running");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Waiting without a limit sees it through; no new job starts after the stop.
    app.stop_scheduler();
    assert_eq!(app.scheduler_stats().running, 0);
    assert_eq!(job(&app, &id)["state"]["kind"], "success");
    let later = mutation(&app, "jobs:scheduleAfter", json!({"delayMs": 0, "kind": "after stop"}));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(job(&app, &later)["state"]["kind"], "pending");
}
