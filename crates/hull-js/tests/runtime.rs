//! Runs the real CLI bundle of tests/projects/basic (tests/fixtures/basic.push.json, made by
//! scripts/gen-fixtures.sh) against a hull-db database on MemoryPersistence.

use std::sync::Arc;
use std::time::Duration;

use hull_db::{Database, Schema};
use hull_js::{
    FunctionOutcome, JsError, JsRuntime, LogLevel, ModuleMap, ModuleSource, PushRequest,
    RuntimeConfig, UdfType, Visibility,
};
use hull_store::MemoryPersistence;
use serde_json::{Value as Json, json};

const BASIC: &str = include_str!("fixtures/basic.push.json");

struct Deployment {
    db: Database,
    rt: JsRuntime,
}

fn push_request() -> PushRequest {
    PushRequest::parse(BASIC).expect("fixture parses")
}

fn deployment_with(config: RuntimeConfig) -> Deployment {
    let push = push_request();
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    // Apply the schema the way a push does: evaluate schema.js, activate it, create indexes.
    let schema_json = JsRuntime::evaluate_schema(
        push.schema.as_ref().expect("fixture has a schema"),
        RuntimeConfig::default(),
    )
    .unwrap();
    let schema = Schema::parse(&schema_json).unwrap();
    db.run(0, |tx| {
        tx.set_schema(Some(schema.clone()))?;
        for table in schema.tables.values() {
            for index in &table.indexes {
                tx.create_index(&table.name, &index.name, &index.fields)?;
            }
        }
        Ok(())
    })
    .unwrap();
    let rt = JsRuntime::new(ModuleMap::new(push.modules), config).unwrap();
    Deployment { db, rt }
}

fn deployment() -> Deployment {
    deployment_with(RuntimeConfig::default())
}

impl Deployment {
    fn query_outcome(&mut self, path: &str, args: Json) -> FunctionOutcome {
        let mut tx = self.db.begin();
        self.rt.run_query(path, &args, &mut tx).unwrap()
    }

    fn mutation_outcome(&mut self, path: &str, args: Json) -> FunctionOutcome {
        let mut tx = self.db.begin();
        let outcome = self.rt.run_mutation(path, &args, &mut tx).unwrap();
        if outcome.result.is_ok() {
            self.db.commit(tx).unwrap();
        }
        outcome
    }

    fn query(&mut self, path: &str, args: Json) -> Json {
        match self.query_outcome(path, args).result {
            Ok(value) => value.to_json(),
            Err(e) => panic!("{path} failed: {e}"),
        }
    }

    fn mutation(&mut self, path: &str, args: Json) -> Json {
        match self.mutation_outcome(path, args).result {
            Ok(value) => value.to_json(),
            Err(e) => panic!("{path} failed: {e}"),
        }
    }

    fn query_err(&mut self, path: &str, args: Json) -> JsError {
        self.query_outcome(path, args)
            .result
            .expect_err("expected an error")
    }

    fn mutation_err(&mut self, path: &str, args: Json) -> JsError {
        self.mutation_outcome(path, args)
            .result
            .expect_err("expected an error")
    }

