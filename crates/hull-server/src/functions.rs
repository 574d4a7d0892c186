//! The HTTP function API (wire protocols §5): `POST /api/query`, `/api/mutation`, `/api/action`,
//! `/api/function`, `/api/run/{path}`, and `GET /api/check_admin_key` (§11).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hull_app::{CallKind, Caller, FunctionPath};
use hull_errors::Error;
use serde::Deserialize;

use crate::auth::{self, Peer};
use crate::wire::{self, ValueFormat, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE};
use crate::{AppState, HttpError};

/// `/api/query`, `/api/mutation`, `/api/action` bodies.
#[derive(Deserialize)]
struct UdfPostRequest {
    path: String,
    args: serde_json::Value,
    format: Option<String>,
}

/// `/api/function` bodies (`npx convex run`, `ConvexHttpClient.function`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionPostRequest {
    path: Option<String>,
    reference: Option<String>,
    args: serde_json::Value,
    format: Option<String>,
    component_path: Option<String>,
}

/// `/api/run/{path}` bodies.
#[derive(Deserialize)]
struct RunPostRequest {
    #[serde(default)]
    args: Option<serde_json::Value>,
    format: Option<String>,
}

/// The function API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/query", post(query))
        .route("/api/mutation", post(mutation))
        .route("/api/action", post(action))
        .route("/api/function", post(function))
        .route("/api/run/{*path}", post(run))
        .route("/api/check_admin_key", get(check_admin_key))
}

async fn query(State(state): State<AppState>, peer: Peer, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(udf_post(state, peer, headers, uri, body, CallKind::Query).await)
}

async fn mutation(State(state): State<AppState>, peer: Peer, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(udf_post(state, peer, headers, uri, body, CallKind::Mutation).await)
}

async fn action(State(state): State<AppState>, peer: Peer, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(udf_post(state, peer, headers, uri, body, CallKind::Action).await)
}

fn respond(result: Result<Response, HttpError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn udf_post(state: AppState, peer: Peer, headers: HeaderMap, uri: Uri, body: Body, kind: CallKind) -> Result<Response, HttpError> {
    let caller = auth::request_caller(state.application(), &headers, &uri, peer).await?;
    let request: UdfPostRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
    let format = ValueFormat::parse(request.format.as_deref())?;
    let path = FunctionPath::parse(&request.path)?;
    call(state, caller, kind, path, request.args, format).await
}

async fn function(State(state): State<AppState>, peer: Peer, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    let result = async {
        let caller = auth::request_caller(state.application(), &headers, &uri, peer).await?;
        let request: FunctionPostRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
        let format = ValueFormat::parse(request.format.as_deref())?;
        let Some(path) = request.path.or(request.reference) else {
            return Err(Error::bad_request("BadJsonBody", "missing field `path`").into());
        };
        let path = FunctionPath::parse(&path)?;
        if matches!(caller, Caller::Admin { .. }) && request.component_path.is_some_and(|c| !c.is_empty()) {
            return Err(Error::bad_request(
                "ComponentsNotSupported",
                "Hull does not support components yet: omit componentPath to call the app's own functions.",
            )
            .into());
        }
        call(state, caller, CallKind::AdminAny, path, request.args, format).await
    };
    respond(result.await)
}

async fn run(State(state): State<AppState>, peer: Peer, Path(path): Path<String>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    let result = async {
        let caller = auth::request_caller(state.application(), &headers, &uri, peer).await?;
        let request: RunPostRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
        let format = ValueFormat::parse(request.format.as_deref())?;
        let path = FunctionPath::parse_url_path(&path)?;
        let args = request.args.unwrap_or_else(|| serde_json::json!({}));
        call(state, caller, CallKind::Any, path, args, format).await
    };
    respond(result.await)
}

/// Runs the call on a blocking thread (calls wait for a JS worker and for commits).
async fn call(
    state: AppState,
    caller: Caller,
    kind: CallKind,
    path: FunctionPath,
    args: serde_json::Value,
    format: ValueFormat,
) -> Result<Response, HttpError> {
    let application = state.application().clone();
    let outcome = tokio::task::spawn_blocking(move || application.call(&caller, kind, &path, args))
        .await
        .map_err(|_| Error::internal("CallPanicked", "a function call panicked"))?
        .map_err(wire::system_error)?;
    Ok(wire::udf_response(outcome, format))
}

/// `GET /api/check_admin_key`: 200 for a valid admin key, 401 `BadAdminKey` for a wrong one,
/// 403 `BadDeployKey` without one (§11).
async fn check_admin_key(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let result = (|| -> Result<Response, HttpError> {
        // Admin keys only: a server key is not one (it would otherwise pass as a "valid key").
        auth::require_admin(state.application(), &headers, &uri)?;
        let body = serde_json::json!({"success": true, "allowedOps": [], "isReadOnly": false});
        Ok(Json(body).into_response())
    })();
    respond(result)
}
