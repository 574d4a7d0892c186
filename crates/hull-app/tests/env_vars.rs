//! Environment variables: Convex's validation and limits, durability, and `process.env` in
//! deployed functions (the real CLI bundle of hull-js's `tests/projects/basic`, whose
//! `util:env` query reads `process.env[name]`).

use std::sync::Arc;

use hull_app::limits::{ENV_VAR_LIMIT, ENV_VAR_VALUE_MAX_SIZE};
use hull_app::{AppConfig, Application, CallKind, Caller, EnvVarChange, FunctionPath, InstanceSecret};
use hull_db::Database;
use hull_store::MemoryPersistence;
use serde_json::{Value as Json, json};

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/basic.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

fn open(persistence: &Arc<MemoryPersistence>, workers: usize) -> Application {
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
    config.js_workers = workers;
    Application::open(Database::open(persistence.clone()).unwrap(), config).unwrap()
}

const ADMIN: Caller = Caller::Admin { acting_as: None };

fn query(app: &Application, caller: &Caller, path: &str, args: Json) -> Result<Json, String> {
    let outcome = app.call(caller, CallKind::Query, &FunctionPath::parse(path).unwrap(), args).unwrap();
    outcome.result.map(|value| value.to_json()).map_err(|e| e.message)
}

fn set(name: &str, value: &str) -> EnvVarChange {
    EnvVarChange { name: name.into(), value: Some(value.into()) }
}

fn remove(name: &str) -> EnvVarChange {
    EnvVarChange { name: name.into(), value: None }
}

/// `process.env[name]` as the deployed `util:env` query sees it.
fn read_env(app: &Application, name: &str) -> Json {
    query(app, &Caller::Anonymous, "util:env", json!({"name": name})).unwrap()["value"].clone()
}

#[test]
fn running_workers_see_updates_on_their_next_call_and_values_survive_a_restart() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence, 2);
    app.deploy_push_request(&fixture()).unwrap();
    // Both workers have run with no variables.
    for _ in 0..4 {
        assert_eq!(read_env(&app, "GREETING"), Json::Null);
    }
    app.update_environment_variables(vec![set("GREETING", "hello"), set("OTHER", "x")]).unwrap();
    for _ in 0..4 {
        assert_eq!(read_env(&app, "GREETING"), "hello");
    }
    app.update_environment_variables(vec![set("GREETING", "bye"), remove("OTHER")]).unwrap();
    for _ in 0..4 {
        assert_eq!(read_env(&app, "GREETING"), "bye");
        assert_eq!(read_env(&app, "OTHER"), Json::Null);
    }
    drop(app);
    let app = open(&persistence, 1);
    assert_eq!(read_env(&app, "GREETING"), "bye");
    assert_eq!(app.environment_variables().into_iter().collect::<Vec<_>>(), vec![("GREETING".into(), "bye".into())]);
}

#[test]
fn the_cli_system_queries_answer_admins_only() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence, 1);
    app.update_environment_variables(vec![set("B", "2"), set("A", "1")]).unwrap();
    let listed = query(&app, &ADMIN, "_system/cli/queryEnvironmentVariables", json!({})).unwrap();
    assert_eq!(listed, json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]));
    let got = query(&app, &ADMIN, "_system/cli/queryEnvironmentVariables:get", json!({"name": "B"})).unwrap();
    assert_eq!(got, json!({"name": "B", "value": "2"}));
    let missing = query(&app, &ADMIN, "_system/cli/queryEnvironmentVariables:get", json!({"name": "C"})).unwrap();
    assert_eq!(missing, Json::Null);
    let refused = query(&app, &Caller::Anonymous, "_system/cli/queryEnvironmentVariables", json!({})).unwrap_err();
    assert!(refused.starts_with("Could not find public function for '_system/cli/queryEnvironmentVariables'"), "{refused}");
}

