//! HTTP actions (wire protocols §10): every path of the site port except `/version`, and
//! `/http/<path>` on the API port (the prefix stripped), served by the deployed `http.js`
//! router through [`hull_app::Application::run_http_action`].
//!
//! As upstream: HEAD is served as GET and its body dropped; bodies of GET, HEAD and OPTIONS
//! requests are ignored; other bodies up to [`HTTP_ACTION_BODY_LIMIT`]; no CORS headers are
//! added (apps answer OPTIONS themselves); a handler that throws gives 500 with
//! `{"code": "[Request ID: X] Server Error: <message>", "trace": ...}`. Bodies are buffered
//! whole in both directions (upstream streams them).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hull_app::{HttpActionResult, HttpRequest};
use hull_errors::Error;

use crate::auth::Peer;
use crate::{AppState, HttpError};

/// Largest HTTP action request body: 20 MiB, upstream's limit for HTTP action bodies
/// (wire protocols §10.1; Convex `crates/common/src/knobs.rs`).
pub const HTTP_ACTION_BODY_LIMIT: usize = 20 << 20;

/// What the site port answers while no `http.js` is deployed: upstream's words and content
/// type (404 `text/plain`, wire protocols §10.2).
pub const NO_HTTP_ACTIONS_MESSAGE: &str = "This Convex deployment does not have HTTP actions enabled.";

/// The site port's fallback: every path is an HTTP action.
pub async fn site(State(state): State<AppState>, peer: Peer, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    serve(state, peer, method, path_and_query, headers, body).await
}

/// `/http/<path>` on the API port: the action routed at `/<path>`.
pub async fn api_prefixed(
    State(state): State<AppState>,
    peer: Peer,
    path: Option<Path<String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut path_and_query = format!("/{}", path.map_or(String::new(), |Path(p)| p));
    if let Some(query) = uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    serve(state, peer, method, path_and_query, headers, body).await
}

async fn serve(state: AppState, peer: Peer, method: Method, path_and_query: String, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let head = method == Method::HEAD;
        let method = if head { Method::GET } else { method };
        let body = if matches!(method, Method::GET | Method::OPTIONS) {
            None
        } else {
            Some(crate::wire::read_bytes(&headers, body, HTTP_ACTION_BODY_LIMIT).await?.to_vec())
        };
        let request = http_action_request(&method, &path_and_query, &headers, body);
        let application = state.application().clone();
        let origin = crate::auth::request_origin(&headers, peer.0);
        let result = tokio::task::spawn_blocking(move || application.run_http_action(request, &origin))
            .await
            .map_err(|_| Error::internal("HttpActionPanicked", "an HTTP action panicked"))?
            .map_err(crate::wire::system_error)?;
        Ok::<_, HttpError>(respond(result, head))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// The request an HTTP action's `Request` is made from: the URL the client used (scheme from
/// the forwarding headers, the `Host` header, the path and query as received), the headers that
/// are text (a header with other bytes is left out, as `fetch`'s `Headers` cannot hold it), and
/// the body already read.
pub fn http_action_request(method: &Method, path_and_query: &str, headers: &HeaderMap, body: Option<Vec<u8>>) -> HttpRequest {
    HttpRequest {
        method: method.as_str().to_owned(),
        url: format!("{}://{}{path_and_query}", scheme(headers), host(headers)),
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body,
    }
}

fn respond(result: HttpActionResult, head: bool) -> Response {
    match result {
        HttpActionResult::NotEnabled => (StatusCode::NOT_FOUND, NO_HTTP_ACTIONS_MESSAGE).into_response(),
        HttpActionResult::Error { request_id, error } => {
            let mut body = serde_json::json!({
                "code": format!("[Request ID: {request_id}] Server Error: {}", error.message),
                "trace": match &error.stack {
                    Some(stack) => format!("{}\n{}", error.message, stack.trim_end()),
                    None => error.message.clone(),
                },
            });
            if let Some(data) = &error.data {
                body["data"] = data.to_json();
            }
            let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        HttpActionResult::Response(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = if head { Body::empty() } else { Body::from(answer.body) };
            let mut response = Response::builder().status(status).body(body).expect("a status and a body make a response");
            for (name, value) in answer.headers {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
    }
}

/// The request's scheme as the client saw it: `X-Forwarded-Proto`, else `Forwarded: proto=`,
/// else `http`.
fn scheme(headers: &HeaderMap) -> String {
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(proto) = header_text("x-forwarded-proto") {
        return proto.split(',').next().unwrap_or("http").trim().to_ascii_lowercase();
    }
    if let Some(forwarded) = header_text("forwarded") {
        for part in forwarded.split([';', ',']) {
            if let Some((key, value)) = part.trim().split_once('=')
                && key.eq_ignore_ascii_case("proto")
            {
                return value.trim_matches('"').to_ascii_lowercase();
            }
        }
    }
    "http".to_owned()
}

/// The `Host` header, or the loopback address when a client sent none (HTTP/1.0).
fn host(headers: &HeaderMap) -> String {
    headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_owned()
}