    fn channel(&mut self, name: &str) -> String {
        self.mutation("channels:create", json!({ "name": name }))
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[test]
fn push_request_lists_the_bundled_modules() {
    let push = push_request();
    let paths: Vec<&str> = push.modules.iter().map(|m| m.path.as_str()).collect();
    for expected in [
        "channels.js",
        "crons.js",
        "http.js",
        "messages.js",
        "profiles.js",
        "util.js",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert!(
        paths.iter().any(|p| p.starts_with("_deps/")),
        "shared chunks are pushed as _deps/*"
    );
    assert!(
        push.modules
            .iter()
            .all(|m| m.environment == "isolate" && m.source_map.is_some())
    );
    assert_eq!(push.udf_server_version.as_deref(), Some("1.48.0"));
    assert_eq!(push.schema.as_ref().unwrap().path, "schema.js");
}

#[test]
fn analysis_finds_every_function_route_and_cron() {
    let mut d = deployment();
    let modules = d.rt.analyze().unwrap();
    let mut functions: Vec<(String, UdfType, Option<Visibility>)> = modules
        .iter()
        .flat_map(|m| {
            m.functions
                .iter()
                .map(|f| (f.path.clone(), f.udf_type, f.visibility))
        })
        .collect();
    functions.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(&str, UdfType, Option<Visibility>)> = vec![
        ("channels:all", UdfType::Query, Some(Visibility::Public)),
        (
            "channels:create",
            UdfType::Mutation,
            Some(Visibility::Public),
        ),
        ("channels:get", UdfType::Query, Some(Visibility::Public)),
        (
            "channels:normalize",
            UdfType::Query,
            Some(Visibility::Public),
        ),
        ("channels:page", UdfType::Query, Some(Visibility::Public)),
        (
            "channels:remove",
            UdfType::Mutation,
            Some(Visibility::Public),
        ),
        (
            "channels:rename",
            UdfType::Mutation,
            Some(Visibility::Public),
        ),
        (
            "channels:replace",
            UdfType::Mutation,
            Some(Visibility::Public),
        ),
        (
            "messages:countByAuthor",
            UdfType::Query,
            Some(Visibility::Internal),
        ),
        ("messages:list", UdfType::Query, Some(Visibility::Public)),
        ("messages:send", UdfType::Mutation, Some(Visibility::Public)),
        ("profiles:check", UdfType::Query, Some(Visibility::Public)),
        ("profiles:latest", UdfType::Action, Some(Visibility::Public)),
    ];
    for (path, kind, visibility) in &expected {
        assert!(
            functions
                .iter()
                .any(|(p, k, v)| p == path && k == kind && v == visibility),
            "{path} {kind:?} {visibility:?} not in {functions:#?}"
        );
    }
    let util: Vec<&str> = functions
        .iter()
        .filter(|f| f.0.starts_with("util:"))
        .map(|f| f.0.as_str())
        .collect();
    assert!(
        util.contains(&"util:bump") && util.contains(&"util:spin"),
        "{util:?}"
    );

    let send = modules
        .iter()
        .flat_map(|m| &m.functions)
        .find(|f| f.path == "messages:send")
        .unwrap();
    let args: Json = serde_json::from_str(send.args.as_deref().unwrap()).unwrap();
    assert_eq!(
        args,
        json!({"type":"object","value":{
            "author":{"fieldType":{"type":"string"},"optional":false},
            "message":{"fieldType":{"type":"object","value":{
                "body":{"fieldType":{"type":"string"},"optional":false},
                "channel":{"fieldType":{"tableName":"channels","type":"id"},"optional":false}}},"optional":false}}})
    );
    assert_eq!(send.returns, None);
    let count = modules
        .iter()
        .flat_map(|m| &m.functions)
        .find(|f| f.path == "messages:countByAuthor")
        .unwrap();
    assert_eq!(count.returns.as_deref(), Some(r#"{"type":"number"}"#));
    let pos = send.pos.as_ref().expect("handler positions are known");
    assert_eq!(pos.file_name, "messages.js");

    let http = modules.iter().find(|m| m.path == "http.js").unwrap();
    let routes: Vec<(&str, &str)> = http
        .http_routes
        .as_ref()
        .unwrap()
        .iter()
        .map(|r| (r.path.as_str(), r.method.as_str()))
        .collect();
    assert_eq!(
        routes,
        vec![
            ("/boom", "GET"),
            ("/channels", "GET"),
            ("/channels", "POST"),
            ("/echo", "POST"),
            ("/form", "POST"),
            ("/guarded", "GET"),
            ("/hello", "GET"),
            ("/proxy", "GET"),
            ("/stream", "GET"),
            ("/transform", "GET"),
            ("/files/*", "POST")
        ]
    );
    assert!(
        http.functions.is_empty(),
        "HTTP actions are only reachable through the router"
    );

    let crons = modules
        .iter()
        .find(|m| m.path == "crons.js")
        .unwrap()
        .crons
        .clone()
        .unwrap();
    assert_eq!(crons["count alice"]["name"], "messages:countByAuthor");
    assert_eq!(
        crons["count alice"]["schedule"],
        json!({"type":"interval","minutes":5})
    );
    assert_eq!(
        crons["nightly count"]["schedule"],
        json!({"type":"daily","hourUTC":3,"minuteUTC":30})
    );
}

#[test]
fn insert_then_list_with_index_and_take() {
    let mut d = deployment();
    let general = d.channel("general");
    let random = d.channel("random");
    for (i, body) in ["one", "two", "three"].iter().enumerate() {
        let id = d.mutation(
            "messages:send",
            json!({ "message": { "channel": general, "body": body }, "author": format!("u{i}") }),
        );
        assert!(id.as_str().unwrap().len() > 20);
    }
    d.mutation(
        "messages:send",
        json!({ "message": { "channel": random, "body": "elsewhere" }, "author": "x" }),
    );

    let list = d.query("messages:list", json!({ "channel": general }));
    let bodies: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec!["three", "two", "one"],
        "desc order by _creationTime within the channel"
    );
    assert!(list[0]["_id"].is_string() && list[0]["_creationTime"].is_number());

    let two = d.query("messages:list", json!({ "channel": general, "limit": 2.0 }));
    assert_eq!(two.as_array().unwrap().len(), 2);

    let count = d.query_outcome("messages:countByAuthor", json!({ "author": "u1" }));
    assert_eq!(count.result.unwrap().to_json(), json!(1.0));
}

#[test]
fn mutation_logs_are_captured_with_levels() {
    let mut d = deployment();
    let general = d.channel("general");
    let outcome = d.mutation_outcome(
        "messages:send",
        json!({ "message": { "channel": general, "body": "hello" }, "author": "dave" }),
    );
    assert!(outcome.result.is_ok());
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(outcome.logs[0].level, LogLevel::Log);
    assert_eq!(
        outcome.logs[0].messages,
        vec!["sending", "{ author: 'dave', len: 5 }"]
    );

    let outcome = d.query_outcome("util:logs", json!({}));
    let lines: Vec<(LogLevel, String)> = outcome
        .logs
        .iter()
        .map(|l| (l.level, l.messages.join(" ")))
        .collect();
    assert_eq!(
        lines,
        vec![
            (LogLevel::Log, "log 1 { a: [ 1, 2 ] }".to_owned()),
            (LogLevel::Info, "info".to_owned()),
            (LogLevel::Warn, "warn".to_owned()),
            (LogLevel::Error, "error e1".to_owned()),
            (LogLevel::Debug, "debug".to_owned()),
        ]
    );
}

#[test]
fn get_patch_replace_delete() {
    let mut d = deployment();
    let id = d.channel("general");
    let doc = d.query("channels:get", json!({ "id": id }));
    assert_eq!(doc["name"], "general");
    assert_eq!(doc["_id"], json!(id));

    let renamed = d.mutation("channels:rename", json!({ "id": id, "name": "lobby" }));
    assert_eq!(renamed["name"], "lobby");
    assert_eq!(
        d.query("channels:get", json!({ "id": id }))["name"],
        "lobby"
    );

    let replaced = d.mutation("channels:replace", json!({ "id": id, "name": "hall" }));
    assert_eq!(replaced["name"], "hall");
    assert_eq!(
        replaced["_creationTime"], doc["_creationTime"],
        "replace keeps system fields"
    );

    // patch with `undefined` removes a field
    let msg = d.mutation(
        "messages:send",
        json!({ "message": { "channel": id, "body": "hi" }, "author": "a" }),
    );
    let edited = d.mutation("util:editMessage", json!({ "id": msg, "body": "hello" }));
    assert_eq!(edited["edited"], json!(true));
    assert_eq!(edited["body"], "hello");
    let unedited = d.mutation("util:editMessage", json!({ "id": msg }));
    assert!(unedited.get("edited").is_none(), "{unedited}");

    let after_delete = d.mutation("channels:remove", json!({ "id": id }));
    assert_eq!(after_delete, Json::Null);
    assert_eq!(d.query("channels:get", json!({ "id": id })), Json::Null);

    // counters: withIndex + unique + patch
    assert_eq!(d.mutation("util:bump", json!({ "name": "c" })), json!(1.0));
    assert_eq!(d.mutation("util:bump", json!({ "name": "c" })), json!(2.0));
}

#[test]
fn for_await_iteration_and_first() {
    let mut d = deployment();
    for name in ["a", "b", "c"] {
        d.channel(name);
    }
    assert_eq!(
        d.query("channels:all", json!({})),
        json!({ "names": ["a", "b", "c"], "first": "a" })
    );
}

#[test]
fn pagination_walks_all_pages() {
    let mut d = deployment();
    let names: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
    for name in &names {
        d.channel(name);
    }
    let mut cursor = Json::Null;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = d.query(
            "channels:page",
            json!({ "paginationOpts": { "numItems": 3.0, "cursor": cursor } }),
        );
        pages += 1;
        for doc in page["page"].as_array().unwrap() {
            seen.push(doc["name"].as_str().unwrap().to_owned());
        }
        if page["isDone"] == json!(true) {
            break;
        }
        cursor = page["continueCursor"].clone();
        assert!(cursor.is_string());
        assert!(pages < 10);
    }
    assert_eq!(seen, names);
    assert_eq!(pages, 3);
}

#[test]
fn normalize_id() {
    let mut d = deployment();
    let channel = d.channel("general");
    assert_eq!(
        d.query(
            "channels:normalize",
            json!({ "table": "channels", "id": channel })
        ),
        json!(channel)
    );
    assert_eq!(
        d.query(
            "channels:normalize",
            json!({ "table": "messages", "id": channel })
        ),
        Json::Null
    );
    assert_eq!(
        d.query(
            "channels:normalize",
            json!({ "table": "channels", "id": "garbage" })
        ),
        Json::Null
    );
}

#[test]
fn convex_error_data_survives() {
    let mut d = deployment();
    let general = d.channel("general");
    let error = d.mutation_err(
        "messages:send",
        json!({ "message": { "channel": general, "body": "  " }, "author": "a" }),
    );
    assert_eq!(
        error.message,
        r#"Uncaught ConvexError: {"code":"EMPTY_BODY","message":"body must not be empty"}"#
    );
    assert_eq!(
        error.data.unwrap().to_json(),
        json!({ "code": "EMPTY_BODY", "message": "body must not be empty" })
    );

    let error = d.mutation_err("util:throwsData", json!({ "code": 7.0 }));
    let data = error.data.unwrap().to_json();
    assert_eq!(data["code"], json!(7.0));
    assert_eq!(data["tags"], json!(["a", "b"]));
    assert_eq!(
        data["big"],
        hull_values::Value::Int64(7).to_json(),
        "bigints survive as $integer"
    );
    // The failed mutation wrote nothing.
    assert_eq!(
        d.query("messages:list", json!({ "channel": general })),
        json!([])
    );
}

#[test]
fn thrown_errors_are_uncaught_errors_with_a_stack() {
    let mut d = deployment();
    let error = d.query_err("util:throws", json!({}));
    assert_eq!(error.message, "Uncaught Error: boom");
    assert_eq!(error.data, None);
    let stack = error.stack.clone().expect("a stack");
    // Frames are mapped through the bundle's source map back to the TypeScript source.
    assert!(stack.contains("(../convex/util.ts:"), "{stack}");
    let handler_line = include_str!("projects/basic/convex/util.ts")
        .lines()
        .position(|l| l.contains("throw new Error(\"boom\")"))
        .unwrap()
        + 1;
    assert!(
        stack.contains(&format!("../convex/util.ts:{handler_line}:")),
        "line {handler_line} in {stack}"
    );
    assert!(error.to_string().starts_with("Uncaught Error: boom\n"));
}

#[test]
fn syscall_errors_can_be_caught_by_user_code() {
    let mut d = deployment();
    let caught = d.query("util:catchesSyscallError", json!({}));
    let caught = caught.as_str().unwrap();
    assert!(
        caught.starts_with("caught: Invalid argument `id` for `db.get`"),
        "{caught}"
    );
}

#[test]
fn argument_validation_errors() {
    let mut d = deployment();
    let general = d.channel("general");
    let error = d.mutation_err(
        "messages:send",
        json!({ "message": { "channel": general, "body": 42.0 }, "author": "a" }),
    );
    assert_eq!(
        error.message,
        "ArgumentValidationError: Value does not match validator.\nPath: .message.body\nValue: 42\nValidator: v.string()"
    );
    let error = d.mutation_err(
        "messages:send",
        json!({ "message": { "channel": general, "body": "x" } }),
    );
    assert_eq!(
        error.message,
        format!(
            "ArgumentValidationError: Object is missing the required field `author`. Consider wrapping the field validator in `v.optional(...)` if this is expected.\n\nObject: {{message: {{body: \"x\", channel: \"{general}\"}}}}\nValidator: v.object({{author: v.string(), message: v.object({{body: v.string(), channel: v.id(\"channels\")}})}})"
        )
    );
    let error = d.mutation_err("channels:create", json!({ "name": "x", "extra": true }));
    assert_eq!(
        error.message,
        "ArgumentValidationError: Object contains extra field `extra` that is not in the validator.\n\nObject: {extra: true, name: \"x\"}\nValidator: v.object({name: v.string()})"
    );
    // An ID of the wrong table.
    let msg = d.mutation(
        "messages:send",
        json!({ "message": { "channel": general, "body": "x" }, "author": "a" }),
    );
    let error = d.query_err("channels:get", json!({ "id": msg }));
    assert_eq!(
        error.message,
        format!(
            "ArgumentValidationError: Value does not match validator.\nPath: .id\nValue: \"{}\"\nValidator: v.id(\"channels\")",
            msg.as_str().unwrap()
        )
    );
    // The user code never ran: nothing was written.
    assert_eq!(
        d.query("channels:all", json!({}))["names"],
        json!(["general"])
    );
}

#[test]
fn all_value_types_round_trip() {
    let mut d = deployment();
    let args = json!({
        "i": { "$integer": "KgAAAAAAAAA=" },
        "f": 1.5,
        "b": { "$bytes": "AQID" },
        "l": "b",
        "arr": [1.0, 2.0],
        "rec": { "x": true },
        "n": null,
        "any": { "nested": [{ "$integer": "AQAAAAAAAAA=" }] },
    });
    assert_eq!(d.query("util:values", args.clone()), args);
}

#[test]
fn return_validation_and_non_convex_returns() {
    let mut d = deployment();
    let error = d.query_err("util:badReturn", json!({}));
    assert_eq!(
        error.message,
        "ReturnsValidationError: Value does not match validator.\n\nValue: 42\nValidator: v.string()"
    );
    let error = d.query_err("util:returnsDate", json!({}));
    assert!(
        error.message.starts_with("Uncaught Error: "),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("is not a supported Convex type"),
        "{}",
        error.message
    );
}

#[test]
fn queries_cannot_write() {
    let mut d = deployment();
    // The library gives queries a reader without `insert`.
    let error = d.query_err("util:writeInQuery", json!({}));
    assert!(
        error.message.starts_with("Uncaught TypeError: "),
        "{}",
        error.message
    );
    // And the host refuses the syscall itself.
    let error = d.query_err("util:rawInsertInQuery", json!({}));
    assert_eq!(
        error.message,
        "Uncaught Error: 1.0/insert (`db.insert`) is not allowed in a query: only mutations can write to the database."
    );
    assert_eq!(d.query("channels:all", json!({}))["names"], json!([]));
}

#[test]
fn kind_mismatch_and_unknown_functions() {
    let mut d = deployment();
    let error = d.query_err("channels:create", json!({ "name": "x" }));
    assert_eq!(
        error.message,
        "Trying to execute channels:create as Query, but it is defined as Mutation."
    );
    let error = d.query_err("channels:nope", json!({}));
    assert!(
        error
            .message
            .starts_with("Could not find function for 'channels:nope'"),
        "{}",
        error.message
    );
    let error = d.query_err("nope:list", json!({}));
    assert!(
        error
            .message
            .starts_with("Could not find function for 'nope:list'"),
        "{}",
        error.message
    );
}

#[test]
fn auth_identity_is_null_without_auth() {
    let mut d = deployment();
    assert_eq!(d.query("util:whoami", json!({})), Json::Null);
}

#[test]
fn queries_are_deterministic() {
    let mut d = deployment();
    for name in ["a", "b"] {
        d.channel(name);
    }
    let first = serde_json::to_string(&d.query("util:nondeterminism", json!({}))).unwrap();
    let second = serde_json::to_string(&d.query("util:nondeterminism", json!({}))).unwrap();
    assert_eq!(first, second, "same snapshot and args: byte-identical");
    let value: Json = serde_json::from_str(&first).unwrap();
    let now = value["now"].as_f64().unwrap();
    let snapshot_ms = (d.db.latest_ts().0 / 1_000_000) as f64;
    assert_eq!(now, snapshot_ms, "Date.now() is the snapshot time");
    assert_eq!(
        value["encoded"],
        json!([104.0, 195.0, 169.0, 108.0, 108.0, 111.0])
    );
    assert_eq!(value["decoded"], "hi");
    let random = value["random"].as_array().unwrap();
    assert_ne!(random[0], random[1]);
    assert!(
        random
            .iter()
            .all(|r| (0.0..1.0).contains(&r.as_f64().unwrap()))
    );
    let a = serde_json::to_string(&d.query("channels:all", json!({}))).unwrap();
    let b = serde_json::to_string(&d.query("channels:all", json!({}))).unwrap();
    assert_eq!(a, b);
}

#[test]
fn infinite_loop_hits_the_time_limit_and_the_runtime_recovers() {
    let mut d = deployment_with(RuntimeConfig {
        user_time_limit: Duration::from_millis(200),
        ..RuntimeConfig::default()
    });
    d.channel("general");
    let started = std::time::Instant::now();
    let error = d.query_err("util:spin", json!({}));
    assert_eq!(
        error.message,
        "Function execution timed out (maximum duration: 200ms)"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        d.query("channels:all", json!({}))["names"],
        json!(["general"])
    );
}

#[test]
fn deep_recursion_is_a_clear_error() {
    let mut d = deployment();
    let error = d.query_err("util:recurse", json!({}));
    assert_eq!(
        error.message,
        "Uncaught RangeError: Maximum call stack size exceeded"
    );
    assert_eq!(d.query("util:whoami", json!({})), Json::Null);
}

#[test]
fn huge_allocation_hits_the_memory_limit_and_the_runtime_recovers() {
    let mut d = deployment_with(RuntimeConfig {
        memory_limit: 32 << 20,
        ..RuntimeConfig::default()
    });
    let error = d.query_err("util:hog", json!({}));
    assert_eq!(
        error.message,
        "JavaScript execution ran out of memory (maximum memory usage: 32 MB)"
    );
    d.channel("after");
    assert_eq!(
        d.query("channels:all", json!({}))["names"],
        json!(["after"])
    );
}

#[test]
fn a_promise_that_never_resolves_is_an_error() {
    let mut d = deployment();
    let error = d.query_err("util:neverResolves", json!({}));
    assert!(
        error
            .message
            .starts_with("Returned promise will never resolve"),
        "{}",
        error.message
    );
    assert_eq!(d.query("util:whoami", json!({})), Json::Null);
}

#[test]
fn zod_validates_inside_a_query() {
    let mut d = deployment();
    let ok = d.query(
        "profiles:check",
        json!({ "profile": { "handle": "ada_l", "age": 36.0, "links": ["https://example.com"] } }),
    );
    assert_eq!(
        ok,
        json!({ "ok": true, "value": { "handle": "ada_l", "age": 36.0, "links": ["https://example.com"] } })
    );
    let bad = d.query(
        "profiles:check",
        json!({ "profile": { "handle": "A", "links": ["nope"] } }),
    );
    assert_eq!(bad["ok"], json!(false));
    let issues: Vec<&str> = bad["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        issues.iter().any(|i| i.starts_with("handle: ")),
        "{issues:?}"
    );
    assert!(
        issues.iter().any(|i| i.starts_with("links.0: ")),
        "{issues:?}"
    );
}

#[test]
fn a_module_that_throws_at_import_time() {
    let modules = ModuleMap::new([
        ModuleSource {
            path: "bad.js".into(),
            source: "throw new Error('import boom');\nexport const x = 1;".into(),
            source_map: None,
            environment: "isolate".into(),
        },
        ModuleSource {
            path: "syscall.js".into(),
            source: "Convex.syscall('1.0/db/normalizeId', '{}');".into(),
            source_map: None,
            environment: "isolate".into(),
        },
    ]);
    let mut rt = JsRuntime::new(modules, RuntimeConfig::default()).unwrap();
    let error = rt.analyze().unwrap_err();
    assert!(
        error
            .message
            .starts_with("Failed to analyze bad.js: Uncaught Error: import boom"),
        "{}",
        error.message
    );
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let mut tx = db.begin();
    let outcome = rt.run_query("syscall:x", &json!({}), &mut tx).unwrap();
    let message = outcome.result.unwrap_err().message;
    assert!(message.starts_with("Failed to analyze syscall.js: Uncaught Error: Can't use 1.0/db/normalizeId at import time"), "{message}");

    // The host prelude is not importable by user code.
    let modules = ModuleMap::new([ModuleSource {
        path: "sneaky.js".into(),
        source: "import install from 'hull:prelude';\nexport const x = install;".into(),
        source_map: None,
        environment: "isolate".into(),
    }]);
    let mut rt = JsRuntime::new(modules, RuntimeConfig::default()).unwrap();
    let error = rt.analyze().unwrap_err();
    assert!(
        error.message.starts_with("Failed to analyze sneaky.js: "),
        "{}",
        error.message
    );
    assert!(error.message.contains("hull:prelude"), "{}", error.message);
}

#[test]
fn web_apis() {
    let mut d = deployment();
    let first = d.query("util:web", json!({ "url": "../path?x=1#frag" }));
    assert_eq!(first["href"], "https://example.com/path?x=1&q=a+b%26c#frag");
    assert_eq!(first["host"], "example.com");
    assert_eq!(first["pathname"], "/path");
    assert_eq!(first["search"], "?x=1&q=a+b%26c");
    assert_eq!(first["params"], "x=1&y=%C3%A9");
    let uuid = first["uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");
    assert_eq!(first["btoa"], "aGk=");
    assert_eq!(first["atob"], "hi");
    assert_eq!(first["structured"], json!({ "a": [1.0, { "b": 2.0 }] }));
    assert_eq!(first["dateCall"], "string");
    assert_eq!(first["dateInstance"], true);
    assert_eq!(first["processEnv"], "object");
    // Seeded per request: the same call at the same snapshot gives the same randomness.
    assert_eq!(
        d.query("util:web", json!({ "url": "../path?x=1#frag" })),
        first
    );
    let error = d.query_err("util:web", json!({ "url": "http://[bad" }));
    assert!(
        error.message.starts_with("Uncaught TypeError: Invalid URL"),
        "{}",
        error.message
    );
}

#[test]
fn module_state_persists_only_in_reused_contexts() {
    let mut d = deployment();
    assert_eq!(d.query("util:moduleState", json!({})), json!(1.0));
    assert_eq!(d.query("util:moduleState", json!({})), json!(2.0));

    let mut fresh = deployment_with(RuntimeConfig {
        reuse_context: false,
        ..RuntimeConfig::default()
    });
    for _ in 0..3 {
        assert_eq!(fresh.query("util:moduleState", json!({})), json!(1.0));
    }
    // Fresh contexts still run everything else (modules come from the bytecode cache).
    let general = fresh.channel("general");
    fresh.mutation(
        "messages:send",
        json!({ "message": { "channel": general, "body": "hi" }, "author": "a" }),
    );
    assert_eq!(
        fresh
            .query("messages:list", json!({ "channel": general }))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Module-level Date.now()/Math.random() come from the import phase, fixed per runtime.
    let first = fresh.query("util:importTimeValues", json!({}));
    assert_eq!(fresh.query("util:importTimeValues", json!({})), first);
    let error = fresh.query_err("util:throws", json!({}));
    assert!(
        error.stack.unwrap().contains("../convex/util.ts:"),
        "stack traces survive bytecode"
    );
}

#[test]
fn concurrent_mutations_retry_on_conflicts() {
    let d = deployment();
    let db = d.db.clone();
    let modules = ModuleMap::new(push_request().modules);
    let workers: Vec<hull_js::JsWorker> = (0..3)
        .map(|i| {
            hull_js::JsWorker::spawn(
                &format!("js-{i}"),
                modules.clone(),
                RuntimeConfig::default(),
            )
            .unwrap()
        })
        .collect();
    std::thread::scope(|scope| {
        for worker in &workers {
            let db = db.clone();
            scope.spawn(move || {
                for _ in 0..10 {
                    let db = db.clone();
                    let (outcome, ts) = worker
                        .run(move |rt| {
                            rt.execute_mutation(&db, "util:bump", &json!({ "name": "shared" }), 20)
                                .unwrap()
                        })
                        .unwrap();
                    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
                    assert!(ts.is_some());
                }
            });
        }
    });
    let (outcome, _tx) = workers[0]
        .run({
            let db = db.clone();
            move |rt| {
                rt.execute_query(
                    &db,
                    "messages:countByAuthor",
                    &json!({ "author": "nobody" }),
                )
                .unwrap()
            }
        })
        .unwrap();
    assert_eq!(outcome.result.unwrap().to_json(), json!(0.0));
    let mut check = deployment_with(RuntimeConfig::default());
    check.db = db;
    assert_eq!(
        check.mutation("util:bump", json!({ "name": "shared" })),
        json!(31.0),
        "30 increments, none lost"
    );
}

#[test]
fn non_convex_return_values_are_clear_errors() {
    let mut d = deployment();
    let error = d.query_err("util:returnsFunction", json!({}));
    assert!(
        error.message.starts_with("Uncaught Error: ")
            && error.message.contains("is not a supported Convex type"),
        "{}",
        error.message
    );
    let error = d.query_err("util:returnsCycle", json!({}));
    // convexToJson recurses into the cycle until the stack limit stops it.
    assert_eq!(
        error.message,
        "Uncaught RangeError: Maximum call stack size exceeded"
    );
    assert_eq!(
        d.query("util:whoami", json!({})),
        Json::Null,
        "the runtime is still usable"
    );
}

#[test]
fn unawaited_writes_do_not_run_and_are_reported() {
    let mut d = deployment();
    let outcome = d.mutation_outcome("util:forgetsAwait", json!({ "name": "ghost" }));
    assert_eq!(outcome.result.unwrap().to_json(), json!("done"));
    let warnings: Vec<&LogLevel> = outcome.logs.iter().map(|l| &l.level).collect();
    assert_eq!(warnings, vec![&LogLevel::Warn]);
    assert_eq!(
        outcome.logs[0].messages[0],
        "1 unawaited operation: [1.0/insert]. Async operations should be awaited or they might not run."
    );
    assert_eq!(d.query("channels:all", json!({}))["names"], json!([]));
}

#[test]
fn transaction_limits_surface_as_errors() {
    // 16,000 inserts take a debug build on a loaded machine more than the 1 s a mutation gets;
    // this test is about the write limit, not the time limit.
    let mut d = deployment_with(RuntimeConfig { user_time_limit: std::time::Duration::from_secs(60), ..RuntimeConfig::default() });
    assert_eq!(
        d.mutation("util:readsAndWritesLots", json!({ "n": 50.0 })),
        json!(50.0)
    );
    let error = d.mutation_err("util:readsAndWritesLots", json!({ "n": 20000.0 }));
    assert!(
        error
            .message
            .starts_with("Uncaught Error: Too many documents written"),
        "{}",
        error.message
    );
}

#[test]
fn nothing_leaks_across_many_calls() {
    let mut d = deployment();
    let general = d.channel("general");
    d.mutation(
        "messages:send",
        json!({ "message": { "channel": general, "body": "hi" }, "author": "a" }),
    );
    for _ in 0..50 {
        d.query("messages:list", json!({ "channel": general }));
        d.query_err("util:throws", json!({}));
    }
    let before = d.rt.heap_size();
    for _ in 0..500 {
        d.query("messages:list", json!({ "channel": general }));
        d.query_err("util:throws", json!({}));
        d.mutation_err(
            "messages:send",
            json!({ "message": { "channel": general, "body": " " }, "author": "a" }),
        );
    }
    let after = d.rt.heap_size();
    assert!(
        after < before + (256 << 10),
        "heap grew from {before} to {after} bytes"
    );
}

#[test]
fn actions_run_queries_and_mutations_in_their_own_transactions() {
    let mut d = deployment();
    let general = d.channel("general");
    d.mutation(
        "messages:send",
        json!({ "message": { "channel": general, "body": "one" }, "author": "a" }),
    );

    let outcome =
        d.rt.run_action("profiles:latest", &json!({ "channel": general }), &d.db)
            .unwrap();
    assert_eq!(outcome.result.unwrap().to_json(), json!(1.0));

    // runMutation commits; the following runQuery sees the write; logs of nested calls are kept.
    let outcome =
        d.rt.run_action(
            "profiles:sendAndCount",
            &json!({ "channel": general, "body": "two" }),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({ "count": 2.0, "identity": null, "randomIsNumber": true })
    );
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(
        outcome.logs[0].messages,
        vec!["sending", "{ author: 'action', len: 3 }"]
    );
    assert_eq!(
        d.query("messages:list", json!({ "channel": general }))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A ConvexError thrown by the mutation reaches the action as a ConvexError with its data.
    let outcome =
        d.rt.run_action(
            "profiles:sendAndCount",
            &json!({ "channel": general, "body": "" }),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({
            "error": r#"{"code":"EMPTY_BODY","message":"body must not be empty"}"#,
            "data": { "code": "EMPTY_BODY", "message": "body must not be empty" },
            "isConvexError": true,
        })
    );

    // Argument validation and kind checks apply to actions too.
    let outcome =
        d.rt.run_action("profiles:latest", &json!({ "channel": 1.0 }), &d.db)
            .unwrap();
    assert!(
        outcome.result.unwrap_err().message.starts_with(
            "ArgumentValidationError: Value does not match validator.\nPath: .channel"
        )
    );
    let error = d.query_err("profiles:latest", json!({ "channel": general }));
    assert_eq!(
        error.message,
        "Trying to execute profiles:latest as Query, but it is defined as Action."
    );
    // Queries and mutations keep working on the same runtime.
    assert_eq!(
        d.query("messages:list", json!({ "channel": general }))
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn meta_metrics_and_count() {
    let mut d = deployment();
    for name in ["a", "b", "c"] {
        d.channel(name);
    }
    assert_eq!(
        d.query("util:meta", json!({})),
        json!({
            "fn": { "name": "util:meta", "componentPath": "", "type": "query", "visibility": "public" },
            "deployment": { "name": "hull", "region": null, "class": "s16" },
            "documentsRead": 3.0,
            "documentsWrittenRemaining": 16000.0,
            "count": 3.0,
            "collected": 3.0,
            "snapshotTsIsBigint": true,
        })
    );
}

#[test]
fn fetch_and_timers_are_refused_in_queries() {
    let mut d = deployment();
    assert_eq!(
        d.query("util:forbiddenApis", json!({})),
        json!({
            "errors": [
                "Can't use fetch() in queries and mutations. Please consider using an action.",
                "Can't use setTimeout in queries and mutations. Please consider using an action.",
            ],
            "perf": 0.0,
        })
    );
}

fn http(method: &str, path: &str, body: Option<&str>) -> hull_js::HttpRequest {
    hull_js::HttpRequest {
        method: method.into(),
        url: format!("http://127.0.0.1:3211{path}"),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.map(|b| b.as_bytes().to_vec()),
    }
}

#[test]
fn http_actions_route_requests_and_call_functions() {
    let mut d = deployment();
    let response =
        d.rt.run_http_action(&http("GET", "/hello", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello");
    assert_eq!(
        response.headers,
        vec![(
            "content-type".to_owned(),
            "text/plain;charset=UTF-8".to_owned()
        )]
    );

    let response =
        d.rt.run_http_action(&http("POST", "/files/a/b?q=x%20y", Some("12345")), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(response.status, 200);
    let body: Json = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body, json!({ "len": 5, "path": "/files/a/b", "q": "x y" }));
    assert!(
        response
            .headers
            .contains(&("x-custom".to_owned(), "1".to_owned()))
    );

    let response =
        d.rt.run_http_action(
            &http("POST", "/channels", Some(r#"{"name":"from-http"}"#)),
            &d.db,
        )
        .unwrap()
        .result
        .unwrap();
    assert_eq!(response.status, 201);
    let response =
        d.rt.run_http_action(&http("GET", "/channels", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    let body: Json = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({ "names": ["from-http"], "first": "from-http" })
    );
    assert_eq!(
        response.headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );

    let response =
        d.rt.run_http_action(&http("GET", "/nowhere", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(
        String::from_utf8(response.body).unwrap(),
        "No HttpAction routed for /nowhere"
    );

    let error =
        d.rt.run_http_action(&http("GET", "/boom", None), &d.db)
            .unwrap()
            .result
            .unwrap_err();
    assert_eq!(error.message, "Uncaught Error: http boom");
    assert!(error.stack.unwrap().contains("../convex/http.ts:"));
}

#[test]
fn environment_variables() {
    let mut d = deployment();
    assert_eq!(
        d.query("util:env", json!({ "name": "API_KEY" })),
        json!({ "value": null, "has": false, "keys": [] })
    );
    d.rt.set_environment_variables(
        [
            ("API_KEY".to_owned(), "secret".to_owned()),
            ("B".to_owned(), "2".to_owned()),
        ]
        .into(),
    );
    assert_eq!(
        d.query("util:env", json!({ "name": "API_KEY" })),
        json!({ "value": "secret", "has": true, "keys": ["API_KEY", "B"] })
    );
}

#[test]
fn breaking_out_of_a_stream_cleans_it_up() {
    let mut d = deployment();
    for name in ["a", "b", "c", "d"] {
        d.channel(name);
    }
    assert_eq!(d.query("util:firstTwoNames", json!({})), json!(["a", "b"]));
    assert_eq!(
        d.rt.last_syscalls(),
        vec![
            "1.0/queryStream",
            "1.0/queryStreamNext",
            "1.0/queryStreamNext",
            "1.0/queryCleanup"
        ]
    );
}

#[test]
fn syscall_traces_of_typical_functions() {
    let mut d = deployment();
    let general = d.channel("general");
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/insert"]);
    d.mutation(
        "messages:send",
        json!({ "message": { "channel": general, "body": "hi" }, "author": "a" }),
    );
    d.query("messages:list", json!({ "channel": general }));
    assert_eq!(
        d.rt.last_syscalls(),
        vec![
            "1.0/queryStream",
            "1.0/queryStreamNext",
            "1.0/queryStreamNext",
            "1.0/queryCleanup"
        ]
    );
    d.mutation("channels:rename", json!({ "id": general, "name": "x" }));
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/shallowMerge", "1.0/get"]);
    d.mutation("channels:replace", json!({ "id": general, "name": "y" }));
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/replace", "1.0/get"]);
    d.query(
        "channels:page",
        json!({ "paginationOpts": { "numItems": 1.0, "cursor": null } }),
    );
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/queryPage"]);
    d.query(
        "channels:normalize",
        json!({ "table": "channels", "id": general }),
    );
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/db/normalizeId"]);
    d.query("util:whoami", json!({}));
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/getUserIdentity"]);
    d.mutation("channels:remove", json!({ "id": general }));
    assert_eq!(d.rt.last_syscalls(), vec!["1.0/remove", "1.0/get"]);
}

#[test]
fn run_query_inside_a_mutation_shares_the_transaction() {
    let mut d = deployment();
    d.channel("existing");
    assert_eq!(
        d.mutation("util:createAndList", json!({ "name": "new" })),
        json!({ "names": ["existing", "new"], "nestedMutation": "ran" })
    );
    assert_eq!(
        d.query("channels:all", json!({}))["names"],
        json!(["existing", "new", "nested"])
    );
}

#[test]
fn actions_can_use_timers_within_their_time_limit() {
    let mut d = deployment();
    let outcome =
        d.rt.run_action("profiles:sleepy", &json!({ "ms": 30.0 }), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({ "ticks": 3.0, "waited": true })
    );

    let mut short = deployment_with(RuntimeConfig {
        action_time_limit: Duration::from_millis(100),
        ..RuntimeConfig::default()
    });
    let started = std::time::Instant::now();
    let outcome = short
        .rt
        .run_action("profiles:sleepy", &json!({ "ms": 10_000.0 }), &short.db)
        .unwrap();
    assert_eq!(
        outcome.result.unwrap_err().message,
        "Function execution timed out (maximum duration: 100ms)"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn malformed_syscalls_are_catchable_errors() {
    let mut d = deployment();
    let results = d.mutation("util:hostileSyscalls", json!({}));
    let results: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 11);
    assert!(results.iter().all(|r| *r != "ok"), "{results:#?}");
    assert!(
        results[0].starts_with("Invalid syscall arguments"),
        "{}",
        results[0]
    );
    assert_eq!(results[2], "Unknown operation 1.0/nope");
    assert_eq!(
        results[3],
        "Invalid arguments for 1.0/get: missing field `id`"
    );
    assert_eq!(
        results[5],
        "Query 99 not found (it was already cleaned up or finished)"
    );
    assert_eq!(results[9], "Unknown async operation 1.0/nope");
    assert_eq!(
        results[10],
        "Invalid arguments for 1.0/schedule: expected one of `name`, `reference` or `functionHandle`"
    );
    // Nothing was written by the refused inserts.
    assert_eq!(d.mutation("util:bump", json!({ "name": "z" })), json!(1.0));
}

#[test]
fn subtle_crypto_digest_and_hmac() {
    // Expected values: `sha256sum`/`sha1sum` of the text, and RFC 4231 test case 2 for HMAC.
    let mut d = deployment();
    assert_eq!(
        d.query(
            "util:subtleCrypto",
            json!({ "text": "what do ya want for nothing?" })
        ),
        json!({
            "sha256": "b381e7fec653fc3ab9b178272366b8ac87fed8d31cb25ed1d0e1f3318644c89c",
            "sha1": "8f820394f95335182045da24f34de52bf8bc3432",
            "hmac": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "verified": true,
            "tampered": false,
            "unsupported": "NotSupportedError: crypto.subtle.generateKey is not supported by this backend yet",
        })
    );
}

#[test]
fn structured_clone_and_abort_controller() {
    let mut d = deployment();
    assert_eq!(
        d.query("util:cloneAndEvents", json!({})),
        json!({
            "cycle": true,
            "sharedKept": true,
            "date": true,
            "map": true,
            "set": [1.0, 2.0],
            "bytes": [1.0, 2.0, 3.0],
            "cloneError": "DataCloneError",
            "aborted": true,
            "reason": "AbortError",
            "seen": ["abort"],
        })
    );
}

#[test]
fn nested_calls_are_depth_limited() {
    let mut d = deployment();
    assert_eq!(
        d.query("util:recursiveQuery", json!({ "n": 3.0 })),
        json!(3.0)
    );
    let error = d.query_err("util:recursiveQuery", json!({ "n": 50.0 }));
    assert_eq!(
        error.message,
        "Uncaught Error: Too many nested function calls (maximum depth: 8)"
    );
    assert_eq!(
        d.query("util:recursiveQuery", json!({ "n": 2.0 })),
        json!(2.0)
    );
}

#[test]
fn nested_mutations_roll_back_on_failure_and_callers_may_catch() {
    let mut d = deployment();
    assert_eq!(
        d.mutation("calls:nestedMutations", json!({})),
        json!({
            // The callee's ConvexError reaches the caller with its data.
            "caught": {
                "message": r#"{"code":"NOPE","name":"rolled-back"}"#,
                "data": { "code": "NOPE", "name": "rolled-back" },
                "isConvexError": true,
            },
            "badArgs": "ArgumentValidationError: Value does not match validator.",
            "wrongKind": "Trying to execute calls:names as Mutation, but it is defined as Query.",
            // Nested calls see the caller's and the successful callee's writes, not the failed one's.
            "seenByQuery": ["outer", "inner"],
            // useStaleSnapshot: Hull runs it in the caller's transaction (see run_udf).
            "stale": ["outer", "inner"],
            "innerName": "inner",
        })
    );
    // Committed: the caller's insert and the successful nested one, not the failed one.
    assert_eq!(d.query("calls:names", json!({})), json!(["outer", "inner"]));

    // A nested mutation that succeeded goes away with its failing caller.
    let error = d.mutation_err("calls:nestedThenFail", json!({}));
    assert_eq!(error.message, "Uncaught Error: caller fails");
    assert_eq!(d.query("calls:names", json!({})), json!(["outer", "inner"]));

    // Two levels: the middle mutation catches its callee's failure; only the middle's write stays.
    assert_eq!(
        d.mutation("calls:twoLevels", json!({})),
        json!(["outer", "inner", "two-middle"])
    );
    assert_eq!(
        d.query("calls:names", json!({})),
        json!(["outer", "inner", "two-middle"])
    );
}

#[test]
fn queries_may_only_run_queries() {
    let mut d = deployment();
    assert_eq!(
        d.query("calls:queryCallsTooMuch", json!({})),
        json!([
            "ctx.runMutation is not allowed in a query: only mutations and actions can run mutations.",
            "`useStaleSnapshot` is only supported in mutations, not queries.",
            "ctx.runAction is not allowed in a query: only actions can run actions.",
            // The library refuses this one itself, with the same text.
            "`useStaleSnapshot` is only supported in mutations, not queries.",
            "1.0/actions/query is only available in actions",
            "Invalid arguments for 1.0/runUdf: expected one of `name`, `reference` or `functionHandle`",
            "Invalid arguments for 1.0/runUdf: `args` must be an object",
            // The prelude's host ops are not reachable through Convex.asyncSyscall.
            "Unknown async operation hull/fetch",
        ])
    );
    assert_eq!(d.query("calls:names", json!({})), json!([]));
}

#[test]
fn actions_run_actions_each_in_its_own_execution() {
    let mut d = deployment();
    let outcome =
        d.rt.run_action("calls:outerAction", &json!({ "n": 1.0 }), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({
            "first": { "n": 1.0, "count": 1.0 },
            "second": { "n": 2.0, "count": 2.0 },
            // Calls started together run in FIFO order: the action before the query.
            "namesBefore": 2.0,
            "failed": { "data": { "negative": -1.0 }, "isConvexError": true },
            "wrongKind": "Trying to execute calls:names as Action, but it is defined as Query.",
        })
    );
    // The callees' logs are the caller's; each callee's mutation committed on its own, even
    // the one whose action failed afterwards (actions are not transactions).
    let logs: Vec<String> = outcome.logs.iter().map(|l| l.messages.join(" ")).collect();
    assert_eq!(
        logs,
        ["inner action 1", "inner action 2", "inner action -1"]
    );
    assert_eq!(
        d.query("calls:names", json!({})),
        json!(["from-action-1", "from-action-2", "from-action--1"])
    );

    let outcome =
        d.rt.run_action("calls:actionSyscallShapes", &json!({}), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!([
            r#""[\"from-action-1\",\"from-action-2\",\"from-action--1\"]""#,
            // A bare module name addresses its default export.
            "Could not find function for 'calls:default'. Did you forget to run `npx convex dev`?",
            "Invalid arguments for 1.0/actions/query: expected one of `name`, `reference` or `functionHandle`",
            "1.0/actions/query: component references address functions of components, and this deployment has no components (pushes with components are refused)",
            // Function handles work (see function_handles_call_the_function_they_name); this
            // one is malformed.
            r#"Invalid function handle for 1.0/actions/mutation: "function://x""#,
            "Invalid arguments for 1.0/actions/action: `args` must be an object",
            "Invalid arguments for 1.0/actions/action: `name` must be a string",
            "1.0/runUdf is only available in queries and mutations: actions use ctx.runQuery, ctx.runMutation and ctx.runAction (1.0/actions/*).",
        ])
    );

    let outcome =
        d.rt.run_action("calls:recursiveAction", &json!({ "n": 3.0 }), &d.db)
            .unwrap();
    assert_eq!(outcome.result.unwrap().to_json(), json!(3.0));
    let outcome =
        d.rt.run_action("calls:recursiveAction", &json!({ "n": 30.0 }), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap_err().message,
        "Uncaught Error: Too many nested function calls (maximum depth: 8)"
    );
    // The runtime stays usable.
    let outcome =
        d.rt.run_action("calls:recursiveAction", &json!({ "n": 2.0 }), &d.db)
            .unwrap();
    assert_eq!(outcome.result.unwrap().to_json(), json!(2.0));
}

/// How long the test server's /slow endpoint takes to answer.
const SLOW_RESPONSE: Duration = Duration::from_secs(3);

/// A minimal HTTP/1.1 server on 127.0.0.1 for fetch() tests: /echo, /bytes, /missing,
/// /redirect (to /echo), /big (16 MiB + 1) and /slow (3 s: far longer than every time limit
/// the tests set, so their bounds hold on a loaded machine). One thread per connection, `connection: close`.
fn start_http_server() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let target = parts.next().unwrap_or("").to_owned();
                let mut headers = serde_json::Map::new();
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        break;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        let name = name.trim().to_ascii_lowercase();
                        if name == "content-length" {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        headers.insert(name, Json::String(value.trim().to_owned()));
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let path = target.split('?').next().unwrap_or("").to_owned();
                let (status, content_type, extra, payload): (&str, &str, String, Vec<u8>) =
                    match path.as_str() {
                        "/echo" => (
                            "200 OK",
                            "application/json",
                            format!("x-echo-length: {}\r\n", body.len()),
                            json!({
                                "method": method,
                                "path": target,
                                "headers": headers,
                                "body": String::from_utf8_lossy(&body),
                                "bytes": body,
                            })
                            .to_string()
                            .into_bytes(),
                        ),
                        "/bytes" => (
                            "200 OK",
                            "application/octet-stream",
                            String::new(),
                            vec![0, 159, 146, 150, 255],
                        ),
                        "/redirect" => (
                            "302 Found",
                            "text/plain",
                            "location: /echo\r\n".into(),
                            Vec::new(),
                        ),
                        "/big" => (
                            "200 OK",
                            "application/octet-stream",
                            String::new(),
                            vec![0u8; (16 << 20) + 1],
                        ),
                        "/slow" => {
                            std::thread::sleep(SLOW_RESPONSE);
                            ("200 OK", "text/plain", String::new(), target.into_bytes())
                        }
                        _ => (
                            "404 Not Found",
                            "text/plain",
                            String::new(),
                            b"nothing here".to_vec(),
                        ),
                    };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                    payload.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&payload);
            });
        }
    });
    base
}

/// A URL on 127.0.0.1 where nothing listens.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn fetch_in_actions() {
    let base = start_http_server();
    let mut d = deployment();
    let outcome =
        d.rt.run_action(
            "calls:fetchAll",
            &json!({ "base": base, "closed": closed_url() }),
            &d.db,
        )
        .unwrap();
    let mut result = outcome.result.unwrap().to_json();
    // Three slow requests started together run in parallel (one after another would take 3x).
    let parallel_ms = result["parallelMs"].as_f64().unwrap();
    assert!(
        parallel_ms < 2.0 * SLOW_RESPONSE.as_millis() as f64,
        "fetches ran one after another: {parallel_ms} ms"
    );
    result.as_object_mut().unwrap().remove("parallelMs");
    let host = base.strip_prefix("http://").unwrap();
    for echoed in ["postText", "postBytes", "postBuffer"] {
        let headers = result[echoed]["headers"].as_object_mut().unwrap();
        let agent = headers.remove("user-agent").unwrap();
        assert!(agent.as_str().unwrap().starts_with("ureq/"), "{agent}");
    }
    let sent_headers = |extra: Json| {
        let mut headers = json!({
            "accept": "*/*",
            "accept-encoding": "gzip",
            "host": host,
        });
        headers
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        headers
    };
    assert_eq!(
        result,
        json!({
            "get": {
                "status": 200.0, "ok": true, "method": "GET", "path": "/echo?x=1",
                "xTest": "yes", "contentType": "application/json",
            },
            // A string body is UTF-8 with text/plain, like browsers.
            "postText": {
                "method": "POST", "path": "/echo", "body": "héllo",
                "bytes": [104.0, 195.0, 169.0, 108.0, 108.0, 111.0],
                "headers": sent_headers(json!({
                    "content-length": "6", "content-type": "text/plain;charset=UTF-8",
                })),
            },
            // Uint8Array body, headers given as pairs, a URL object as input.
            "postBytes": {
                "method": "PUT", "path": "/echo", "body": "\u{0}\u{1}\u{2}\u{FFFD}",
                "bytes": [0.0, 1.0, 2.0, 255.0],
                "headers": sent_headers(json!({
                    "content-length": "4", "content-type": "application/octet-stream",
                })),
            },
            // ArrayBuffer body through a Request object; no content-type is invented.
            "postBuffer": {
                "method": "PATCH", "path": "/echo", "body": "\t\u{8}",
                "bytes": [9.0, 8.0],
                "headers": sent_headers(json!({ "content-length": "2" })),
            },
            "postJson": "6",
            "binary": [0.0, 159.0, 146.0, 150.0, 255.0],
            "missing": { "status": 404.0, "ok": false, "statusText": "Not Found", "text": "nothing here" },
            "redirected": { "status": 200.0, "redirected": true, "path": "/echo", "url": true },
            "manual": { "status": 302.0, "location": "/echo" },
            "parallel": ["/slow?i=1", "/slow?i=2", "/slow?i=3"],
            "networkError": { "name": "TypeError", "isTypeError": true, "hasMessage": true },
            "badScheme": "TypeError: fetch failed: scheme 'ftp' is not supported by fetch()",
            "aborted": "AbortError",
        })
    );
    assert_eq!(
        d.mutation("calls:fetchInMutation", json!({})),
        json!("Can't use fetch() in queries and mutations. Please consider using an action.")
    );

    // HTTP actions fetch too (and run actions).
    let response =
        d.rt.run_http_action(
            &http("GET", &format!("/proxy?url={base}/echo"), None),
            &d.db,
        )
        .unwrap()
        .result
        .unwrap();
    assert_eq!(response.status, 200);
    let echoed: Json = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(echoed["body"], "via http action");
    assert_eq!(echoed["method"], "POST");
    let response =
        d.rt.run_http_action(
            &http("GET", &format!("/proxy?url={base}/missing"), None),
            &d.db,
        )
        .unwrap()
        .result
        .unwrap();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (404, &b"nothing here"[..])
    );
    let response =
        d.rt.run_http_action(&http("GET", "/proxy?action=5", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(
        serde_json::from_slice::<Json>(&response.body).unwrap(),
        json!({ "n": 5, "count": 1 })
    );
    let outcome =
        d.rt.run_http_action(
            &http("GET", &format!("/proxy?url={}", closed_url()), None),
            &d.db,
        )
        .unwrap();
    assert!(
        outcome
            .result
            .unwrap_err()
            .message
            .starts_with("Uncaught TypeError: fetch failed: "),
    );
}

#[test]
fn a_slow_fetch_ends_with_the_action_time_limit() {
    let base = start_http_server();
    let mut d = deployment_with(RuntimeConfig {
        action_time_limit: Duration::from_millis(100),
        ..RuntimeConfig::default()
    });
    // Load http.js first: the limit counts from the start of the request, after module load.
    d.rt.run_http_action(&http("GET", "/hello", None), &d.db)
        .unwrap()
        .result
        .unwrap();
    let started = std::time::Instant::now();
    let outcome =
        d.rt.run_http_action(
            &http("GET", &format!("/proxy?url={base}/slow"), None),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap_err().message,
        "Function execution timed out (maximum duration: 100ms)"
    );
    assert!(
        started.elapsed() < SLOW_RESPONSE / 2,
        "{:?}",
        started.elapsed()
    );
    // The runtime recovers.
    let response =
        d.rt.run_http_action(&http("GET", "/hello", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(response.body, b"hello");
}

#[test]
fn unhandled_promise_rejections_fail_the_request() {
    let mut d = deployment();
    let error = d.query_err("calls:unhandledRejection", json!({ "handleLater": false }));
    assert_eq!(
        error.message,
        "Uncaught Error: forgotten (an unhandled promise rejection)"
    );
    assert!(error.stack.unwrap().contains("calls.ts"));
    assert_eq!(
        d.query("calls:unhandledRejection", json!({ "handleLater": true })),
        json!("caught forgotten")
    );
    let outcome =
        d.rt.run_action("calls:unhandledInAction", &json!({}), &d.db)
            .unwrap();
    let error = outcome.result.unwrap_err();
    assert_eq!(
        error.message,
        r#"Uncaught ConvexError: {"why":"background"} (an unhandled promise rejection)"#
    );
    assert_eq!(
        error.data.unwrap().to_json(),
        json!({ "why": "background" })
    );
    // The runtime stays usable.
    assert_eq!(
        d.query("calls:unhandledRejection", json!({ "handleLater": true })),
        json!("caught forgotten")
    );
}

#[test]
fn performance_now_is_fixed_in_queries_and_elapsed_in_mutations() {
    let mut d = deployment();
    assert_eq!(
        d.query("calls:perfInQuery", json!({})),
        json!({ "first": 0.0, "second": 0.0, "origin": true })
    );
    assert_eq!(
        d.mutation("calls:perfInMutation", json!({})),
        json!({
            "firstSmall": true,
            "increases": true,
            "measured": true,
            "entries": ["mark:start", "mark:end", "measure:spin"],
        })
    );
    // Entries do not carry over to the next request.
    assert_eq!(
        d.mutation("calls:perfInMutation", json!({}))["entries"],
        json!(["mark:start", "mark:end", "measure:spin"])
    );
}

#[test]
fn fetch_over_tls_and_oversized_responses_fail_cleanly() {
    // The TLS stack (rustls on ring) is wired in: a handshake with a plain HTTP server fails
    // with a TypeError instead of a panic or a hang.
    let base = start_http_server();
    let mut d = deployment();
    let url = format!("{}/echo", base.replace("http://", "https://"));
    let outcome =
        d.rt.run_action("calls:fetchOne", &json!({ "url": url }), &d.db)
            .unwrap();
    let result = outcome.result.unwrap().to_json();
    let error = result["error"].as_str().unwrap();
    assert!(error.starts_with("TypeError: fetch failed: "), "{error}");
    let outcome =
        d.rt.run_action(
            "calls:fetchOne",
            &json!({ "url": format!("{base}/bytes") }),
            &d.db,
        )
        .unwrap();
    assert_eq!(outcome.result.unwrap().to_json()["status"], json!(200.0));

    // AbortSignal.timeout() bounds a fetch even though its timer cannot interrupt the host.
    let started = std::time::Instant::now();
    let outcome =
        d.rt.run_action(
            "calls:fetchOne",
            &json!({ "url": format!("{base}/slow"), "timeoutMs": 50.0 }),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({ "error": "TimeoutError: The operation timed out." })
    );
    assert!(
        started.elapsed() < SLOW_RESPONSE / 2,
        "{:?}",
        started.elapsed()
    );
    let outcome =
        d.rt.run_action(
            "calls:fetchOne",
            &json!({ "url": format!("{base}/bytes"), "timeoutMs": 5000.0 }),
            &d.db,
        )
        .unwrap();
    assert_eq!(outcome.result.unwrap().to_json()["status"], json!(200.0));

    // Response bodies are capped (the JS heap must hold them).
    let outcome =
        d.rt.run_action(
            "calls:fetchOne",
            &json!({ "url": format!("{base}/big") }),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({ "error": "TypeError: fetch failed: the response body is larger than the limit of 16777216 bytes" })
    );
}

#[test]
fn auth_config_is_evaluated_with_the_environment() {
    // tests/projects/auth (fixtures/auth.push.json): an auth.config.ts whose OIDC domain comes
    // from an environment variable.
    let push = PushRequest::parse(include_str!("fixtures/auth.push.json")).unwrap();
    let mut rt = JsRuntime::new(ModuleMap::new(push.modules), RuntimeConfig::default()).unwrap();
    let error = rt.evaluate_auth_config().unwrap_err();
    assert_eq!(
        error,
        hull_js::AuthConfigError::MissingEnvironmentVariable("AUTH_ISSUER_URL".into())
    );
    assert_eq!(
        error.message(),
        "Environment variable AUTH_ISSUER_URL is used in auth config file but its value was not set."
    );
    rt.set_environment_variables(
        [(
            "AUTH_ISSUER_URL".to_owned(),
            "https://auth.example.com".to_owned(),
        )]
        .into(),
    );
    assert_eq!(
        rt.evaluate_auth_config().unwrap(),
        Some(json!([
            { "domain": "https://auth.example.com", "applicationID": "convex" },
            {
                "type": "customJwt",
                "issuer": "https://issuer.example.com",
                "jwks": "https://issuer.example.com/.well-known/jwks.json",
                "algorithm": "RS256",
                "applicationID": "hull",
            },
        ]))
    );
    // Functions keep working on the same runtime.
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let mut tx = db.begin();
    let outcome = rt.run_query("whoami:whoami", &json!({}), &mut tx).unwrap();
    assert_eq!(outcome.result.unwrap().to_json(), Json::Null);
    // A push without auth.config.js has no providers to report.
    let mut d = deployment();
    assert_eq!(d.rt.evaluate_auth_config().unwrap(), None);
}

#[test]
fn nested_calls_share_the_callers_time_budget() {
    let mut d = deployment_with(RuntimeConfig {
        user_time_limit: Duration::from_millis(400),
        ..RuntimeConfig::default()
    });
    // Load the modules first (outer and nested runtimes), so only execution is timed.
    d.query("calls:names", json!({}));
    d.query("util:recursiveQuery", json!({ "n": 1.0 }));
    let started = std::time::Instant::now();
    let error = d.query_err("calls:spinsThroughCallees", json!({}));
    assert_eq!(
        error.message,
        "Function execution timed out (maximum duration: 400ms)"
    );
    // One budget, not one per callee (5 x 400 ms would be 2 s).
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    // Callees that finish in time run as before.
    assert_eq!(
        d.query("util:recursiveQuery", json!({ "n": 3.0 })),
        json!(3.0)
    );
}

#[test]
fn form_data_encodes_and_parses() {
    let base = start_http_server();
    let mut d = deployment();
    let outcome =
        d.rt.run_action(
            "calls:formRoundTrip",
            &json!({ "echo": format!("{base}/echo") }),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({
            "multipart": true,
            "keys": ["title", "file", "tags", "tags"],
            "title": "replaced",
            "tags": ["x", "y"],
            "file": { "name": "data.bin", "type": "application/x-thing", "bytes": [1.0, 2.0, 3.0] },
            "sentType": true,
            "sentHasFile": true,
            "urlencoded": [["a", "1 2"], ["b", "é"]],
        })
    );
    assert_eq!(
        d.query("calls:formDataInQuery", json!({})),
        json!("Can't use formData() in queries and mutations. Please consider using an action.")
    );

    // An HTTP action parses what a client posts: urlencoded, and multipart with a file.
    let mut request = http("POST", "/form", Some("name=Ada+L&x=%26"));
    request.headers = vec![(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    )];
    let response =
        d.rt.run_http_action(&request, &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(
        serde_json::from_slice::<Json>(&response.body).unwrap(),
        json!([["name", "Ada L"], ["x", "&"]])
    );
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\nthere\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\n\
                Content-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n";
    let mut request = http("POST", "/form", Some(body));
    request.headers = vec![(
        "content-type".into(),
        "multipart/form-data; boundary=XyZ".into(),
    )];
    let response =
        d.rt.run_http_action(&request, &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(
        serde_json::from_slice::<Json>(&response.body).unwrap(),
        json!([
            ["note", "hi\r\nthere"],
            ["up", { "file": "a.txt", "type": "text/plain", "size": 9, "text": "file body" }],
        ])
    );
    // A malformed multipart body is a TypeError in the handler.
    let mut request = http("POST", "/form", Some("--XyZ\r\nno end"));
    request.headers = vec![(
        "content-type".into(),
        "multipart/form-data; boundary=XyZ".into(),
    )];
    let outcome = d.rt.run_http_action(&request, &d.db).unwrap();
    assert_eq!(
        outcome.result.unwrap_err().message,
        "Uncaught TypeError: Could not parse content as FormData: truncated part headers"
    );
}

#[test]
fn readable_stream_bodies() {
    let base = start_http_server();
    let mut d = deployment();
    let outcome =
        d.rt.run_action("calls:streams", &json!({ "base": base }), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({
            "seen": [0.0, 159.0, 146.0, 150.0, 255.0],
            "bodyUsed": true,
            "lockedError": "TypeError: Body is unusable: Body has already been read",
            "parts": ["ab", "cd"],
            "copyText": "abcd",
            "uploaded": "streamed upload",
            "blobStream": "from a blob",
            "sourceError": "source failed",
            "chunkError": "TypeError: Received a non-Uint8Array chunk from a body stream",
        })
    );

    // An HTTP action may return a stream it is still writing; the host reads it to the end.
    d.channel("one");
    let response =
        d.rt.run_http_action(&http("GET", "/stream", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        String::from_utf8(response.body).unwrap(),
        "part1;part2;part3;names=1"
    );
    assert!(
        response
            .headers
            .contains(&("content-type".into(), "text/plain".into()))
    );
}

#[test]
fn transform_and_text_streams() {
    let mut d = deployment();
    let outcome =
        d.rt.run_action("calls:textStreams", &json!({}), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({
            "byteByByte": "héllo wörld € 😀",
            "joined": "héllo wörld € 😀",
            "upperText": "ABC!",
            "written": ["x", "y"],
        })
    );
    let response =
        d.rt.run_http_action(&http("GET", "/transform", None), &d.db)
            .unwrap()
            .result
            .unwrap();
    assert_eq!(String::from_utf8(response.body).unwrap(), "streamed é!");
}

#[test]
fn subtle_crypto_rsa_and_ecdsa_signatures() {
    // Test-only keys and OpenSSL's signatures of "hull signs this": tests/keys/README.md.
    let jwks: Json = serde_json::from_str(include_str!("keys/public.jwk.json")).unwrap();
    let mut d = deployment();
    let outcome =
        d.rt.run_action(
            "calls:subtleAsymmetric",
            &json!({
                "rsaPkcs8": include_str!("keys/rsa.pem"),
                "rsaSpki": include_str!("keys/rsa.pub.pem"),
                "rsaJwk": jwks["rsa"],
                "ecPkcs8": include_str!("keys/ec.pem"),
                "ecSpki": include_str!("keys/ec.pub.pem"),
                "ecJwk": jwks["ec"],
                "ecOpensslSignature": include_str!("keys/ec.sig.b64").trim(),
            }),
            &d.db,
        )
        .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({
            // PKCS#1 v1.5 signatures are deterministic: byte-identical to OpenSSL's.
            "rsaSignature": include_str!("keys/rsa.sig.hex").trim(),
            "rsaVerifies": true,
            "rsaJwkVerifies": true,
            "rsaTampered": false,
            "rsaAlgorithm": {
                "name": "RSASSA-PKCS1-v1_5",
                "hash": { "name": "SHA-256" },
                "modulusLength": 2048.0,
                "publicExponent": [1.0, 0.0, 1.0],
            },
            "rsaTypes": ["private", "public", true],
            "spkiRoundTrip": true,
            "ecLength": 64.0,
            "ecVerifies": true,
            "ecJwkVerifies": true,
            "ecOpenssl": true,
            "ecTampered": false,
            "ecAlgorithm": { "name": "ECDSA", "namedCurve": "P-256" },
            "wrongKey": "InvalidAccessError: sign needs a private key",
            "badData": "DataError",
        })
    );
}

#[test]
fn unsupported_ops_fail_clearly() {
    let mut d = deployment();
    assert_eq!(
        d.mutation("calls:unsupportedInMutation", json!({})),
        json!([
            // The scheduler works (crates/hull-app/tests/scheduler.rs); these calls are wrong.
            "Cannot schedule calls:names: it is a query, and only mutations and actions can be scheduled.",
            "Invalid argument `id` for `scheduler.cancel`: Invalid ID \"x\": length 1 is not between 31 and 37",
            "1.0/storageGetUrl: file storage is not supported yet",
            "1.0/storageGenerateUploadUrl: file storage is not supported yet",
            // createFunctionHandle works now.
            "ok",
        ])
    );
    let outcome =
        d.rt.run_action("calls:unsupportedInAction", &json!({}), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!([
            "Cannot schedule calls:names: it is a query, and only mutations and actions can be scheduled.",
            "1.0/storageGetUrl: file storage is not supported yet",
            // Vector search works (see vector_search_returns_the_nearest_documents); this
            // project declares no vector index.
            "Index channels.by_embedding not found: declare it with .vectorIndex() in your schema.",
            "ok",
        ])
    );
}

#[test]
fn user_identity_reaches_every_function_and_never_leaks() {
    let mut d = deployment();
    let identity = json!({
        "tokenIdentifier": "https://issuer.example.com|user-1",
        "subject": "user-1",
        "issuer": "https://issuer.example.com",
        "email": "ada@example.com",
    });
    let (query, mutation, action) = d.rt.with_user_identity(Some(identity.clone()), |rt| {
        let mut tx = d.db.begin();
        let query = rt.run_query("util:whoami", &json!({}), &mut tx).unwrap();
        let mut tx = d.db.begin();
        let mutation = rt
            .run_mutation("calls:whoamiMutation", &json!({}), &mut tx)
            .unwrap();
        let action = rt
            .run_action("calls:whoamiEverywhere", &json!({}), &d.db)
            .unwrap();
        (query, mutation, action)
    });
    assert_eq!(query.result.unwrap().to_json(), identity);
    assert_eq!(
        mutation.result.unwrap().to_json(),
        json!({ "own": identity, "viaQuery": identity })
    );
    assert_eq!(
        action.result.unwrap().to_json(),
        json!({ "own": "user-1", "viaQuery": "user-1", "viaMutation": "user-1", "viaAction": "user-1" })
    );
    // Afterwards: nobody, everywhere.
    assert_eq!(d.query("util:whoami", json!({})), Json::Null);
    let outcome =
        d.rt.run_action("calls:whoamiEverywhere", &json!({}), &d.db)
            .unwrap();
    assert_eq!(
        outcome.result.unwrap().to_json(),
        json!({ "own": null, "viaQuery": null, "viaMutation": null, "viaAction": null })
    );
}

#[test]
fn sign_jwt_signs_with_the_deployment_key() {
    use base64::Engine;
    let push = PushRequest::parse(include_str!("fixtures/auth.push.json")).unwrap();
    let signer = hull_js::JwtSigner::from_secret_scalar("http://127.0.0.1:3210", "deployment-key-1", &[9u8; 32]).unwrap();
    let config = RuntimeConfig { jwt_signer: Some(signer.clone()), ..RuntimeConfig::default() };
    let mut rt = JsRuntime::new(ModuleMap::new(push.modules.clone()), config).unwrap();
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let mut tx = db.begin();
    let begin_seconds = tx.begin_ts().0 / 1_000_000_000;
    let outcome = rt.run_mutation("whoami:signToken", &json!({"sub": "user-1"}), &mut tx).unwrap();
    let token = outcome.result.unwrap().to_json();
    let token = token.as_str().expect("a token string");
    let payload: Json = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["sub"], "user-1");
    assert_eq!(payload["role"], "reader");
    assert_eq!(payload["iss"], "http://127.0.0.1:3210");
    assert_eq!(payload["iat"], begin_seconds);
    assert_eq!(payload["exp"], begin_seconds + 60);
    assert_eq!(signer.public_jwk()["kid"], "deployment-key-1");

    let mut tx = db.begin();
    let outcome = rt.run_mutation("whoami:signReserved", &json!({}), &mut tx).unwrap();
    let error = outcome.result.unwrap_err();
    assert!(error.message.contains("\"cvxTenant\" is reserved"), "{}", error.message);

    // Without a configured key the call fails clearly.
    let mut rt = JsRuntime::new(ModuleMap::new(push.modules), RuntimeConfig::default()).unwrap();
    let mut tx = db.begin();
    let error = rt.run_mutation("whoami:signToken", &json!({"sub": "u"}), &mut tx).unwrap().result.unwrap_err();
    assert!(error.message.contains("no signing key configured"), "{}", error.message);
}

#[test]
fn audit_records_are_written_with_the_mutation() {
    let push = PushRequest::parse(include_str!("fixtures/auth.push.json")).unwrap();
    let mut rt = JsRuntime::new(ModuleMap::new(push.modules), RuntimeConfig::default()).unwrap();
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let mut tx = db.begin();
    let now_ms = (tx.begin_ts().0 / 1_000_000) as f64;
    rt.run_mutation("whoami:audited", &json!({"action": "document.viewed", "fail": false}), &mut tx).unwrap().result.unwrap();
    db.commit(tx).unwrap();
    // A failed mutation leaves no record.
    let mut tx = db.begin();
    assert!(rt.run_mutation("whoami:audited", &json!({"action": "never", "fail": true}), &mut tx).unwrap().result.is_err());
    drop(tx);
    let mut tx = db.begin();
    let table = tx.catalog().table_by_name(hull_js::syscalls::AUDIT_LOG_TABLE).expect("the audit table exists").number;
    let mut stream = hull_db::QueryStream::full_table(&mut tx, table, hull_store::Order::Asc).unwrap();
    let record = stream.next(&mut tx).unwrap().expect("one record");
    assert!(stream.next(&mut tx).unwrap().is_none(), "exactly one record");
    let record = record.to_value().to_json();
    assert_eq!(record["function"], "whoami:audited");
    assert_eq!(record["body"]["action"], "document.viewed");
    assert_eq!(record["body"]["detail"], json!({"by": "test", "at": now_ms, "ip": null}));
}

#[test]
fn function_handles_call_the_function_they_name() {
    let push = PushRequest::parse(include_str!("fixtures/auth.push.json")).unwrap();
    let mut rt = JsRuntime::new(ModuleMap::new(push.modules), RuntimeConfig::default()).unwrap();
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let outcome = rt.run_action("whoami:viaHandleInAction", &json!({}), &db).unwrap();
    let result = outcome.result.unwrap().to_json();
    assert_eq!(result["result"], json!(42.0));
    assert!(result["handle"].as_str().unwrap().starts_with("function://"), "{result}");
    let mut tx = db.begin();
    let outcome = rt.run_mutation("whoami:viaHandleInMutation", &json!({}), &mut tx).unwrap();
    assert_eq!(outcome.result.unwrap().to_json(), json!(10.0));
}

#[test]
fn vector_search_returns_the_nearest_documents() {
    let push = PushRequest::parse(include_str!("fixtures/vectors.push.json")).unwrap();
    let db = Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let schema = Schema::parse(&JsRuntime::evaluate_schema(push.schema.as_ref().unwrap(), RuntimeConfig::default()).unwrap()).unwrap();
    db.run(0, |tx| tx.set_schema(Some(schema.clone()))).unwrap();
    let mut rt = JsRuntime::new(ModuleMap::new(push.modules), RuntimeConfig::default()).unwrap();
    let mut ids = Vec::new();
    for (embedding, kind, text) in [([1.0, 0.0, 0.0], "a", "east"), ([0.9, 0.1, 0.0], "b", "east-ish"), ([0.0, 1.0, 0.0], "a", "north"), ([-1.0, 0.0, 0.0], "a", "west")] {
        let mut tx = db.begin();
        let id = rt.run_mutation("snippets:add", &json!({"embedding": embedding, "kind": kind, "text": text}), &mut tx).unwrap().result.unwrap().to_json();
        db.commit(tx).unwrap();
        ids.push(id);
    }
    let search = |rt: &mut JsRuntime, args: Json| rt.run_action("snippets:similar", &args, &db).unwrap().result;
    let results = search(&mut rt, json!({"vector": [1.0, 0.0, 0.0], "limit": 3.0})).unwrap().to_json();
    let order: Vec<&Json> = results.as_array().unwrap().iter().map(|r| &r["_id"]).collect();
    assert_eq!(order, vec![&ids[0], &ids[1], &ids[2]], "nearest first: {results}");
    assert!((results[0]["_score"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    // A filter on a filter field; the default limit (10) returns every match.
    let results = search(&mut rt, json!({"vector": [1.0, 0.0, 0.0], "kind": "a"})).unwrap().to_json();
    let order: Vec<&Json> = results.as_array().unwrap().iter().map(|r| &r["_id"]).collect();
    assert_eq!(order, vec![&ids[0], &ids[2], &ids[3]]);
    // Wrong dimensions, a bad limit, and a filter on a field that is not a filter field.
    let error = search(&mut rt, json!({"vector": [1.0, 0.0]})).unwrap_err();
    assert!(error.message.contains("needs a vector of 3 dimensions; got 2"), "{}", error.message);
    let error = search(&mut rt, json!({"vector": [1.0, 0.0, 0.0], "limit": 257.0})).unwrap_err();
    assert!(error.message.contains("between 1 and 256"), "{}", error.message);
    let error = rt.run_action("snippets:filterOnText", &json!({}), &db).unwrap().result.unwrap_err();
    assert!(error.message.contains("\"text\", which is not one of the index's filterFields (kind)"), "{}", error.message);
    let error = rt.run_action("snippets:serviceToken", &json!({}), &db).unwrap().result.unwrap_err();
    assert!(error.message.contains("Unknown service \"ai-gateway\": this self-hosted deployment offers no Convex-managed services"), "{}", error.message);
}
