//! The application over the real CLI bundle of hull-js's `tests/projects/basic`
//! (`crates/hull-js/tests/fixtures/basic.push.json`, read from there, never copied).

use std::sync::Arc;

use hull_app::{AppConfig, Application, CallKind, CallOutcome, Caller, FunctionPath, InstanceSecret, MODULES_TABLE};
use hull_db::Database;
use hull_store::MemoryPersistence;
use serde_json::{Value as Json, json};

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/basic.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

fn config() -> AppConfig {
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
    config.js_workers = 1;
    config
}

fn deployed() -> (Arc<MemoryPersistence>, Application) {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = Application::open(Database::open(persistence.clone()).unwrap(), config()).unwrap();
    app.deploy_push_request(&fixture()).unwrap();
    (persistence, app)
}

const ADMIN: Caller = Caller::Admin { acting_as: None };

fn call(app: &Application, caller: &Caller, kind: CallKind, path: &str, args: Json) -> CallOutcome {
    app.call(caller, kind, &FunctionPath::parse(path).unwrap(), args).unwrap()
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

#[test]
fn deploy_makes_functions_callable_and_indexes_follow_the_schema() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = Application::open(Database::open(persistence).unwrap(), config()).unwrap();
    let summary = app.deploy_push_request(&fixture()).unwrap();
    let pushed: Json = serde_json::from_str(&fixture()).unwrap();
    assert_eq!(summary.modules, pushed["appDefinition"]["changedModules"].as_array().unwrap().len());
    assert_eq!(summary.indexes_added, vec!["counters.by_name".to_owned(), "messages.by_channel".to_owned()]);
    assert!(summary.indexes_dropped.is_empty());

    let channel = ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "general"})));
    let id = channel.as_str().unwrap().to_owned();
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "messages:send", json!({"message": {"channel": id, "body": "hi"}, "author": "ann"})));
    let listed = ok(call(&app, &Caller::Anonymous, CallKind::Query, "messages:list", json!({"channel": id})));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let count = ok(call(&app, &Caller::Anonymous, CallKind::Action, "profiles:latest", json!({"channel": id})));
    assert_eq!(count, json!(1.0));

    // A second push of the same code changes no module and no index.
    let again = app.deploy_push_request(&fixture()).unwrap();
    assert_eq!((again.modules_changed, again.indexes_added.len(), again.indexes_dropped.len()), (0, 0, 0));
}

#[test]
fn deployed_code_survives_a_restart() {
    let (persistence, app) = deployed();
    let database = app.database().clone();
    assert!(database.catalog().table_by_name(MODULES_TABLE).is_some());
    drop(app);
    drop(database);
    let app = Application::open(Database::open(persistence).unwrap(), config()).unwrap();
    let created = ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "x"})));
    assert!(created.is_string());
}

#[test]
fn internal_and_missing_functions_look_the_same_to_non_admins_in_every_spelling() {
    let (_p, app) = deployed();
    let public = |name: &str| {
        format!("Could not find public function for '{name}'. Did you forget to run `npx convex dev` or `npx convex deploy`?")
    };
    for path in ["messages:countByAuthor", "messages.js:countByAuthor"] {
        let message = error_message(call(&app, &Caller::Anonymous, CallKind::Query, path, json!({"author": "a"})));
        assert_eq!(message, public("messages:countByAuthor"), "{path}");
    }
    let message = error_message(call(&app, &Caller::Anonymous, CallKind::Query, "messages:nope", json!({})));
    assert_eq!(message, public("messages:nope"));
    let message = error_message(call(&app, &Caller::Anonymous, CallKind::Query, "messages", json!({})));
    assert_eq!(message, public("messages"));
    let message = error_message(call(&app, &Caller::Anonymous, CallKind::Query, "_system/cli/modules:apiSpec", json!({})));
    assert_eq!(message, public("_system/cli/modules:apiSpec"));
    let message = error_message(call(&app, &Caller::Anonymous, CallKind::Query, "_deps/CN7IVK6H:default", json!({})));
    assert_eq!(message, public("_deps/CN7IVK6H"));

    // Admins see internal functions.
    let count = ok(call(&app, &ADMIN, CallKind::Query, "messages:countByAuthor", json!({"author": "a"})));
    assert_eq!(count, json!(0.0));
    let count = ok(call(&app, &ADMIN, CallKind::AdminAny, "messages.js:countByAuthor", json!({"author": "a"})));
    assert_eq!(count, json!(0.0));
    // ... and get upstream's `any_udf` text for a missing one through `/api/function`.
    let message = error_message(call(&app, &ADMIN, CallKind::AdminAny, "messages:nope", json!({})));
    assert_eq!(message, "Could not find function for 'messages:nope'. Did you forget to run `npx convex dev`?");
}

