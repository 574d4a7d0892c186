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
            ("/hello", "GET"),
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
    let mut d = deployment();
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
        json!({
            "names": ["existing", "new"],
            "nestedMutation": "ctx.runMutation inside a mutation is not supported yet: it needs sub-transactions that can roll back the callee's writes",
        })
    );
    assert_eq!(
        d.query("channels:all", json!({}))["names"],
        json!(["existing", "new"])
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
        "1.0/schedule: the scheduler is not supported yet"
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
