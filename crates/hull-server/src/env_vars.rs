//! Environment variable routes (wire protocols §9.1): `POST /api/update_environment_variables`
//! (what `npx convex env set/remove` call) and `GET /api/list_environment_variables`, both also
//! under `/api/v1/`, both for admins only. `env list` and `env get` read through the system
//! queries `_system/cli/queryEnvironmentVariables[:get]` (served by `hull_app`'s calls).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hull_app::EnvVarChange;
use hull_errors::Error;
use serde::Deserialize;

use crate::auth;
use crate::wire::{self, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE};
use crate::{AppState, HttpError};

/// `update_environment_variables` bodies: `{"changes": [{"name", "value": string | null}]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    changes: Vec<Change>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    name: String,
    value: Option<String>,
}

/// The environment variable routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/update_environment_variables", post(update))
        .route("/api/v1/update_environment_variables", post(update))
        .route("/api/list_environment_variables", get(list))
        .route("/api/v1/list_environment_variables", get(list))
}

/// Applies the changes in one transaction and answers 200 with an empty body, as upstream
/// (the CLI does not read it).
async fn update(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    let result = async {
        auth::require_admin(state.application(), &headers, &uri)?;
        let request: UpdateRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
        let changes = request.changes.into_iter().map(|c| EnvVarChange { name: c.name, value: c.value }).collect();
        let application = state.application().clone();
        tokio::task::spawn_blocking(move || application.update_environment_variables(changes))
            .await
            .map_err(|_| Error::internal("UpdatePanicked", "an environment variable update panicked"))??;
        Ok::<_, HttpError>(().into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// `{"environmentVariables": {"NAME": "value", ...}}`.
async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let result = (|| {
        auth::require_admin(state.application(), &headers, &uri)?;
        let variables: serde_json::Map<String, serde_json::Value> = state
            .application()
            .environment_variables()
            .into_iter()
            .map(|(name, value)| (name, serde_json::Value::String(value)))
            .collect();
        Ok::<_, HttpError>(Json(serde_json::json!({ "environmentVariables": variables })).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}