#[test]
fn a_kind_mismatch_names_both_kinds() {
    let (_p, app) = deployed();
    let message = error_message(call(&app, &Caller::Anonymous, CallKind::Query, "channels:create", json!({"name": "x"})));
    assert_eq!(message, "Trying to execute channels.js:create as Query, but it is defined as Mutation.");
    let message = error_message(call(&app, &Caller::Anonymous, CallKind::Mutation, "profiles:latest", json!({})));
    assert_eq!(message, "Trying to execute profiles.js:latest as Mutation, but it is defined as Action.");
}

#[test]
fn any_kind_calls_need_an_admin() {
    let (_p, app) = deployed();
    let error = app.call(&Caller::Anonymous, CallKind::AdminAny, &FunctionPath::parse("channels:all").unwrap(), json!({})).unwrap_err();
    assert_eq!((error.code, error.short), (hull_errors::Code::Forbidden, "BadDeployKey"));
}

#[test]
fn user_errors_carry_messages_and_convex_error_data() {
    let (_p, app) = deployed();
    let outcome = call(&app, &Caller::Anonymous, CallKind::Query, "util:throws", json!({}));
    let error = outcome.result.unwrap_err();
    assert_eq!(error.message, "Uncaught Error: boom");
    let outcome = call(&app, &Caller::Anonymous, CallKind::Mutation, "util:throwsData", json!({"code": 7}));
    let data = outcome.result.unwrap_err().data.expect("ConvexError data");
    assert_eq!(data.to_json()["code"], json!(7.0));
}

#[test]
fn a_push_whose_module_fails_to_load_changes_nothing() {
    let (_p, app) = deployed();
    let mut push: Json = serde_json::from_str(&fixture()).unwrap();
    let modules = push["appDefinition"]["changedModules"].as_array_mut().unwrap();
    let channels = modules.iter_mut().find(|m| m["path"] == "channels.js").unwrap();
    channels["source"] = json!("throw new Error('broken at import');");
    let error = app.deploy_push_request(&push.to_string()).unwrap_err();
    assert_eq!(error.short, "InvalidModules");
    assert!(error.message.starts_with("Hit an error while pushing:\n"), "{}", error.message);
    assert!(error.message.contains("broken at import"), "{}", error.message);
    // The old code still runs.
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "still"})));
}

/// The fixture with `edit` applied to the bundled `schema.js` source.
fn with_schema_edit(from: &str, to: &str) -> String {
    let mut push: Json = serde_json::from_str(&fixture()).unwrap();
    let schema = push["appDefinition"]["schema"]["source"].as_str().unwrap();
    assert!(schema.contains(from), "the bundled schema.js contains {from:?}");
    push["appDefinition"]["schema"]["source"] = json!(schema.replace(from, to));
    push.to_string()
}

#[test]
fn a_redeploy_adds_and_drops_indexes_on_tables_with_data() {
    let (_p, app) = deployed();
    let channel = ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "c"})));
    for author in ["ann", "bob"] {
        let args = json!({"message": {"channel": channel, "body": "hi"}, "author": author});
        ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "messages:send", args));
    }
    let by_channel = r#".index("by_channel", ["channel"])"#;
    let push = with_schema_edit(by_channel, &format!(r#"{by_channel}.index("by_author", ["author"])"#));
    let summary = app.deploy_push_request(&push).unwrap();
    assert_eq!((summary.indexes_added, summary.indexes_dropped.len()), (vec!["messages.by_author".to_owned()], 0));
    let catalog = app.database().catalog();
    let messages = catalog.table_by_name("messages").unwrap().number;
    let index = catalog.index_by_name(messages, "by_author").expect("the index exists");
    assert_eq!(index.state, hull_db::catalog::IndexState::Enabled, "backfilled as part of the push");

    let summary = app.deploy_push_request(&fixture()).unwrap();
    assert_eq!((summary.indexes_added.len(), summary.indexes_dropped), (0, vec!["messages.by_author".to_owned()]));
    assert!(app.database().catalog().index_by_name(messages, "by_author").is_none());
}

#[test]
fn a_schema_that_existing_documents_violate_is_refused_and_changes_nothing() {
    let (_p, app) = deployed();
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "c"})));
    let before = app.database().catalog().schema().unwrap().source.clone();
    let mut push: Json = serde_json::from_str(&with_schema_edit("channels: A({ name: s.string() })", "channels: A({ name: s.number() })")).unwrap();
    // The same push also adds a module, which must not go live either.
    push["appDefinition"]["changedModules"].as_array_mut().unwrap().push(json!({
        "path": "extra.js",
        "source": "export const x = 1;",
        "environment": "isolate",
    }));
    let error = app.deploy_push_request(&push.to_string()).unwrap_err();
    assert_eq!(error.short, "SchemaValidationError");
    assert!(error.message.contains("in table \"channels\" does not match the schema"), "{}", error.message);
    assert_eq!(app.database().catalog().schema().unwrap().source, before);
    let mut tx = app.database().begin();
    let mut modules = hull_db::QueryStream::full_table(
        &mut tx,
        app.database().catalog().table_by_name(MODULES_TABLE).unwrap().number,
        hull_store::Order::Asc,
    )
    .unwrap();
    let mut count = 0;
    while modules.next(&mut tx).unwrap().is_some() {
        count += 1;
    }
    let pushed: Json = serde_json::from_str(&fixture()).unwrap();
    assert_eq!(count, pushed["appDefinition"]["changedModules"].as_array().unwrap().len());
}

