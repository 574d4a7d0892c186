//! Log streaming (wire protocols §9.5): `GET /api/stream_function_logs?cursor=<ms>`, the
//! long-poll behind `npx convex logs` and the log output of `npx convex dev`.
//!
//! The poll waits asynchronously (re-checking every [`LOG_POLL_INTERVAL`]) rather than on a
//! blocking thread, so a pending poll holds no thread and graceful shutdown can drop it.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hull_app::{FunctionExecution, LogLevel, UdfType};
use hull_errors::Error;
use serde_json::{json, Value as Json_};

use crate::auth;
use crate::{AppState, HttpError};

/// How long one poll waits for a new execution before answering with none. Upstream: at most
/// 60 s (`crates/local_backend/src/logs.rs`); shorter here so an idle poll never outlives the
/// server's shutdown grace by much.
pub const LOG_POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting poll looks for new executions.
pub const LOG_POLL_INTERVAL: Duration = Duration::from_millis(250);

const _: () = assert!(LOG_POLL_INTERVAL.as_millis() < LOG_POLL_TIMEOUT.as_millis());

/// The log-streaming route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/stream_function_logs", get(stream_function_logs))
}

async fn stream_function_logs(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let result = async {
        auth::require_admin(state.application(), &headers, &uri)?;
        let cursor = cursor(&uri)?;
        let deadline = tokio::time::Instant::now() + LOG_POLL_TIMEOUT;
        let (entries, next) = loop {
            let (entries, next) = state.application().function_executions_since(cursor);
            // Cursor 0 is a client's first poll: it only wants the current cursor (the CLI
            // discards these entries), so it is answered at once.
            if cursor == 0 || !entries.is_empty() || tokio::time::Instant::now() >= deadline {
                break (entries, next);
            }
            tokio::time::sleep(LOG_POLL_INTERVAL).await;
        };
        let entries: Vec<Json_> = entries.iter().map(completion).collect();
        Ok::<_, HttpError>(Json(json!({"entries": entries, "newCursor": next})).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// The `cursor` query parameter: a number of milliseconds (the CLI sends integers; a fraction
/// is accepted and truncated).
fn cursor(uri: &Uri) -> Result<u64, HttpError> {
    let value = uri
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("cursor=")))
        .unwrap_or("0");
    let cursor: f64 = value
        .parse()
        .ok()
        .filter(|c: &f64| c.is_finite() && *c >= 0.0)
        .ok_or_else(|| Error::bad_request("InvalidCursor", format!("The cursor \"{value}\" is not a non-negative number.")))?;
    Ok(cursor as u64)
}

/// A `Completion` entry (`FunctionExecutionJson`), with structured log lines as upstream sends
/// them to the CLI and dashboard.
fn completion(execution: &FunctionExecution) -> Json_ {
    let udf_type = match execution.udf_type {
        UdfType::Query => "Query",
        UdfType::Mutation => "Mutation",
        UdfType::Action => "Action",
        _ => "HttpAction",
    };
    let log_lines: Vec<Json_> = execution
        .log_lines
        .iter()
        .map(|line| {
            let level = match line.level {
                LogLevel::Log => "LOG",
                LogLevel::Info => "INFO",
                LogLevel::Warn => "WARN",
                LogLevel::Error => "ERROR",
                LogLevel::Debug => "DEBUG",
            };
            json!({"messages": line.messages, "level": level, "timestamp": line.timestamp_ms, "isTruncated": false})
        })
        .collect();
    json!({
        "kind": "Completion",
        "udfType": udf_type,
        "identifier": execution.identifier,
        "logLines": log_lines,
        "timestamp": execution.started_ms / 1000.0,
        "executionTime": execution.execution_time_ms / 1000.0,
        "error": execution.error,
        "success": null,
        "requestId": execution.request_id,
        "executionId": execution.request_id,
        "componentPath": null,
        "cachedResult": false,
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    use super::*;

    async fn get(state: AppState, path: &str, authorization: Option<&str>) -> (u16, Json_) {
        let mut request = Request::builder().method(Method::GET).uri(path);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = crate::api_router(state).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Json_::Null))
    }

    #[tokio::test]
    async fn log_streaming_needs_an_admin_key() {
        let state = crate::test_state("hull-test");
        let (status, body) = get(state.clone(), "/api/stream_function_logs?cursor=0", None).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("BadDeployKey")));
        let (status, body) = get(state, "/api/stream_function_logs?cursor=0", Some("Convex hull-test|00")).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("BadAdminKey")));
    }

    #[tokio::test]
    async fn malformed_cursors_are_400() {
        let state = crate::test_state("hull-test");
        let key = format!("Convex {}", state.application().issue_admin_key());
        let (status, body) = get(state, "/api/stream_function_logs?cursor=-1", Some(&key)).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("InvalidCursor")));
    }
}
