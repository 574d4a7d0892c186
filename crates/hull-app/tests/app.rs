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