#[test]
fn concurrent_mutations_on_one_document_all_commit_through_conflict_retries() {
    let persistence = Arc::new(MemoryPersistence::new());
    let mut config = config();
    config.js_workers = 2;
    let app = Application::open(Database::open(persistence).unwrap(), config).unwrap();
    app.deploy_push_request(&fixture()).unwrap();
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "util:bump", json!({"name": "hits"})));
    const THREADS: usize = 2;
    const CALLS_PER_THREAD: usize = 15;
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..CALLS_PER_THREAD {
                    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "util:bump", json!({"name": "hits"})));
                }
            });
        }
    });
    let last = ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "util:bump", json!({"name": "hits"})));
    assert_eq!(last, json!((THREADS * CALLS_PER_THREAD + 2) as f64));
}

/// Counts the `_modules` documents (0 when the table does not exist).
fn stored_modules(app: &Application) -> usize {
    let Some(table) = app.database().catalog().table_by_name(MODULES_TABLE).map(|t| t.number) else { return 0 };
    let mut tx = app.database().begin();
    let mut stream = hull_db::QueryStream::full_table(&mut tx, table, hull_store::Order::Asc).unwrap();
    let mut count = 0;
    while stream.next(&mut tx).unwrap().is_some() {
        count += 1;
    }
    count
}

#[test]
fn start_push_alone_changes_nothing_live_and_finish_push_commits_it() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = Application::open(Database::open(persistence).unwrap(), config()).unwrap();
    let plan = app.start_push(&fixture(), &[], false).unwrap();
    let added: Vec<String> = plan.indexes_added.iter().map(|i| format!("{}.{}", i.table, i.name)).collect();
    assert_eq!(added, ["counters.by_name", "messages.by_channel"]);
    assert!(plan.analysis.iter().any(|m| m.path == "channels.js"), "the plan carries the analysis");
    assert_eq!(stored_modules(&app), 0);
    assert!(app.database().catalog().schema().is_none());
    let missing = call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "c"}));
    assert!(error_message(missing).contains("Could not find public function"));

    assert_eq!(app.wait_for_schema(&plan.push_id).unwrap(), hull_app::SchemaStatus::Complete);
    let (_, summary) = app.finish_push(&plan.push_id, false).unwrap();
    assert_eq!(summary.unwrap().indexes_added, added);
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "c"})));
    // A push is committed once.
    assert_eq!(app.finish_push(&plan.push_id, false).unwrap_err().short, "RaceDetected");
}

#[test]
fn unchanged_module_hashes_reuse_the_deployed_sources() {
    let (_p, app) = deployed();
    let (hashes, version) = app.module_hashes().unwrap();
    assert_eq!(version.as_deref(), serde_json::from_str::<Json>(&fixture()).unwrap()["appDefinition"]["udfServerVersion"].as_str());
    let mut push: Json = serde_json::from_str(&fixture()).unwrap();
    push["appDefinition"]["changedModules"] = json!([]);
    let plan = app.start_push(&push.to_string(), &hashes, false).unwrap();
    assert_eq!(plan.modules.len(), hashes.len());
    assert!(plan.modules_added.is_empty() && plan.modules_removed.is_empty());
    let mut wrong = hashes[0].clone();
    wrong.sha256 = "00".repeat(32);
    assert_eq!(app.start_push(&push.to_string(), &[wrong], false).unwrap_err().short, "ModuleNotFound");
}

