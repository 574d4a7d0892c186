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
