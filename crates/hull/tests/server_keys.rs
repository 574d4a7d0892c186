//! Server keys end to end: `hull keys create/list/revoke/audit/token` against a running `hull
//! serve` deployed with hull-js's `tests/projects/serverkeys`; the real ConvexHttpClient,
//! ConvexClient and the @hull/server helper (`tests/js/server_keys.cjs`); and a suite of hostile
//! requests of which none may reach a function outside the key's scope.
//!
//! Node.js is required: without it this test fails, saying so.

mod support;

use support::{fixture, hull, http, require_node, run_node_script, serve, HULL};

/// `hull keys create ...`: the key is the last line of stdout.
fn create_key(url: &str, admin_key: &str, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--url", url, "--admin-key", admin_key, "--name", name];
    args.extend(flags);
    let stdout = String::from_utf8(hull(&args).stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_owned();
    assert!(key.starts_with("hull_sk_") && !key.contains(':') && !key.contains(' '), "{stdout}");
    key
}

fn keys_json(url: &str, admin_key: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["keys"];
    all.extend(args);
    all.extend(["--url", url, "--admin-key", admin_key, "--json"]);
    serde_json::from_slice(&hull(&all).stdout).unwrap()
}

#[test]
fn server_keys_call_exactly_their_functions_through_the_unchanged_clients() {
    require_node();
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let data = data_dir.to_str().unwrap();
    hull(&["deploy-push-request", "--data-dir", data, fixture("serverkeys").to_str().unwrap()]);
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    let server = serve(&data_dir, temp.path(), &[]);
    let url = server.url();

    let mut keys = serde_json::Map::new();
    for (name, flags) in [
        ("sveltekit", &["--allow", "secrets:*", "--allow", "admin/*"][..]),
        ("reader", &["--allow", "*", "--read-only"]),
        ("actor", &["--allow", "secrets:*", "--act-as"]),
        ("limited", &["--allow", "secrets:*", "--rate", "5/s"]),
        ("other", &["--allow", "secrets:*"]),
        ("victim", &["--allow", "secrets:*"]),
        ("kiosk", &["--allow", "secrets:*", "--allow-browser"]),
    ] {
        keys.insert(name.to_owned(), create_key(&url, &admin_key, name, flags).into());
    }
    let expiring = create_key(&url, &admin_key, "expiring", &["--allow", "*", "--expires", "1s"]);

    let input = serde_json::json!({"url": url, "adminKey": admin_key, "hull": HULL, "keys": keys});
    run_node_script("server_keys.cjs", &input, &server);

    // Expired by now (the script took seconds).
    let query = r#"{"path":"secrets:publicInfo","args":{}}"#;
    let (status, body) = http(server.port, "POST", "/api/query", &[("Authorization", &format!("Convex {expiring}")), ("Content-Type", "application/json")], query);
    assert_eq!((status, body.contains("ServerKeyExpired")), (401, true), "{body}");

    // The audit trail saw all of it.
    let audit = keys_json(&url, &admin_key, &["audit", "sveltekit"]);
    let has = |function: &str, outcome: &str| {
        audit.as_array().unwrap().iter().any(|e| e["function"] == function && e["outcome"] == outcome && e["clientAddress"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")))
    };
    assert!(has("secrets:getSecretData", "allowed"), "{audit:#}");
    assert!(has("users:deleteUser", "denied"), "{audit:#}");
    assert!(audit.as_array().unwrap().iter().any(|e| e["reason"].as_str().is_some_and(|r| r.contains("browser"))), "{audit:#}");
    let limited = keys_json(&url, &admin_key, &["audit", "limited"]);
    assert!(limited.as_array().unwrap().iter().any(|e| e["outcome"] == "rateLimited"), "{limited:#}");
    let actor = keys_json(&url, &admin_key, &["audit", "actor"]);
    assert!(actor.as_array().unwrap().iter().any(|e| e["actingAs"] == "user-7"), "{actor:#}");
    let victim = keys_json(&url, &admin_key, &["audit", "victim"]);
    assert!(victim.as_array().unwrap().iter().any(|e| e["reason"].as_str().is_some_and(|r| r.contains("revoked"))), "{victim:#}");

    let listing = String::from_utf8(hull(&["keys", "list", "--url", &url, "--admin-key", &admin_key]).stdout).unwrap();
    assert!(listing.lines().any(|l| l.starts_with("victim\t") && l.contains("\trevoked\t")), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("reader\t") && l.contains("read-only")), "{listing}");
    assert!(!listing.contains("hull_sk_"), "listings never show secrets");

    // `hull keys token` derives offline; the token works like the key, and narrows it.
    let token = String::from_utf8(hull(&["keys", "token", "--key", keys["sveltekit"].as_str().unwrap(), "--ttl", "1m", "--allow", "secrets:getSecretData"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("hull_st_") && !token.contains(':'), "{token}");
    let secret_query = r#"{"path":"secrets:getSecretData","args":{}}"#;
    let bearer = format!("Convex {token}");
    let (status, body) = http(server.port, "POST", "/api/query", &[("Authorization", &bearer), ("Content-Type", "application/json")], secret_query);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"success""#), "{body}");
}

#[test]
fn hostile_requests_with_a_key_never_reach_a_function_outside_its_scope() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let data = data_dir.to_str().unwrap();
    hull(&["deploy-push-request", "--data-dir", data, fixture("serverkeys").to_str().unwrap()]);
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    let server = serve(&data_dir, temp.path(), &[]);
    let url = server.url();
    let key = create_key(&url, &admin_key, "scoped", &["--allow", "secrets:*"]);
    let authorization = format!("Convex {key}");
    let json = ("Content-Type", "application/json");
    let post = |path: &str, body: &str, authorization: &str| http(server.port, "POST", path, &[("Authorization", authorization), json], body);

    // Every spelling and route of a function outside the scope: never a success, and the
    // deletion never happens.
    let spellings = [
        "users:deleteUser",
        "users.js:deleteUser",
        "users",
        "./users:deleteUser",
        "users:deleteUser ",
        "Users:deleteUser",
        "secrets/../users:deleteUser",
        "secrets:../users:deleteUser",
        "_system/cli/queryEnvironmentVariables",
        "_system/frontend/listTables",
        "_deps/chunk:default",
        "users%3AdeleteUser",
        "secrets:*",
    ];
    for path in spellings {
        let body = serde_json::json!({"path": path, "args": {"id": "x"}}).to_string();
        for route in ["/api/query", "/api/mutation", "/api/action", "/api/function"] {
            let (status, answer) = post(route, &body, &authorization);
            assert!(!answer.contains(r#""status":"success""#), "{route} {path}: {status} {answer}");
        }
        let component = serde_json::json!({"path": path, "args": {"id": "x"}, "componentPath": "evil"}).to_string();
        let (_, answer) = post("/api/function", &component, &authorization);
        assert!(!answer.contains(r#""status":"success""#), "componentPath {path}: {answer}");
    }
    for run_path in ["users/deleteUser", "users.js/deleteUser", "users%2FdeleteUser", "users%3AdeleteUser", "_system/cli/queryEnvironmentVariables", "users/deleteUser/"] {
        let (status, answer) = post(&format!("/api/run/{run_path}"), r#"{"args":{"id":"x"}}"#, &authorization);
        assert!(!answer.contains(r#""status":"success""#), "/api/run/{run_path}: {status} {answer}");
    }

    // Keys that are nearly right are all the same wrong key; a key is never an admin key.
    let truncated = &key[..key.len() - 3];
    let foreign = {
        let other = tempfile::tempdir().unwrap();
        let other_data = other.path().join("data");
        hull(&["deploy-push-request", "--data-dir", other_data.to_str().unwrap(), fixture("serverkeys").to_str().unwrap()]);
        let other_server = serve(&other_data, other.path(), &[]);
        let other_admin = String::from_utf8(hull(&["admin-key", "--data-dir", other_data.to_str().unwrap()]).stdout).unwrap().trim().to_owned();
        create_key(&other_server.url(), &other_admin, "scoped", &["--allow", "*"])
    };
    let query = r#"{"path":"secrets:getSecretData","args":{}}"#;
    for bad in [format!("{key}x"), truncated.to_owned(), format!("x{key}"), foreign, key.replace("hull_sk_", "hull_st_"), key.to_uppercase()] {
        let (status, answer) = post("/api/query", query, &format!("Convex {bad}"));
        assert!(matches!(status, 400 | 401), "{bad}: {status} {answer}");
        assert!(!answer.contains(r#""status":"success""#), "{bad}: {answer}");
    }
    let (status, _) = post("/api/query", query, &authorization);
    assert_eq!(status, 200, "the real key works");
    for admin_only in ["/api/check_admin_key", "/api/list_environment_variables", "/api/hull/server_keys", "/api/stream_function_logs"] {
        let (status, answer) = http(server.port, "GET", admin_only, &[("Authorization", &authorization)], "");
        assert_eq!(status, 401, "{admin_only}: {answer}");
    }
    let mint = r#"{"name":"escalate","keyId":"0011223344556677","publicKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","allow":["*"]}"#;
    assert_eq!(post("/api/hull/server_keys", mint, &authorization).0, 401, "a key cannot mint keys");
    let env = r#"{"changes":[{"name":"X","value":"y"}]}"#;
    assert_eq!(post("/api/update_environment_variables", env, &authorization).0, 401, "a key cannot change env vars");
    assert_eq!(post("/api/deploy2/start_push", "{}", &authorization).0, 401, "a key cannot push");

    let admin = format!("Convex {admin_key}");
    let (_, deletions) = post("/api/query", r#"{"path":"users:deletions","args":{}}"#, &admin);
    assert!(deletions.contains(r#""value":[]"#), "nothing outside the scope ran: {deletions}");
}
