//! Server keys in the application, over the real CLI bundle of hull-js's
//! `tests/projects/serverkeys`: scope, read-only, acting-as, browser refusal, expiry,
//! revocation (also of a caller authenticated before), tokens that can only narrow, rate
//! limits, the audit trail, and persistence of keys across a restart.

use std::sync::Arc;

use hull_app::{AppConfig, Application, CallKind, CallOutcome, Caller, FunctionPath, InstanceSecret, NewServerKey, RequestOrigin, UserIdentity};
use hull_db::Database;
use hull_keys::{MintedKey, ServerKey};
use hull_store::MemoryPersistence;
use serde_json::{json, Value as Json};

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/serverkeys.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

fn open(persistence: &Arc<MemoryPersistence>) -> Application {
    open_with(persistence, |_| {})
}

fn open_with(persistence: &Arc<MemoryPersistence>, configure: impl FnOnce(&mut AppConfig)) -> Application {
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"ab".repeat(32)).unwrap());
    config.js_workers = 1;
    configure(&mut config);
    Application::open(Database::open(persistence.clone()).unwrap(), config).unwrap()
}

fn deployed() -> (Arc<MemoryPersistence>, Application) {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open(&persistence);
    app.deploy_push_request(&fixture()).unwrap();
    (persistence, app)
}

fn server() -> RequestOrigin {
    RequestOrigin { client_address: Some("127.0.0.1:5555".into()), from_browser: false }
}

fn mint(app: &Application, name: &str, allow: &[&str], options: impl FnOnce(&mut NewServerKey)) -> String {
    let minted = MintedKey::generate();
    let mut new = NewServerKey {
        name: name.into(),
        key_id: minted.key_id,
        public_key: minted.public_key,
        allow: allow.iter().map(|s| s.to_string()).collect(),
        act_as: false,
        read_only: false,
        allow_browser: false,
        expires_at_ms: None,
        rate: None,
    };
    options(&mut new);
    app.create_server_key(new).unwrap();
    minted.secret
}

fn caller(app: &Application, key: &str) -> Caller {
    app.server_key_caller(key, None, &server()).unwrap().expect("a server key")
}

fn call(app: &Application, caller: &Caller, kind: CallKind, path: &str, args: Json) -> CallOutcome {
    app.call(caller, kind, &FunctionPath::parse(path).unwrap(), args).unwrap()
}

fn value(outcome: CallOutcome) -> Json {
    outcome.result.unwrap_or_else(|e| panic!("call failed: {e:?}")).to_json()
}

