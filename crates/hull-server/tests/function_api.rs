//! The HTTP function API (wire protocols §5), driven through the router with `oneshot` after
//! deploying the real CLI bundle `crates/hull-js/tests/fixtures/basic.push.json`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use hull_app::{AppConfig, Application, InstanceSecret};
use hull_server::{api_router, AppState};
use hull_store::MemoryPersistence;
use serde_json::{json, Value as Json};
use tower::ServiceExt;

/// Upper bound on a response body read by these tests.
const BODY_BYTES_MAX: usize = 1 << 20;

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/basic.push.json");
    std::fs::read_to_string(path).expect("the hull-js fixture exists")
}

struct Api {
    state: AppState,
    admin_key: String,
}

fn deployed() -> Api {
    let database = hull_db::Database::open(Arc::new(MemoryPersistence::new())).unwrap();
    let mut config = AppConfig::new("hull-test", InstanceSecret::from_hex(&"01".repeat(32)).unwrap());
    config.js_workers = 1;
    let application = Application::open(database, config).unwrap();
    application.deploy_push_request(&fixture()).unwrap();
    let admin_key = application.issue_admin_key();
    Api { state: AppState::new(application), admin_key }
}

/// One answer, flattened: status, and the body as JSON (`null` for an empty body).
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Json,
}

impl Api {
    async fn send(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = api_router(self.state.clone()).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), BODY_BYTES_MAX).await.unwrap();
        let body = if bytes.is_empty() { Json::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
        Answer { status, body }
    }

    /// A POST the way `ConvexHttpClient` sends it, with an optional `Authorization` value.
    async fn post(&self, uri: &str, authorization: Option<&str>, body: Json) -> Answer {
        let mut headers = vec![("content-type", "application/json"), ("convex-client", "npm-1.48.0")];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        self.send(Method::POST, uri, &headers, body.to_string().into_bytes()).await
    }

    fn admin(&self) -> String {
        format!("Convex {}", self.admin_key)
    }

    async fn create_channel(&self, name: &str) -> String {
        let answer = self
            .post("/api/mutation", None, json!({"path": "channels:create", "format": "convex_encoded_json", "args": [{"name": name}]}))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["value"].as_str().unwrap().to_owned()
    }
}

/// The error message without its random request id: what follows `] Server Error\n`.
fn function_error(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["status"], "error", "{answer:?}");
    let message = answer.body["errorMessage"].as_str().unwrap();
    let (prefix, rest) = message.split_once("] Server Error\n").unwrap_or_else(|| panic!("{message}"));
    let id = prefix.strip_prefix("[Request ID: ").unwrap();
    assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{prefix}");
    rest.to_owned()
}

fn envelope(answer: &Answer) -> (u16, &str, &str) {
    (answer.status, answer.body["code"].as_str().unwrap_or(""), answer.body["message"].as_str().unwrap_or(""))
}

fn missing(name: &str) -> String {
    format!("Could not find public function for '{name}'. Did you forget to run `npx convex dev` or `npx convex deploy`?\n")
}

#[tokio::test]
async fn public_query_mutation_and_action_answer_the_success_envelope() {
    let api = deployed();
    let channel = api.create_channel("general").await;
    let sent = api
        .post(
            "/api/mutation",
            None,
            json!({"path": "messages:send", "format": "convex_encoded_json", "args": [{"message": {"channel": channel, "body": "hi"}, "author": "ann"}]}),
        )
        .await;
    assert_eq!(sent.body["status"], "success", "{sent:?}");
    assert_eq!(sent.body["logLines"], json!(["[LOG] sending { author: 'ann', len: 2 }"]));

    let listed = api
        .post("/api/query", None, json!({"path": "messages:list", "format": "convex_encoded_json", "args": [{"channel": channel}]}))
        .await;
    assert_eq!(listed.status, 200);
    let messages = listed.body["value"].as_array().unwrap();
    assert_eq!((messages.len(), &messages[0]["body"]), (1, &json!("hi")));
    assert!(listed.body.get("logLines").is_none(), "logLines is omitted when empty: {listed:?}");

    let counted = api
        .post("/api/action", None, json!({"path": "profiles:latest", "format": "convex_encoded_json", "args": [{"channel": channel}]}))
        .await;
    assert_eq!(counted.body, json!({"status": "success", "value": 1.0}));

    // `/api/run` takes the path from the URL and defaults to clean JSON.
    let run = api.post("/api/run/channels/all", None, json!({"args": {}})).await;
    assert_eq!(run.body, json!({"status": "success", "value": {"names": ["general"], "first": "general"}}));
}

