//! The admin API behind `hull keys`: store a key's public half, list, revoke, read the audit
//! trail. Admin keys only; the secret of a key never travels here (the CLI mints it locally).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use hull_app::NewServerKey;
use hull_errors::Error;
use hull_keys::KeyId;
use serde::Deserialize;

use crate::auth;
use crate::wire::{self, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE};
use crate::{AppState, HttpError};

/// `POST /api/hull/server_keys` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateRequest {
    name: String,
    key_id: String,
    /// base64url (no padding) of the 32-byte Ed25519 public key.
    public_key: String,
    allow: Vec<String>,
    #[serde(default)]
    act_as: bool,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    allow_browser: bool,
    expires_at: Option<u64>,
    rate: Option<String>,
}

/// `POST /api/hull/server_keys/revoke` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    name: String,
}

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/hull/server_keys", post(create).get(list))
        .route("/api/hull/server_keys/revoke", post(revoke))
        .route("/api/hull/server_keys/audit", get(audit))
}

fn respond(result: Result<Response, HttpError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Runs `job` on a blocking thread (it commits or waits for the audit writer).
async fn blocking<T: Send + 'static>(job: impl FnOnce() -> hull_errors::Result<T> + Send + 'static) -> Result<T, HttpError> {
    Ok(tokio::task::spawn_blocking(job).await.map_err(|_| Error::internal("TaskPanicked", "a key operation panicked"))??)
}

async fn create(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    let result = async {
        auth::require_admin(state.application(), &headers, &uri)?;
        let request: CreateRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
        let key_id = KeyId::from_hex(&request.key_id)
            .ok_or_else(|| Error::bad_request("InvalidServerKey", "keyId must be 16 hex digits."))?;
        let public_key: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&request.public_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| Error::bad_request("InvalidServerKey", "publicKey must be 32 bytes, base64url without padding."))?;
        let new = NewServerKey {
            name: request.name,
            key_id,
            public_key,
            allow: request.allow,
            act_as: request.act_as,
            read_only: request.read_only,
            allow_browser: request.allow_browser,
            expires_at_ms: request.expires_at,
            rate: request.rate,
        };
        let application = state.application().clone();
        let info = blocking(move || application.create_server_key(new)).await?;
        Ok(Json(info).into_response())
    };
    respond(result.await)
}

async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let result = (|| -> Result<Response, HttpError> {
        auth::require_admin(state.application(), &headers, &uri)?;
        Ok(Json(state.application().list_server_keys()).into_response())
    })();
    respond(result)
}

async fn revoke(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    let result = async {
        auth::require_admin(state.application(), &headers, &uri)?;
        let request: RevokeRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
        let application = state.application().clone();
        let info = blocking(move || application.revoke_server_key(&request.name)).await?;
        Ok(Json(info).into_response())
    };
    respond(result.await)
}

/// `GET /api/hull/server_keys/audit?name=<key>&limit=<n>`: newest first.
async fn audit(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let result = async {
        auth::require_admin(state.application(), &headers, &uri)?;
        let (mut name, mut limit) = (None, 100);
        for (field, value) in uri.query().unwrap_or("").split('&').filter_map(|pair| pair.split_once('=')) {
            match field {
                "name" => name = Some(auth::percent_decode(value)),
                "limit" => {
                    limit = value.parse().map_err(|_| Error::bad_request("InvalidQuery", "limit must be a number."))?;
                }
                _ => {}
            }
        }
        let application = state.application().clone();
        let entries = blocking(move || application.server_key_audit(name.as_deref(), limit)).await?;
        Ok(Json(entries).into_response())
    };
    respond(result.await)
}