fn looks_missing(outcome: CallOutcome, path: &str) {
    let message = outcome.result.expect_err("must be refused").message;
    assert_eq!(
        message,
        format!("Could not find public function for '{path}'. Did you forget to run `npx convex dev` or `npx convex deploy`?")
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn a_key_calls_the_internal_functions_its_scope_allows_and_nothing_else() {
    let (_p, app) = deployed();
    let key = caller(&app, &mint(&app, "sveltekit", &["secrets:*", "admin/*"], |_| {}));
    assert_eq!(value(call(&app, &key, CallKind::Query, "secrets:getSecretData", json!({}))), json!({"secret": "s3cr3t", "viewer": null}));
    value(call(&app, &key, CallKind::Mutation, "secrets:setSecret", json!({"value": "v2"})));
    assert_eq!(value(call(&app, &key, CallKind::Query, "secrets.js:getSecretData", json!({})))["secret"], "v2");
    assert_eq!(value(call(&app, &key, CallKind::Action, "admin/tools:pingTwice", json!({}))), json!(["pong", "pong"]));
    // Outside the scope, internal or public, and whatever the route: missing.
    looks_missing(call(&app, &key, CallKind::Mutation, "users:deleteUser", json!({"id": "u1"})), "users:deleteUser");
    looks_missing(call(&app, &key, CallKind::Any, "users:deleteUser", json!({"id": "u1"})), "users:deleteUser");
    looks_missing(call(&app, &key, CallKind::AdminAny, "users:deleteUser", json!({"id": "u1"})), "users:deleteUser");
    looks_missing(call(&app, &key, CallKind::Query, "_system/cli/queryEnvironmentVariables", json!({})), "_system/cli/queryEnvironmentVariables");
    looks_missing(call(&app, &key, CallKind::Query, "secrets:nope", json!({})), "secrets:nope");
    let admin = Caller::Admin { acting_as: None };
    assert_eq!(value(call(&app, &admin, CallKind::Query, "users:deletions", json!({}))), json!([]), "nothing was deleted");
}

#[test]
fn read_only_keys_run_queries_only() {
    let (_p, app) = deployed();
    let key = caller(&app, &mint(&app, "reader", &["*"], |k| k.read_only = true));
    value(call(&app, &key, CallKind::Query, "secrets:getSecretData", json!({})));
    looks_missing(call(&app, &key, CallKind::Mutation, "secrets:setSecret", json!({"value": "x"})), "secrets:setSecret");
    looks_missing(call(&app, &key, CallKind::Action, "admin/tools:pingTwice", json!({})), "admin/tools:pingTwice");
}

#[test]
fn acting_as_needs_the_option_and_reaches_ctx_auth() {
    let (_p, app) = deployed();
    let identity = UserIdentity::from_attributes(json!({"issuer": "https://sveltekit", "subject": "user-7"}).as_object().unwrap().clone()).unwrap();
    let plain = mint(&app, "plain", &["secrets:*"], |_| {});
    let error = app.server_key_caller(&plain, Some(identity.clone()), &server()).unwrap_err();
    assert_eq!(error.short, "ServerKeyCannotActAs");
    let acting = mint(&app, "acting", &["secrets:*"], |k| k.act_as = true);
    let key = app.server_key_caller(&acting, Some(identity), &server()).unwrap().unwrap();
    assert_eq!(value(call(&app, &key, CallKind::Query, "secrets:getSecretData", json!({})))["viewer"], "user-7");
}

#[test]
fn browsers_expired_and_revoked_keys_are_refused() {
    let (_p, app) = deployed();
    let secret = mint(&app, "svc", &["secrets:*"], |_| {});
    let browser = RequestOrigin { client_address: None, from_browser: true };
    assert_eq!(app.server_key_caller(&secret, None, &browser).unwrap_err().short, "ServerKeyFromBrowser");
    let trusting = mint(&app, "kiosk", &["secrets:*"], |k| k.allow_browser = true);
    assert!(app.server_key_caller(&trusting, None, &browser).is_ok());

    // Authenticated before the revocation, refused after it (an open socket's caller).
    let authenticated = caller(&app, &secret);
    value(call(&app, &authenticated, CallKind::Query, "secrets:getSecretData", json!({})));
    app.revoke_server_key("svc").unwrap();
    assert_eq!(app.revalidate(&authenticated).unwrap_err().short, "ServerKeyRevoked");
    let error = app.call(&authenticated, CallKind::Query, &FunctionPath::parse("secrets:getSecretData").unwrap(), json!({})).unwrap_err();
    assert_eq!(error.short, "ServerKeyRevoked");
    assert_eq!(app.server_key_caller(&secret, None, &server()).unwrap_err().short, "ServerKeyRevoked");
    assert_eq!(app.revoke_server_key("svc").unwrap_err().short, "ServerKeyNotFound");
    // The name is free again for a new key.
    mint(&app, "svc", &["secrets:*"], |_| {});

    let short_lived = mint(&app, "short", &["secrets:*"], |k| k.expires_at_ms = Some(now_ms() + 300));
    let before = caller(&app, &short_lived);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(app.server_key_caller(&short_lived, None, &server()).unwrap_err().short, "ServerKeyExpired");
    assert_eq!(app.revalidate(&before).unwrap_err().short, "ServerKeyExpired");
}

#[test]
fn malformed_forged_and_foreign_keys_get_one_answer() {
    let (_p, app) = deployed();
    let secret = mint(&app, "svc", &["secrets:*"], |_| {});
    let foreign = MintedKey::generate().secret; // another deployment's key: unknown id
    let mut forged = secret.clone(); // right id, wrong secret
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [foreign, forged, format!("{secret}x"), secret[..secret.len() - 4].to_owned(), format!("{secret} "), "hull_sk_".to_owned()] {
        let error = app.server_key_caller(&bad, None, &server()).unwrap_err();
        assert_eq!((error.short, error.message.as_str()), ("BadServerKey", "The provided server key is invalid for this deployment."), "{bad}");
    }
    // Not a server key at all: left to the admin-key check.
    assert!(app.server_key_caller("hull-test|0011", None, &server()).unwrap().is_none());
}

#[test]
fn tokens_expire_and_can_only_narrow_the_scope() {
    let (_p, app) = deployed();
    let secret = mint(&app, "svc", &["secrets:*"], |_| {});
    let key = ServerKey::parse(&secret).unwrap();
    let now = now_ms() / 1000;
    let narrowed = hull_keys::derive_token(&key, 60, Some(&["secrets:getSecretData".to_owned()]), now).unwrap();
    let token = caller(&app, &narrowed);
    value(call(&app, &token, CallKind::Query, "secrets:getSecretData", json!({})));
    looks_missing(call(&app, &token, CallKind::Mutation, "secrets:setSecret", json!({"value": "x"})), "secrets:setSecret");
    // A token asking for more than its key has gets nothing more.
    let wider = hull_keys::derive_token(&key, 60, Some(&["*".to_owned()]), now).unwrap();
    looks_missing(call(&app, &caller(&app, &wider), CallKind::Mutation, "users:deleteUser", json!({"id": "u"})), "users:deleteUser");
    // One second of life: usable now, refused two seconds later, also when authenticated before.
    let brief = hull_keys::derive_token(&key, 1, None, now).unwrap();
    let authenticated = caller(&app, &brief);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(app.server_key_caller(&brief, None, &server()).unwrap_err().short, "ServerTokenExpired");
    assert_eq!(app.revalidate(&authenticated).unwrap_err().short, "BadServerToken");
    // Revoking the key kills its tokens.
    let fresh = hull_keys::derive_token(&key, 60, None, now_ms() / 1000).unwrap();
    app.revoke_server_key("svc").unwrap();
    assert_eq!(app.server_key_caller(&fresh, None, &server()).unwrap_err().short, "ServerKeyRevoked");
}

#[test]
fn the_rate_limit_holds_for_one_key_and_not_the_others() {
    let (_p, app) = deployed();
    let limited = caller(&app, &mint(&app, "limited", &["secrets:*"], |k| k.rate = Some("3/s".into())));
    let other = caller(&app, &mint(&app, "other", &["secrets:*"], |_| {}));
    let path = FunctionPath::parse("secrets:publicInfo").unwrap();
    let mut refused = Vec::new();
    for _ in 0..10 {
        if let Err(error) = app.call(&limited, CallKind::Query, &path, json!({})) {
            refused.push(error);
        }
        value(app.call(&other, CallKind::Query, &path, json!({})).unwrap());
    }
    assert!(refused.len() >= 6, "a burst of 10 against 3/s: {} refused", refused.len());
    assert_eq!(refused[0].short, "RateLimited");
    assert!(refused[0].message.contains("Retry after"), "{}", refused[0].message);
}

#[test]
fn the_audit_trail_records_every_decision_and_survives_a_restart() {
    let (persistence, app) = deployed();
    let identity = UserIdentity::from_attributes(json!({"tokenIdentifier": "t|u-9", "subject": "u-9"}).as_object().unwrap().clone()).unwrap();
    let secret = mint(&app, "svc", &["secrets:*"], |k| k.act_as = true);
    let key = app.server_key_caller(&secret, Some(identity), &server()).unwrap().unwrap();
    let allowed = call(&app, &key, CallKind::Query, "secrets:getSecretData", json!({}));
    let request_id = allowed.request_id.clone();
    call(&app, &key, CallKind::Mutation, "users:deleteUser", json!({"id": "x"}));
    let browser = RequestOrigin { client_address: Some("10.0.0.9:1".into()), from_browser: true };
    app.server_key_caller(&secret, None, &browser).unwrap_err();
    mint(&app, "quiet", &["*"], |_| {});

    let entries = app.server_key_audit(Some("svc"), 100).unwrap();
    let summary: Vec<(Option<&str>, &str)> = entries.iter().map(|e| (e.function.as_deref(), e.outcome.as_str())).collect();
    assert_eq!(summary, vec![(None, "denied"), (Some("users:deleteUser"), "denied"), (Some("secrets:getSecretData"), "allowed")]);
    assert_eq!(entries[2].request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!((entries[2].acting_as.as_deref(), entries[2].client_address.as_deref()), (Some("u-9"), Some("127.0.0.1:5555")));
    assert_eq!(entries[1].reason.as_deref(), Some("outside the key's scope"));
    assert_eq!(entries[0].client_address.as_deref(), Some("10.0.0.9:1"));
    assert!(app.server_key_audit(Some("quiet"), 100).unwrap().is_empty());
    drop(app);

    let reopened = open(&persistence);
    assert_eq!(reopened.server_key_audit(None, 100).unwrap().len(), 3);
    let listed: Vec<String> = reopened.list_server_keys().into_iter().map(|k| k.name).collect();
    assert_eq!(listed, ["quiet", "svc"]);
    // The stored key still works after the restart.
    let key = reopened.server_key_caller(&secret, None, &server()).unwrap().unwrap();
    value(call(&reopened, &key, CallKind::Query, "secrets:getSecretData", json!({})));
}

#[test]
fn the_audit_trail_keeps_the_newest_entries_within_its_bound() {
    let persistence = Arc::new(MemoryPersistence::new());
    let app = open_with(&persistence, |c| c.audit_entries_max = 5);
    app.deploy_push_request(&fixture()).unwrap();
    let key = caller(&app, &mint(&app, "svc", &["secrets:*"], |_| {}));
    let mut request_ids = Vec::new();
    for _ in 0..12 {
        request_ids.push(call(&app, &key, CallKind::Query, "secrets:publicInfo", json!({})).request_id);
    }
    let kept: Vec<String> = app.server_key_audit(None, 100).unwrap().into_iter().filter_map(|e| e.request_id).collect();
    let newest: Vec<String> = request_ids.iter().rev().take(5).cloned().collect();
    assert_eq!(kept, newest);
    drop(app);
    // The count is rebuilt at startup, so the bound holds across restarts.
    let app = open_with(&persistence, |c| c.audit_entries_max = 5);
    let key = caller(&app, &mint(&app, "svc2", &["secrets:*"], |_| {}));
    call(&app, &key, CallKind::Query, "secrets:publicInfo", json!({}));
    assert_eq!(app.server_key_audit(None, 100).unwrap().len(), 5);
}

#[test]
fn http_actions_see_a_server_token_allowed_http_as_its_key() {
    let (_p, app) = deployed();
    let partner = |authorization: &str, origin: &RequestOrigin| {
        let request = hull_app::HttpRequest {
            method: "GET".into(),
            url: "http://127.0.0.1:3211/partner".into(),
            headers: vec![("authorization".into(), authorization.into())],
            body: None,
        };
        match app.run_http_action(request, origin).unwrap() {
            hull_app::HttpActionResult::Response(response) => (response.status, String::from_utf8(response.body).unwrap()),
            other => panic!("{other:?}"),
        }
    };
    let now = now_ms() / 1000;
    let allowed = ServerKey::parse(&mint(&app, "partner-api", &["http:*"], |_| {})).unwrap();
    let token = hull_keys::derive_token(&allowed, 60, None, now).unwrap();
    assert_eq!(partner(&format!("Bearer {token}"), &server()), (200, r#"{"key":"partner-api"}"#.to_owned()));
    // A key without `http:*`, a browser, a revoked key: the handler sees no identity.
    let other = ServerKey::parse(&mint(&app, "secrets-only", &["secrets:*"], |_| {})).unwrap();
    let other_token = hull_keys::derive_token(&other, 60, None, now).unwrap();
    assert_eq!(partner(&format!("Bearer {other_token}"), &server()).0, 401);
    let browser = RequestOrigin { client_address: None, from_browser: true };
    assert_eq!(partner(&format!("Bearer {token}"), &browser).0, 401);
    app.revoke_server_key("partner-api").unwrap();
    assert_eq!(partner(&format!("Bearer {token}"), &server()).0, 401);
    let audit = app.server_key_audit(Some("partner-api"), 10).unwrap();
    assert!(audit.iter().any(|e| e.function.as_deref() == Some("http:GET /partner") && e.outcome == "allowed"), "{audit:?}");
}

#[test]
fn what_is_stored_cannot_impersonate_a_key() {
    use base64::Engine as _;
    let (_p, app) = deployed();
    let secret = mint(&app, "svc", &["*"], |_| {});
    let mut export = Vec::new();
    app.database().export(&mut export).unwrap();
    let text = String::from_utf8(export).unwrap();
    // The key is version ‖ 8-byte id ‖ 32-byte seed; no encoding of the seed may be stored.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&secret["hull_sk_".len()..]).unwrap();
    let seed = &bytes[9..];
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    for encoded in [
        base64::engine::general_purpose::STANDARD.encode(seed),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed),
        hex,
        secret.clone(),
    ] {
        assert!(!text.contains(&encoded[..40.min(encoded.len())]), "the key's secret must not be stored");
    }
    assert!(text.contains("_hull_server_keys"), "the export holds the key table");
}