#[tokio::test]
async fn internal_functions_look_missing_without_admin_in_every_spelling() {
    let api = deployed();
    let args = json!([{"author": "ann"}]);
    for path in ["messages:countByAuthor", "messages.js:countByAuthor"] {
        let answer = api.post("/api/query", None, json!({"path": path, "args": args})).await;
        assert_eq!(function_error(&answer), missing("messages:countByAuthor"), "{path}");
    }
    for uri in ["/api/run/messages/countByAuthor", "/api/run/messages.js/countByAuthor", "/api/run/messages%3AcountByAuthor"] {
        let answer = api.post(uri, None, json!({"args": {"author": "ann"}})).await;
        assert_eq!(function_error(&answer), missing("messages:countByAuthor"), "{uri}");
    }
    // Exactly the text of a function that does not exist, and of a system function.
    let answer = api.post("/api/query", None, json!({"path": "messages:nope", "args": [{}]})).await;
    assert_eq!(function_error(&answer), missing("messages:nope"));
    let answer = api.post("/api/query", None, json!({"path": "_system/cli/modules:apiSpec", "args": [{}]})).await;
    assert_eq!(function_error(&answer), missing("_system/cli/modules:apiSpec"));
    let answer = api.post("/api/query", None, json!({"path": "messages", "args": [{}]})).await;
    assert_eq!(function_error(&answer), missing("messages"));
}

#[tokio::test]
async fn admins_may_call_internal_functions_and_use_api_function() {
    let api = deployed();
    let admin = api.admin();
    let answer = api.post("/api/query", Some(&admin), json!({"path": "messages:countByAuthor", "args": [{"author": "ann"}]})).await;
    assert_eq!(answer.body, json!({"status": "success", "value": 0.0}));
    let answer = api
        .post("/api/function", Some(&admin), json!({"path": "messages.js:countByAuthor", "format": "convex_encoded_json", "args": {"author": "ann"}}))
        .await;
    assert_eq!(answer.body, json!({"status": "success", "value": 0.0}));
    let answer = api.post("/api/function", Some(&admin), json!({"path": "messages:nope", "args": {}})).await;
    assert_eq!(function_error(&answer), "Could not find function for 'messages:nope'. Did you forget to run `npx convex dev`?\n");

    // Acting as a user is accepted (the identity does not reach functions yet).
    let identity = "eyJzdWJqZWN0IjoidTEiLCJpc3N1ZXIiOiJodHRwczovL2NvbnZleC50ZXN0In0=";
    let acting = format!("{admin}:{identity}");
    let answer = api.post("/api/query", Some(&acting), json!({"path": "messages:countByAuthor", "args": [{"author": "ann"}]})).await;
    assert_eq!(answer.body["status"], "success", "{answer:?}");
    let answer = api.post("/api/query", Some(&format!("{admin}:not-base64!")), json!({"path": "channels:all", "args": [{}]})).await;
    assert_eq!(envelope(&answer).0, 400);
    assert_eq!(envelope(&answer).1, "HeaderParseFailure");
}

#[tokio::test]
async fn credentials_that_do_not_check_out_get_upstream_envelopes() {
    let api = deployed();
    let body = json!({"path": "channels:all", "args": [{}]});
    let bad_key = format!("Convex {}0", api.admin_key);
    let answer = api.post("/api/query", Some(&bad_key), body.clone()).await;
    assert_eq!(envelope(&answer), (401, "BadAdminKey", "The provided admin key was invalid for this instance"));
    let answer = api.post("/api/query", Some("Convex hull-test|00"), body.clone()).await;
    assert_eq!(envelope(&answer), (401, "BadAdminKey", "The provided admin key was invalid for this instance"));
    let answer = api.post("/api/query", Some("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"), body.clone()).await;
    assert_eq!((answer.status, answer.body["code"].as_str()), (401, Some("InvalidAuthHeader")));
    assert!(answer.body["message"].as_str().unwrap().starts_with("Could not"), "a token no provider issued: {answer:?}");
    let answer = api.post("/api/query", Some("Basic dXNlcjpwYXNz"), body.clone()).await;
    assert_eq!(envelope(&answer), (400, "InvalidAdminKey", "Invalid admin key"));
    let answer = api.post("/api/function", None, json!({"path": "channels:all", "args": {}})).await;
    assert_eq!(envelope(&answer).0, 403);
    assert_eq!(envelope(&answer).1, "BadDeployKey");
}