#[test]
fn a_batch_applies_removals_before_sets() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence, 1);
    app.update_environment_variables(vec![set("K", "old")]).unwrap();
    app.update_environment_variables(vec![set("K", "new"), remove("K")]).unwrap();
    assert_eq!(app.environment_variables().get("K").map(String::as_str), Some("new"));
    // Two sets of one name leave one variable (the greater value, as Convex's sorted batch).
    app.update_environment_variables(vec![set("K", "b"), set("K", "a")]).unwrap();
    assert_eq!(app.environment_variables().len(), 1);
    assert_eq!(app.environment_variables()["K"], "b");
}

#[test]
fn invalid_names_values_and_limits_are_refused_with_convex_codes_and_change_nothing() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence, 1);
    app.update_environment_variables(vec![set("_LEADING_UNDERSCORE", "ok"), set(&"A".repeat(256), "ok")]).unwrap();
    let refused = |changes: Vec<EnvVarChange>| app.update_environment_variables(changes).unwrap_err();

    let error = refused(vec![set("GOOD", "1"), set("1BAD", "x")]);
    assert_eq!(error.short, "EnvironmentVariableNameInvalid");
    assert_eq!(
        error.message,
        "The environment variable name 1BAD is invalid. Environment variable names must begin with a letter and may only \
         include characters a-z, A-Z, 0-9, and underscores."
    );
    for bad in ["", "A-B", "A B", "É"] {
        assert_eq!(refused(vec![set(bad, "x")]).short, "EnvironmentVariableNameInvalid", "{bad:?}");
    }
    assert_eq!(refused(vec![remove("no-dash")]).short, "EnvironmentVariableNameInvalid");
    assert_eq!(refused(vec![set(&"A".repeat(257), "x")]).short, "EnvironmentVariableNameTooLong");

    let error = refused(vec![set("BIG", &"x".repeat(ENV_VAR_VALUE_MAX_SIZE + 1))]);
    assert_eq!(error.short, "EnvironmentVariableValueTooLarge");
    assert_eq!(error.message, "The environment variable value is 8193 bytes, which is too large. (max size: 8192 bytes)");

    let many = (0..ENV_VAR_LIMIT - 1).map(|i| set(&format!("N{i}"), "1")).collect();
    let error = refused(many);
    assert_eq!((error.short, error.message.as_str()), ("EnvVarLimitMet", "The environment variable limit (512) has been met."));

    let big = (0..64).map(|i| set(&format!("V{i}"), &"x".repeat(ENV_VAR_VALUE_MAX_SIZE))).collect();
    let error = refused(big);
    assert_eq!(error.short, "EnvVarTotalSizeLimitMet");
    assert!(error.message.ends_with("exceeds the limit (524288 bytes)."), "{}", error.message);

    let names: Vec<String> = app.environment_variables().into_keys().collect();
    assert_eq!(names, vec!["A".repeat(256), "_LEADING_UNDERSCORE".into()]);
}

#[test]
fn the_deployment_urls_are_built_in_and_cannot_be_set() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence, 1);
    app.deploy_push_request(&fixture()).unwrap();
    assert_eq!(read_env(&app, "CONVEX_SITE_URL"), Json::Null);
    app.set_canonical_urls("http://127.0.0.1:3210", "http://127.0.0.1:3211");
    assert_eq!(read_env(&app, "CONVEX_CLOUD_URL"), "http://127.0.0.1:3210");
    assert_eq!(read_env(&app, "CONVEX_SITE_URL"), "http://127.0.0.1:3211");
    let error = app.update_environment_variables(vec![set("CONVEX_SITE_URL", "x")]).unwrap_err();
    assert_eq!(error.short, "EnvVarNameForbidden");
    assert_eq!(error.message, r#"Environment variable with name "CONVEX_SITE_URL" is built-in and cannot be overridden"#);
    // Built-ins are not the deployment's variables: `env list` does not show them.
    assert!(app.environment_variables().is_empty());
    app.update_environment_variables(vec![set("OWN", "1")]).unwrap();
    assert_eq!(read_env(&app, "CONVEX_SITE_URL"), "http://127.0.0.1:3211", "an update keeps the built-ins");
}
