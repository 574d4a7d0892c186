//! Environment variable routes (wire protocols §9.1) and HTTP actions (§10), driven through the
//! routers with `oneshot` after deploying the real CLI bundle
//! `crates/hull-js/tests/fixtures/basic.push.json` (its `convex/http.ts` routes `/hello`,
//! the prefix `/files/` for POST, `/channels`, `/boom`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use hull_app::{AppConfig, Application, InstanceSecret};
use hull_server::{api_router, site_router, AppState, HTTP_ACTION_BODY_LIMIT};
use hull_store::MemoryPersistence;
use serde_json::{json, Value as Json};
use tower::ServiceExt;

/// Upper bound on a response body read by these tests.
const BODY_BYTES_MAX: usize = 21 << 20;

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/basic.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

fn deployed() -> (AppState, String) {
    let database = hull_db::Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"01".repeat(32)).unwrap());
    config.js_workers = 1;
    let application = Application::open(database, config).unwrap();
    application.deploy_push_request(&fixture()).unwrap();
    let admin = format!("Convex {}", application.issue_admin_key());
    (AppState::new(application), admin)
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

async fn send(router: Router, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:3211");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router.oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned())).collect();
    let bytes = axum::body::to_bytes(response.into_body(), BODY_BYTES_MAX).await.unwrap();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn update_then_list_and_process_env_see_the_variables() {
    let (state, admin) = deployed();
    let api = || api_router(state.clone());
    let update = |changes: Json| json!({ "changes": changes }).to_string().into_bytes();
    let auth = ("authorization", admin.as_str());

    let answer = send(api(), Method::POST, "/api/update_environment_variables", &[JSON, auth], update(json!([{"name": "KEY", "value": "v1"}]))).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    let answer = send(api(), Method::GET, "/api/list_environment_variables", &[auth], vec![]).await;
    assert_eq!(answer.json(), json!({"environmentVariables": {"KEY": "v1"}}));

    let read = json!({"path": "util:env", "args": {"name": "KEY"}}).to_string().into_bytes();
    let answer = send(api(), Method::POST, "/api/query", &[JSON], read.clone()).await;
    assert_eq!(answer.json()["value"]["value"], "v1", "{answer:?}");

    let answer = send(api(), Method::POST, "/api/v1/update_environment_variables", &[JSON, auth], update(json!([{"name": "KEY", "value": null}]))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = send(api(), Method::POST, "/api/query", &[JSON], read).await;
    assert_eq!(answer.json()["value"]["value"], Json::Null, "{answer:?}");

    let answer = send(api(), Method::POST, "/api/update_environment_variables", &[JSON, auth], update(json!([{"name": "9X", "value": "v"}]))).await;
    assert_eq!((answer.status, answer.json()["code"].as_str()), (400, Some("EnvironmentVariableNameInvalid")));
    let answer = send(api(), Method::POST, "/api/update_environment_variables", &[JSON], update(json!([]))).await;
    assert_eq!((answer.status, answer.json()["code"].as_str()), (403, Some("BadDeployKey")));
    let answer = send(api(), Method::GET, "/api/list_environment_variables", &[("authorization", "Convex hull-test|00")], vec![]).await;
    assert_eq!((answer.status, answer.json()["code"].as_str()), (401, Some("BadAdminKey")));
}

#[tokio::test]
async fn routed_paths_prefixes_and_methods_answer_like_the_router() {
    let (state, _) = deployed();
    let site = || site_router(state.clone());

    let answer = send(site(), Method::GET, "/hello", &[], vec![]).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "hello"));
    // HEAD is served as GET, without the body.
    let answer = send(site(), Method::HEAD, "/hello", &[], vec![]).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));

    let answer = send(site(), Method::POST, "/files/a/b.txt?q=1", &[], b"12345".to_vec()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), json!({"len": 5, "path": "/files/a/b.txt", "q": "1"}));
    assert_eq!((answer.header("content-type"), answer.header("x-custom")), (Some("application/json"), Some("1")));
    // No CORS headers are added to HTTP actions.
    assert!(answer.headers.iter().all(|(name, _)| !name.starts_with("access-control-")), "{answer:?}");

    // The same action under `/http/` on the API port, query string and all.
    let answer = send(api_router(state.clone()), Method::POST, "/http/files/x?q=2", &[("origin", "https://a.example")], b"ab".to_vec()).await;
    assert_eq!(answer.json(), json!({"len": 2, "path": "/files/x", "q": "2"}));
    assert!(answer.headers.iter().all(|(name, _)| !name.starts_with("access-control-")), "{answer:?}");

    let answer = send(site(), Method::GET, "/nope", &[], vec![]).await;
    assert_eq!((answer.status, answer.body.as_str()), (404, "No HttpAction routed for /nope"));
    // A routed path with a method it has no route for.
    let answer = send(site(), Method::DELETE, "/hello", &[], vec![]).await;
    assert_eq!(answer.status, 404, "{answer:?}");
    let answer = send(site(), Method::GET, "/files/x", &[], vec![]).await;
    assert_eq!(answer.status, 404, "{answer:?}");

    // Actions reach the database.
    let answer = send(site(), Method::POST, "/channels", &[JSON], br#"{"name":"general"}"#.to_vec()).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let answer = send(site(), Method::GET, "/channels", &[], vec![]).await;
    assert_eq!(answer.json()["names"], json!(["general"]), "{answer:?}");
}

#[tokio::test]
async fn a_throwing_handler_is_a_500_with_the_request_id_and_bodies_over_the_limit_are_413() {
    let (state, _) = deployed();
    let answer = send(site_router(state.clone()), Method::GET, "/boom", &[], vec![]).await;
    assert_eq!((answer.status, answer.header("content-type")), (500, Some("application/json")));
    let body = answer.json();
    let code = body["code"].as_str().unwrap();
    assert!(code.starts_with("[Request ID: ") && code.ends_with("] Server Error: Uncaught Error: http boom"), "{code}");
    assert!(body["trace"].as_str().unwrap().contains("http boom"), "{body}");

    let too_big = vec![b'x'; HTTP_ACTION_BODY_LIMIT + 1];
    let answer = send(site_router(state.clone()), Method::POST, "/files/big", &[], too_big).await;
    assert_eq!((answer.status, answer.json()["code"].as_str()), (413, Some("PayloadTooLarge")));
    let large = vec![b'x'; 4 << 20];
    let answer = send(site_router(state.clone()), Method::POST, "/files/big", &[], large).await;
    assert_eq!(answer.json()["len"], 4 << 20, "{answer:?}");
    // A body at the limit reaches the handler, which reads it whole as text: it arrives as an
    // ArrayBuffer beside the JSON arguments, not base64 inside them.
    let at_limit = vec![b'x'; HTTP_ACTION_BODY_LIMIT];
    let answer = send(site_router(state.clone()), Method::POST, "/files/big", &[], at_limit).await;
    assert_eq!((answer.status, answer.json()["len"].as_u64()), (200, Some(HTTP_ACTION_BODY_LIMIT as u64)), "{answer:?}");
    // And back out: a body at the limit echoed byte for byte.
    let pattern: Vec<u8> = (0..HTTP_ACTION_BODY_LIMIT).map(|i| b'a' + (i % 26) as u8).collect();
    let answer = send(site_router(state.clone()), Method::POST, "/echo", &[], pattern.clone()).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.as_bytes() == pattern.as_slice(), "the echoed body differs ({} bytes back)", answer.body.len());
}