#[tokio::test]
async fn malformed_requests_get_400_envelopes() {
    let api = deployed();
    let json_headers = [("content-type", "application/json")];
    let answer = api.send(Method::POST, "/api/query", &json_headers, b"{not json".to_vec()).await;
    let (status, code, message) = envelope(&answer);
    assert_eq!((status, code), (400, "BadJsonBody"));
    assert!(message.starts_with("Failed to parse the request body as JSON: "), "{message}");

    let answer = api.send(Method::POST, "/api/query", &json_headers, br#"{"args":[{}]}"#.to_vec()).await;
    let (status, code, message) = envelope(&answer);
    assert_eq!((status, code), (400, "BadJsonBody"));
    assert!(message.starts_with("Failed to deserialize the JSON body into the target type: missing field `path`"), "{message}");

    for content_type in [None, Some("text/plain")] {
        let headers: Vec<(&str, &str)> = content_type.map(|c| ("content-type", c)).into_iter().collect();
        let answer = api.send(Method::POST, "/api/query", &headers, br#"{"path":"channels:all","args":[{}]}"#.to_vec()).await;
        assert_eq!(envelope(&answer), (400, "BadJsonBody", "Expected request with `Content-Type: application/json`"));
    }

    let answer = api.post("/api/query", None, json!({"path": "channels:all!", "args": [{}]})).await;
    let (status, code, message) = envelope(&answer);
    assert_eq!((status, code), (400, "BadConvexFunctionIdentifier"));
    assert!(message.starts_with("channels:all! is not a valid path to a Convex function. "), "{message}");

    let answer = api.post("/api/query", None, json!({"path": "channels:all", "args": [{}], "format": "yaml"})).await;
    assert_eq!((answer.status, answer.body["code"].as_str()), (400, Some("BadFormat")));

    let huge = vec![b' '; hull_server::MAX_BACKEND_PUBLIC_API_REQUEST_SIZE + 1];
    let answer = api.send(Method::POST, "/api/query", &json_headers, huge).await;
    assert_eq!((answer.status, answer.body["code"].as_str()), (413, Some("PayloadTooLarge")));
}

#[tokio::test]
async fn function_failures_are_200_error_envelopes() {
    let api = deployed();
    let answer = api.post("/api/query", None, json!({"path": "channels:create", "args": [{"name": "x"}]})).await;
    assert_eq!(function_error(&answer), "Trying to execute channels.js:create as Query, but it is defined as Mutation.\n");

    let answer = api.post("/api/query", None, json!({"path": "util:throws", "args": [{}]})).await;
    assert!(function_error(&answer).starts_with("Uncaught Error: boom\n"), "{answer:?}");
    assert!(answer.body.get("errorData").is_none());

    let answer = api
        .post("/api/mutation", None, json!({"path": "util:throwsData", "format": "convex_encoded_json", "args": [{"code": 7}]}))
        .await;
    assert!(function_error(&answer).starts_with("Uncaught ConvexError: "), "{answer:?}");
    assert_eq!(answer.body["errorData"]["big"], json!({"$integer": "BwAAAAAAAAA="}));
    let answer = api.post("/api/run/util/throwsData", None, json!({"args": {"code": 7}})).await;
    assert_eq!(answer.body["errorData"]["big"], json!("7"), "clean JSON by default: {answer:?}");

    let answer = api.post("/api/query", None, json!({"path": "channels:all", "args": [{}, {}]})).await;
    assert!(function_error(&answer).starts_with("Invalid arguments for channels:all: "), "{answer:?}");
}

#[tokio::test]
async fn check_admin_key_accepts_only_this_instances_keys() {
    let api = deployed();
    let answer = api.send(Method::GET, "/api/check_admin_key", &[("authorization", &api.admin())], Vec::new()).await;
    assert_eq!(answer.body, json!({"success": true, "allowedOps": [], "isReadOnly": false}));
    let query = format!("/api/check_admin_key?adminKey={}", api.admin_key.replace('|', "%7C"));
    assert_eq!(api.send(Method::GET, &query, &[], Vec::new()).await.status, 200);
    let answer = api.send(Method::GET, "/api/check_admin_key", &[("authorization", "Convex other|00")], Vec::new()).await;
    assert_eq!(envelope(&answer).0, 401);
    let answer = api.send(Method::GET, "/api/check_admin_key", &[], Vec::new()).await;
    assert_eq!(envelope(&answer).1, "BadDeployKey");
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn api_routes_answer_cors_preflights_and_echo_the_origin() {
    let api = deployed();
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/query")
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization")
        .body(Body::empty())
        .unwrap();
    let response = api_router(api.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("http://localhost:5173"));
    assert_eq!(header("access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(header("access-control-allow-headers").as_deref(), Some("content-type,authorization"));
    assert_eq!(header("access-control-max-age").as_deref(), Some("86400"));

    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/query")
        .header("origin", "http://localhost:5173")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"path":"channels:all","args":[{}]}"#))
        .unwrap();
    let response = api_router(api.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:5173");
}
