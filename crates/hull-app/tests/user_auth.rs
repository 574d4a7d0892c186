//! End-user JWTs through the application: providers evaluated from `auth.config.js` at push
//! (with the environment variables of that moment), stored with the deployment and used after a
//! restart; tokens verified against a local identity provider (hull-auth's testkit, served on
//! loopback by this test); the identity reaching `ctx.auth`; bad tokens never reaching user code.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hull_app::{AppConfig, Application, CallKind, Caller, EnvVarChange, FunctionPath, InstanceSecret};
use hull_auth::testkit::{claims, rsa_key, with, TestIssuer, TestKey};
use hull_db::Database;
use hull_errors::Code;
use hull_store::MemoryPersistence;
use serde_json::{json, Value as Json};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../hull-js/tests/fixtures/{name}.push.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn open(persistence: &Arc<MemoryPersistence>) -> Application {
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
    config.js_workers = 1;
    Application::open(Database::open(persistence.clone()).unwrap(), config).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A token from `issuer`, valid now for an hour, with `changes` to the standard claims.
fn token(key: &TestKey, issuer: &TestIssuer, changes: Json) -> String {
    let base = with(claims(&issuer.url, "convex"), json!({"iat": now() - 5, "exp": now() + 3600, "email": "ann@example.com"}));
    key.sign(&with(base, changes))
}

/// The auth fixture deployed with its OIDC provider pointing at `issuer`.
fn deployed(issuer: &TestIssuer) -> (Arc<MemoryPersistence>, Application) {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    app.update_environment_variables(vec![EnvVarChange { name: "AUTH_ISSUER_URL".into(), value: Some(issuer.url.clone()) }]).unwrap();
    app.deploy_push_request(&fixture("auth")).unwrap();
    (persistence, app)
}

fn whoami(app: &Application, caller: &Caller) -> Json {
    let outcome = app.call(caller, CallKind::Query, &FunctionPath::parse("whoami:whoami").unwrap(), json!({})).unwrap();
    outcome.result.unwrap().to_json()
}

#[test]
fn a_valid_token_becomes_ctx_auth_and_survives_a_restart() {
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let (persistence, app) = deployed(&issuer);
    let user = app.user_caller(&token(&key, &issuer, json!({}))).unwrap();
    let identity = whoami(&app, &user);
    assert_eq!(identity["tokenIdentifier"], format!("{}|user-1", issuer.url));
    assert_eq!((identity["subject"].as_str(), identity["email"].as_str()), (Some("user-1"), Some("ann@example.com")));
    assert_eq!(whoami(&app, &Caller::Anonymous), Json::Null);
    let providers = app.auth_providers();
    assert_eq!(providers[0]["domain"], issuer.url.as_str(), "{providers}");

    // The providers were stored with the push: a restart verifies without re-evaluating
    // auth.config.js (whose environment variable changed since).
    app.update_environment_variables(vec![EnvVarChange { name: "AUTH_ISSUER_URL".into(), value: Some("https://elsewhere.example".into()) }]).unwrap();
    drop(app);
    let app = open(&persistence);
    let user = app.user_caller(&token(&key, &issuer, json!({"sub": "user-2"}))).unwrap();
    assert_eq!(whoami(&app, &user)["subject"], "user-2");
}

#[test]
fn http_actions_see_the_bearer_tokens_user_and_other_headers_pass_through() {
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let (_p, app) = deployed(&issuer);
    let whoami = |authorization: Option<String>| {
        let request = hull_app::HttpRequest {
            method: "GET".into(),
            url: "http://127.0.0.1:3211/whoami".into(),
            headers: authorization.map(|value| ("authorization".to_owned(), value)).into_iter().collect(),
            body: None,
        };
        match app.run_http_action(request, &hull_app::RequestOrigin::default()).unwrap() {
            hull_app::HttpActionResult::Response(response) => serde_json::from_slice::<Json>(&response.body).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(whoami(Some(format!("Bearer {}", token(&key, &issuer, json!({})))))["subject"], "user-1");
    assert_eq!(whoami(None), Json::Null);
    // A webhook's own shared secret is not Convex auth: the handler runs, without an identity.
    assert_eq!(whoami(Some("Bearer my-webhook-secret".into())), Json::Null);
}

#[test]
fn bad_tokens_are_refused_before_any_code_runs() {
    let key = rsa_key(0, "k1");
    let stranger = rsa_key(1, "k1"); // same kid, another key: a forgery
    let issuer = TestIssuer::start(&[&key]);
    let (_p, app) = deployed(&issuer);
    let cases = [
        ("expired", token(&key, &issuer, json!({"exp": now() - 600, "iat": now() - 4000}))),
        ("not yet valid", token(&key, &issuer, json!({"nbf": now() + 600}))),
        ("wrong audience", token(&key, &issuer, json!({"aud": "someone-else"}))),
        ("wrong issuer", token(&key, &issuer, json!({"iss": "https://evil.example"}))),
        ("forged", token(&stranger, &issuer, json!({}))),
        ("alg none", {
            let header = hull_auth::testkit::encode_json(&json!({"alg": "none", "typ": "JWT", "kid": "k1"}));
            let body = hull_auth::testkit::encode_json(&with(claims(&issuer.url, "convex"), json!({"iat": now(), "exp": now() + 60})));
            format!("{header}.{body}.")
        }),
        ("HS256 downgrade", key.sign_with_header(&json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}), &with(claims(&issuer.url, "convex"), json!({"iat": now(), "exp": now() + 60})))),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        let error = app.user_caller(&token).expect_err(name);
        assert_eq!(error.code, Code::Unauthenticated, "{name}: {error:?}");
    }
}

#[test]
fn keys_come_from_the_provider_and_a_provider_that_is_down_is_not_the_tokens_fault() {
    // (Refetching on an unknown kid, rate-limited, is hull-auth's; its tests cover rotation.)
    let (old, new) = (rsa_key(0, "k1"), rsa_key(1, "k2"));
    let issuer = TestIssuer::start(&[&old, &new]);
    let (_p, app) = deployed(&issuer);
    app.user_caller(&token(&new, &issuer, json!({}))).unwrap();
    app.user_caller(&token(&old, &issuer, json!({}))).unwrap();

    let down = TestIssuer::start(&[&old]);
    down.fail_jwks_with(500);
    let (_p, app) = deployed(&down);
    let error = app.user_caller(&token(&old, &down, json!({}))).unwrap_err();
    assert_eq!((error.code, error.short), (Code::Unavailable, hull_auth::AUTH_PROVIDER_UNREACHABLE), "{error:?}");
}

#[test]
fn a_token_that_expires_mid_session_is_refused_from_then_on() {
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let (_p, app) = deployed(&issuer);
    let user = app.user_caller(&token(&key, &issuer, json!({"exp": now() + 1}))).unwrap();
    assert!(app.revalidate(&user).is_ok());
    std::thread::sleep(Duration::from_millis(2100));
    let error = app.revalidate(&user).unwrap_err();
    assert_eq!(error.short, hull_auth::TOKEN_EXPIRED);
    let refused = app.call(&user, CallKind::Query, &FunctionPath::parse("whoami:whoami").unwrap(), json!({})).unwrap_err();
    assert_eq!(refused.short, hull_auth::TOKEN_EXPIRED);
}

#[test]
fn a_push_whose_auth_config_needs_a_missing_variable_is_refused_and_changes_nothing() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    let error = app.deploy_push_request(&fixture("auth")).unwrap_err();
    assert_eq!(error.short, "AuthConfigMissingEnvironmentVariable");
    assert!(error.message.contains("AUTH_ISSUER_URL"), "{}", error.message);
    assert_eq!(app.auth_providers(), json!([]));
    // Without auth.config.js every token is refused: no provider.
    app.deploy_push_request(&fixture("basic")).unwrap();
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let error = app.user_caller(&token(&key, &issuer, json!({}))).unwrap_err();
    assert_eq!((error.code, error.short), (Code::Unauthenticated, hull_auth::NO_AUTH_PROVIDER));
}
