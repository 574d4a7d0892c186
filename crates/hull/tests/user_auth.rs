//! End-user auth end to end: the real CLI sets the provider's URL (`npx convex env set`) and
//! deploys hull-js's `tests/projects/auth` to `hull serve`; a local identity provider (hull-auth's
//! testkit, on loopback in this process) signs tokens; the real ConvexHttpClient (`setAuth`) and
//! ConvexClient (`setAuth(fetchToken)`) call `whoami` with them (`tests/js/user_auth.cjs`).
//!
//! Node.js is required: without it this test fails, saying so.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use hull_auth::testkit::{claims, rsa_key, with, TestIssuer};
use serde_json::json;
use support::{convex, hull, project, require_node, run_node_script, serve};

#[test]
fn user_tokens_reach_ctx_auth_through_both_clients_and_bad_ones_never_do() {
    require_node();
    let key = rsa_key(0, "k1");
    let stranger = rsa_key(1, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = |signer: &hull_auth::testkit::TestKey, changes: serde_json::Value| {
        let base = with(claims(&issuer.url, "convex"), json!({"iat": now - 5, "exp": now + 3600}));
        signer.sign(&with(base, changes))
    };

    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data_dir.to_str().unwrap()]).stdout).unwrap().trim().to_owned();
    let server = serve(&data_dir, temp.path(), &[]);
    let project = project("auth", temp.path());
    let (ok, output) = convex(&project, &server, &admin_key, &["deploy", "--yes", "--typecheck", "disable"]);
    assert!(!ok && output.contains("AUTH_ISSUER_URL"), "a push whose auth config lacks its variable is refused, naming it:\n{output}");
    let (ok, output) = convex(&project, &server, &admin_key, &["env", "set", "AUTH_ISSUER_URL", &issuer.url]);
    assert!(ok, "{output}");
    let (ok, output) = convex(&project, &server, &admin_key, &["deploy", "--yes", "--typecheck", "disable"]);
    assert!(ok, "{output}\nserver stderr:\n{}", server.stderr());

    let input = json!({
        "url": server.url(),
        "adminKey": admin_key,
        "valid": token(&key, json!({})),
        "other": token(&key, json!({"sub": "user-2"})),
        "shortLived": token(&key, json!({"sub": "brief", "exp": now + 6})),
        "bad": {
            "expired": token(&key, json!({"exp": now - 600, "iat": now - 4000})),
            "wrong audience": token(&key, json!({"aud": "other-app"})),
            "wrong issuer": token(&key, json!({"iss": "https://evil.example"})),
            "forged": token(&stranger, json!({})),
            "garbage": "e30.e30.e30",
        },
    });
    run_node_script("user_auth.cjs", &input, &server);
}

/// The official Rust client (`convex` crate): `set_auth` with a provider's token makes
/// `ctx.auth` that user's; a token no provider issued is refused.
#[test]
fn the_rust_convex_client_authenticates_with_a_user_token() {
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token = key.sign(&with(claims(&issuer.url, "convex"), json!({"iat": now - 5, "exp": now + 3600, "sub": "rusty"})));

    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let data = data_dir.to_str().unwrap();
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    let server = serve(&data_dir, temp.path(), &[]);
    // The provider's URL first (as `npx convex env set` does), then the push that reads it.
    let env = serde_json::json!({"changes": [{"name": "AUTH_ISSUER_URL", "value": issuer.url}]}).to_string();
    let authorization = format!("Convex {admin_key}");
    let (status, answer) = support::http(server.port, "POST", "/api/update_environment_variables", &[("Authorization", &authorization), ("Content-Type", "application/json")], &env);
    assert_eq!(status, 200, "{answer}");
    drop(server);
    hull(&["deploy-push-request", "--data-dir", data, support::fixture("auth").to_str().unwrap()]);
    let server = serve(&data_dir, temp.path(), &[]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = convex::ConvexClient::new(&server.url()).await.unwrap();
        let wait = std::time::Duration::from_secs(20);
        let anonymous = tokio::time::timeout(wait, client.query("whoami:whoami", Default::default())).await.unwrap().unwrap();
        assert_eq!(anonymous, convex::FunctionResult::Value(convex::Value::Null));
        client.set_auth(Some(token)).await;
        let identity = tokio::time::timeout(wait, client.query("whoami:whoami", Default::default())).await.unwrap().unwrap();
        let convex::FunctionResult::Value(convex::Value::Object(identity)) = identity else { panic!("{identity:?}\n{}", server.stderr()) };
        assert_eq!(identity.get("subject"), Some(&convex::Value::from("rusty")));
        assert_eq!(identity.get("tokenIdentifier"), Some(&convex::Value::from(format!("{}|rusty", issuer.url).as_str())));
    });
}
