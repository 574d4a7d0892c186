//! Exactly-once sync mutations (`Application::call_session_request`) over the real CLI bundle of
//! hull-js's `tests/projects/reliability` (`ledger:append` writes one row to each of two tables):
//! a resend of the same `(sessionId, requestId)` is answered from the `_session_requests` record
//! its first run committed, in the same process and after the application restarts over the same
//! store, and never runs the function again; failures are not recorded.

use std::sync::Arc;

use hull_app::{AppConfig, Application, CallKind, CallOutcome, Caller, FunctionPath, InstanceSecret, SessionRequest, Timestamp};
use hull_db::Database;
use hull_store::MemoryPersistence;
use serde_json::{json, Value as Json};

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/reliability.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

fn open(persistence: &Arc<MemoryPersistence>) -> Application {
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
    config.js_workers = 1;
    config.run_scheduler = false;
    Application::open(Database::open(persistence.clone()).unwrap(), config).unwrap()
}

fn request(session: &str, request_id: u32) -> SessionRequest {
    SessionRequest { session_id: session.to_owned(), request_id }
}

fn append(app: &Application, session_request: &SessionRequest, args: Json) -> (CallOutcome, Option<Timestamp>) {
    let path = FunctionPath::parse("ledger:append").unwrap();
    app.call_session_request(&Caller::Anonymous, CallKind::Mutation, &path, args, session_request).unwrap()
}

fn value(outcome: &CallOutcome) -> Json {
    outcome.result.as_ref().expect("the mutation succeeds").to_json()
}

/// The sequence numbers `client` has in `entries` and in `mirror`.
fn stored(app: &Application, client: &str) -> (Vec<f64>, Vec<f64>) {
    let path = FunctionPath::parse("ledger:dump").unwrap();
    let outcome = app.call(&Caller::Admin { acting_as: None }, CallKind::Query, &path, json!({"client": client, "after": -1})).unwrap();
    let dump = value(&outcome);
    let seqs = |name: &str| dump[name].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
    (seqs("entries"), seqs("mirror"))
}

#[test]
fn a_resent_mutation_is_answered_from_its_record_and_runs_once_across_a_restart() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    app.deploy_push_request(&fixture()).unwrap();
    let first = request("3f2c9a4e-session-a", 0);
    let (outcome, commit_ts) = append(&app, &first, json!({"client": "a", "seq": 7}));
    assert_eq!(value(&outcome), json!(7.0));
    let commit_ts = commit_ts.expect("a successful mutation has a commit timestamp");

    // A resend in the same process.
    let (again, again_ts) = append(&app, &first, json!({"client": "a", "seq": 7}));
    assert_eq!((value(&again), again_ts), (json!(7.0), Some(commit_ts)));
    assert_eq!(stored(&app, "a"), (vec![7.0], vec![7.0]));

    // The process dies; the client reconnects to the restarted one and resends. Even arguments
    // that differ get the recorded answer: the pair names one mutation.
    drop(app);
    let app = open(&persistence);
    let (replayed, replayed_ts) = append(&app, &first, json!({"client": "a", "seq": 8}));
    assert_eq!((value(&replayed), replayed_ts), (json!(7.0), Some(commit_ts)), "the recorded value and original commit ts");
    assert!(replayed.logs.is_empty());
    assert_eq!(stored(&app, "a"), (vec![7.0], vec![7.0]), "the replay did not run the mutation again");

    // The next request of the session, and the same request id in another session, do run.
    let (next, next_ts) = append(&app, &request("3f2c9a4e-session-a", 1), json!({"client": "a", "seq": 8}));
    assert_eq!(value(&next), json!(8.0));
    assert!(next_ts.unwrap() > commit_ts);
    let (other, _) = append(&app, &request("another-session", 0), json!({"client": "a", "seq": 9}));
    assert_eq!(value(&other), json!(9.0));
    assert_eq!(stored(&app, "a"), (vec![7.0, 8.0, 9.0], vec![7.0, 8.0, 9.0]));
}

#[test]
fn a_failed_mutation_is_not_recorded_and_runs_again_when_resent() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    app.deploy_push_request(&fixture()).unwrap();
    let failing = request("session-b", 3);
    let (outcome, commit_ts) = append(&app, &failing, json!({"client": "b", "seq": "not a number"}));
    let error = outcome.result.expect_err("the validator refuses the arguments");
    assert!(error.message.contains("ArgumentValidationError"), "{}", error.message);
    assert_eq!(commit_ts, None);

    drop(app);
    let app = open(&persistence);
    // Nothing was recorded, so the resend runs (and this time succeeds).
    let (retried, _) = append(&app, &failing, json!({"client": "b", "seq": 1}));
    assert_eq!(value(&retried), json!(1.0));
    assert_eq!(stored(&app, "b"), (vec![1.0], vec![1.0]));
}