#[test]
fn wait_for_schema_reports_a_violating_document_and_finish_push_then_changes_nothing() {
    let (_p, app) = deployed();
    let channel = ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "c"})));
    let before = app.database().catalog().schema().unwrap().source.clone();
    let push = with_schema_edit("channels: A({ name: s.string() })", "channels: A({ name: s.number() })");
    let plan = app.start_push(&push, &[], false).unwrap();
    let hull_app::SchemaStatus::Failed { error, table } = app.wait_for_schema(&plan.push_id).unwrap() else {
        panic!("the violating document was not reported");
    };
    let expected = format!("Document with ID \"{}\" in table \"channels\" does not match the schema: ", channel.as_str().unwrap());
    assert!(error.starts_with(&expected), "{error}");
    assert_eq!(table.as_deref(), Some("channels"));
    assert_eq!(app.finish_push(&plan.push_id, false).unwrap_err().short, "SchemaValidationError");
    assert_eq!(app.database().catalog().schema().unwrap().source, before);
}

#[test]
fn a_newer_start_push_supersedes_an_older_one() {
    let (_p, app) = deployed();
    let older = app.start_push(&fixture(), &[], false).unwrap();
    let dry = app.start_push(&fixture(), &[], true).unwrap();
    let newer = app.start_push(&fixture(), &[], false).unwrap();
    assert_eq!(app.wait_for_schema(&older.push_id).unwrap(), hull_app::SchemaStatus::RaceDetected);
    assert_eq!(app.finish_push(&older.push_id, false).unwrap_err().short, "RaceDetected");
    // A dry run is answered without committing.
    assert!(app.finish_push(&dry.push_id, false).unwrap().1.is_none());
    // Another push committing in between makes a prepared push stale.
    app.deploy_push_request(&fixture()).unwrap();
    assert_eq!(app.wait_for_schema(&newer.push_id).unwrap(), hull_app::SchemaStatus::RaceDetected);
    assert_eq!(app.finish_push(&newer.push_id, false).unwrap_err().short, "RaceDetected");
}

#[test]
fn evaluate_schema_counts_documents_under_added_kept_and_dropped_indexes() {
    let (_p, app) = deployed();
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "c"})));
    let push = with_schema_edit("channels: A({ name: s.string() })", "channels: A({ name: s.string() }).index(\"by_name\", [\"name\"])");
    let evaluation = app.evaluate_schema(&push, &[]).unwrap();
    let channels = evaluation.indexes.iter().find(|(spec, _, _)| spec.table == "channels").unwrap();
    assert_eq!((channels.0.name.as_str(), channels.1, channels.2), ("by_name", hull_app::IndexChange::Added, 1));
    assert!(evaluation.indexes.iter().any(|(spec, change, _)| spec.name == "by_channel" && *change == hull_app::IndexChange::Identical));
    assert_eq!(stored_modules(&app), serde_json::from_str::<Json>(&fixture()).unwrap()["appDefinition"]["changedModules"].as_array().unwrap().len());
    assert!(app.database().catalog().table_by_name("channels").is_some_and(|t| app.database().catalog().index_by_name(t.number, "by_name").is_none()));
}

#[test]
fn dry_runs_evict_each_other_but_never_the_pending_real_push() {
    let (_p, app) = deployed();
    let real = app.start_push(&fixture(), &[], false).unwrap();
    let dry_runs: Vec<_> = (0..hull_app::limits::PENDING_PUSHES_MAX).map(|_| app.start_push(&fixture(), &[], true).unwrap()).collect();
    assert_eq!(app.wait_for_schema(&dry_runs[0].push_id).unwrap(), hull_app::SchemaStatus::RaceDetected);
    assert_eq!(app.wait_for_schema(&dry_runs[1].push_id).unwrap(), hull_app::SchemaStatus::Complete);
    assert_eq!(app.wait_for_schema(&real.push_id).unwrap(), hull_app::SchemaStatus::Complete);
    assert!(app.finish_push(&real.push_id, false).unwrap().1.is_some());
}

