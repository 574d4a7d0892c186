//! The two routers: the API port's and the site (HTTP actions) port's.

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::routing::{any, get};
use axum::Router;
use hull_errors::Error;

use crate::{AppState, HttpError, VERSION};

/// What `GET /` on the API port answers, for a human who opens the URL in a browser.
const ROOT_TEXT: &str = "This Hull deployment is running. See https://docs.convex.dev/.";

/// The router for the API port (3210): health and metadata routes (wire protocols §11) and the
/// HTTP function API (§5), the push protocol (§8), environment variables (§9.1), log streaming
/// (§9.5) and the sync WebSocket (§6). Unknown paths get a 404 error envelope.
/// HTTP actions are reachable under `/http/` (§10.1), without the CORS layer: layers apply only
/// to the routes added before them, and apps answer their own OPTIONS requests.
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .merge(crate::functions::routes())
        .merge(crate::push::routes())
        .merge(crate::logs::routes())
        .merge(crate::env_vars::routes())
        .merge(crate::server_keys::routes())
        .merge(crate::sync::routes())
        .route("/", get(root))
        .route("/version", get(version))
        .route("/instance_version", get(version))
        .route("/instance_name", get(instance_name))
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn(crate::cors::layer))
        .route("/http/", any(crate::http_actions::api_prefixed))
        .route("/http/{*path}", any(crate::http_actions::api_prefixed))
        .with_state(state)
}

/// The router for the site port (3211): every path except `/version` (which upstream serves on
/// both ports, for health checks) is an HTTP action of the deployed `http.js` router.
pub fn site_router(state: AppState) -> Router {
    Router::new().route("/version", get(version)).fallback(crate::http_actions::site).with_state(state)
}

async fn root() -> &'static str {
    ROOT_TEXT
}

async fn version() -> &'static str {
    VERSION
}

async fn instance_name(State(state): State<AppState>) -> String {
    state.instance_name().to_owned()
}

async fn api_not_found(method: Method, uri: Uri) -> HttpError {
    let message = format!("No route for {method} {} on this deployment.", uri.path());
    Error::not_found("NotFound", message).into()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt;

    use super::*;
    use crate::NO_HTTP_ACTIONS_MESSAGE;

    /// Upper bound on a response body read by these tests.
    const BODY_BYTES_MAX: usize = 1 << 20;

    /// One answered request, flattened for assertions.
    #[derive(Debug, PartialEq)]
    struct Answer {
        status: u16,
        content_type: String,
        body: String,
    }

    fn state() -> AppState {
        crate::test_state("hull-test")
    }

    /// Sends one request through `router` with no socket and returns what came back.
    async fn send(router: Router, method: Method, path: &str) -> Answer {
        let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), BODY_BYTES_MAX).await.unwrap();
        Answer { status, content_type, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    fn text(status: u16, body: &str) -> Answer {
        Answer { status, content_type: "text/plain; charset=utf-8".into(), body: body.into() }
    }

    fn envelope(status: u16, code: &str, message: &str) -> Answer {
        let body = serde_json::json!({ "code": code, "message": message }).to_string();
        Answer { status, content_type: "application/json".into(), body }
    }

    #[tokio::test]
    async fn api_version_answers_the_hull_version_as_text() {
        let answer = send(api_router(state()), Method::GET, "/version").await;
        assert_eq!(answer, text(200, VERSION));
        let answer = send(api_router(state()), Method::GET, "/instance_version").await;
        assert_eq!(answer, text(200, VERSION));
    }

    #[tokio::test]
    async fn api_instance_name_answers_the_configured_name() {
        let answer = send(api_router(state()), Method::GET, "/instance_name").await;
        assert_eq!(answer, text(200, "hull-test"));
    }

    #[tokio::test]
    async fn api_root_says_the_deployment_is_running() {
        let answer = send(api_router(state()), Method::GET, "/").await;
        assert_eq!(answer, text(200, ROOT_TEXT));
    }

    #[tokio::test]
    async fn api_unknown_path_is_a_404_envelope_naming_the_route() {
        let answer = send(api_router(state()), Method::POST, "/api/nope?x=1").await;
        assert_eq!(answer, envelope(404, "NotFound", "No route for POST /api/nope on this deployment."));
    }

    #[tokio::test]
    async fn without_http_js_every_action_path_is_upstreams_404_text() {
        for (method, path) in [(Method::GET, "/"), (Method::POST, "/api/hook"), (Method::GET, "/instance_name")] {
            let answer = send(site_router(state()), method, path).await;
            assert_eq!(answer, text(404, NO_HTTP_ACTIONS_MESSAGE), "{path}");
        }
        let answer = send(api_router(state()), Method::GET, "/http/api/hook").await;
        assert_eq!(answer, text(404, NO_HTTP_ACTIONS_MESSAGE));
    }

    #[tokio::test]
    async fn site_version_answers_like_the_api_port() {
        let answer = send(site_router(state()), Method::GET, "/version").await;
        assert_eq!(answer, text(200, VERSION));
    }

    #[tokio::test]
    async fn internal_errors_reach_clients_as_the_generic_500_envelope() {
        let error = Error::internal("StorageError", "SQLite store at /secret/path: disk I/O error");
        let router = Router::new().route("/fail", get(move || async move { HttpError::from(error) }));
        let answer = send(router, Method::GET, "/fail").await;
        let expected = "Your request couldn't be completed. Try again later.";
        assert_eq!(answer, envelope(500, "InternalServerError", expected));
    }
}