#[test]
fn a_redeploy_with_an_unchanged_schema_does_not_reread_every_document() {
    // More document bytes than one transaction may read (16 MiB), in a table the schema defines.
    const DOCUMENTS: usize = 17;
    let (_p, app) = deployed();
    let big = "x".repeat(1_000_000);
    for _ in 0..DOCUMENTS {
        ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": big})));
    }
    let plan = app.start_push(&fixture(), &[], false).unwrap();
    assert_eq!(app.wait_for_schema(&plan.push_id).unwrap(), hull_app::SchemaStatus::Complete);
    let summary = app.finish_push(&plan.push_id, false).unwrap().1.unwrap();
    assert!(summary.indexes_added.is_empty() && summary.indexes_dropped.is_empty());
    // A schema change checks every document, in a system transaction not bound by the read
    // limits of a function.
    let changed = with_schema_edit("channels: A({ name: s.string() })", "channels: A({ name: s.string(), topic: s.optional(s.string()) })");
    app.deploy_push_request(&changed).unwrap();
}

fn subscribe(app: &Application, caller: &Caller, path: &str, args: Json, ts: Option<hull_app::Timestamp>) -> hull_app::QueryResult {
    app.run_subscription_query(caller, &FunctionPath::parse(path).unwrap(), args, ts).unwrap()
}

#[test]
fn a_subscription_query_returns_its_reads_and_timestamp_and_is_shared() {
    let (_, app) = deployed();
    let before = app.database().latest_ts();
    let first = subscribe(&app, &Caller::Anonymous, "channels:all", json!({}), None);
    assert_eq!(first.ts, before);
    assert!(first.reads.interval_count() > 0, "a table scan reads an interval");
    assert_eq!(first.outcome.result.clone().unwrap().to_json()["names"], json!([]));

    // An unrelated commit: the cached result carries forward to the newer snapshot.
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "util:bump", json!({"name": "n"})));
    let carried = subscribe(&app, &Caller::Anonymous, "channels:all", json!({}), None);
    assert!(carried.ts > before);
    assert!(Arc::ptr_eq(&carried.outcome, &first.outcome), "served from the cache, not run again");

    // A commit inside the reads: a new run, and the old snapshot still answers as it was.
    ok(call(&app, &Caller::Anonymous, CallKind::Mutation, "channels:create", json!({"name": "general"})));
    let after = subscribe(&app, &Caller::Anonymous, "channels:all", json!({}), None);
    assert_eq!(after.outcome.result.clone().unwrap().to_json()["names"], json!(["general"]));
    let then = subscribe(&app, &Caller::Anonymous, "channels:all", json!({}), Some(before));
    assert_eq!(then.outcome.result.clone().unwrap().to_json()["names"], json!([]));
    assert_eq!(then.ts, before);
    assert!(app.query_cache_len() >= 1);
}

#[test]
fn a_subscription_query_applies_the_same_visibility_as_a_call() {
    let (_, app) = deployed();
    let hidden = subscribe(&app, &Caller::Anonymous, "messages:countByAuthor", json!({"author": "a"}), None);
    let message = hidden.outcome.result.clone().unwrap_err().message;
    assert!(message.starts_with("Could not find public function for 'messages:countByAuthor'"), "{message}");
    assert_eq!(hidden.reads.interval_count(), 0);
    let seen = subscribe(&app, &ADMIN, "messages:countByAuthor", json!({"author": "a"}), None);
    assert_eq!(seen.outcome.result.clone().unwrap().to_json(), json!(0.0));
    let mutation = subscribe(&app, &ADMIN, "channels:create", json!({"name": "x"}), None);
    assert!(mutation.outcome.result.clone().unwrap_err().message.contains("as Query, but it is defined as Mutation"));
    // An hour ahead: one tick ahead could be overtaken by a background commit (the scheduler's)
    // before the query starts, and then it is no longer in the future.
    const HOUR_NANOS: u64 = 3600 * 1_000_000_000;
    let future_ts = hull_app::Timestamp(app.database().latest_ts().0 + HOUR_NANOS);
    let future = app.run_subscription_query(&ADMIN, &FunctionPath::parse("channels:all").unwrap(), json!({}), Some(future_ts));
    assert_eq!(future.unwrap_err().short, "TimestampInFuture");
}

#[test]
fn the_code_version_moves_with_pushes_and_environment_variables() {
    let (_, app) = deployed();
    let version = app.code_version();
    app.update_environment_variables(vec![hull_app::EnvVarChange { name: "A".into(), value: Some("1".into()) }]).unwrap();
    let after_env = app.code_version();
    assert!(after_env > version);
    app.deploy_push_request(&fixture()).unwrap();
    assert!(app.code_version() > after_env);
}
