//! Wire shapes of the function API: JSON request bodies (with upstream's rejections), value
//! formats, and the `{"status": ...}` response envelope (wire protocols §2.6, §5.2).

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use hull_app::{CallOutcome, LogLevel, LogLine};
use hull_errors::{Code, Error};
use hull_values::Value;
use serde::de::DeserializeOwned;

use crate::HttpError;

/// Largest request body the function API reads: the 16 MiB argument limit plus room for the
/// envelope. Convex: `MAX_BACKEND_PUBLIC_API_REQUEST_SIZE = 16 MiB + 2000`
/// (`crates/common/src/knobs.rs`).
pub const MAX_BACKEND_PUBLIC_API_REQUEST_SIZE: usize = (1 << 24) + 2000;

/// How a request wants values encoded (`format`, wire protocols §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueFormat {
    /// `convex_encoded_json` / `convex_json`: lossless Convex JSON.
    ConvexEncoded,
    /// `json` / `convex_clean_json`: lossy "clean" JSON, the default.
    Clean,
    /// `export_json`: int64 as numbers, `$float`/`$bytes` kept.
    Export,
}

impl ValueFormat {
    /// Parses `format`; absent means clean JSON (every current client's default).
    pub fn parse(format: Option<&str>) -> Result<ValueFormat, HttpError> {
        Ok(match format {
            None | Some("json") | Some("convex_clean_json") => ValueFormat::Clean,
            Some("convex_encoded_json") | Some("convex_json") => ValueFormat::ConvexEncoded,
            Some("export_json") => ValueFormat::Export,
            Some(other) => {
                return Err(Error::bad_request(
                    "BadFormat",
                    format!("Unknown value format \"{other}\": use \"json\", \"convex_encoded_json\" or \"export_json\"."),
                )
                .into());
            }
        })
    }

    /// `value` in this format.
    pub fn encode(self, value: &Value) -> serde_json::Value {
        match self {
            ValueFormat::ConvexEncoded => value.to_json(),
            ValueFormat::Clean | ValueFormat::Export => export(self, value),
        }
    }
}

fn export(format: ValueFormat, value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    let clean = format == ValueFormat::Clean;
    match value {
        Value::Int64(i) if clean => Json::String(i.to_string()),
        Value::Int64(i) => Json::from(*i),
        Value::Float64(f) if f.is_finite() => Json::from(*f),
        Value::Float64(f) if clean => Json::String(
            if f.is_nan() { "NaN" } else if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned(),
        ),
        Value::Bytes(bytes) if clean => Json::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Value::Array(items) => Json::Array(items.iter().map(|v| export(format, v)).collect()),
        Value::Object(fields) => Json::Object(fields.iter().map(|(k, v)| (k.clone(), export(format, v))).collect()),
        other => other.to_json(),
    }
}

/// Reads a JSON body as `T`, answering like upstream's JSON extractor: a content type other than
/// `application/json` (or `application/*+json`), a body over `limit`, malformed JSON and a body
/// of the wrong shape are each a 4xx error envelope.
pub async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: Body, limit: usize) -> Result<T, HttpError> {
    if !json_content_type(headers) {
        return Err(bad_json("Expected request with `Content-Type: application/json`".into()));
    }
    let too_large = || {
        Error::bad_request(
            "PayloadTooLarge",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(HttpError::with_status(StatusCode::PAYLOAD_TOO_LARGE, too_large()));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| HttpError::with_status(StatusCode::PAYLOAD_TOO_LARGE, too_large()))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad_json(format!("Failed to parse the request body as JSON: {e}")))?;
    serde_json::from_value(json)
        .map_err(|e| bad_json(format!("Failed to deserialize the JSON body into the target type: {e}")))
}

fn bad_json(message: String) -> HttpError {
    Error::bad_request("BadJsonBody", message).into()
}

fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `[LEVEL] message message`, the shape `ConvexHttpClient` parses (wire protocols §6.10).
fn log_line(line: &LogLine) -> String {
    let level = match line.level {
        LogLevel::Log => "LOG",
        LogLevel::Info => "INFO",
        LogLevel::Warn => "WARN",
        LogLevel::Error => "ERROR",
        LogLevel::Debug => "DEBUG",
    };
    format!("[{level}] {}", line.messages.join(" "))
}

/// The function API's answer to a call that ran (or failed as a function): HTTP 200 with
/// `{"status":"success","value",...}` or `{"status":"error","errorMessage","errorData"?,...}`;
/// `logLines` only when there are some.
pub fn udf_response(outcome: CallOutcome, format: ValueFormat) -> Response {
    let mut body = serde_json::Map::new();
    match outcome.result {
        Ok(value) => {
            body.insert("status".into(), "success".into());
            body.insert("value".into(), format.encode(&value));
        }
        Err(error) => {
            // Upstream's redacted-error Display: the request id, "Server Error", then the JS
            // error (message, a newline, and the stack frames if any).
            let stack = error.stack.as_deref().map(str::trim_end).unwrap_or("");
            let message = format!("[Request ID: {}] Server Error\n{}\n{stack}", outcome.request_id, error.message);
            body.insert("status".into(), "error".into());
            body.insert("errorMessage".into(), message.into());
            if let Some(data) = &error.data {
                body.insert("errorData".into(), format.encode(data));
            }
        }
    }
    if !outcome.logs.is_empty() {
        body.insert("logLines".into(), outcome.logs.iter().map(log_line).collect::<Vec<_>>().into());
    }
    (StatusCode::OK, Json(serde_json::Value::Object(body))).into_response()
}

/// A function API error that is not a function's: the §1.3 envelope.
pub fn system_error(error: Error) -> HttpError {
    if error.code == Code::Internal {
        tracing::error!(short = error.short, "function call failed: {}", error.message);
    }
    error.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_and_export_formats_follow_upstream() {
        let value = Value::Object(
            [
                ("i".to_owned(), Value::Int64(-5)),
                ("nan".to_owned(), Value::Float64(f64::NAN)),
                ("inf".to_owned(), Value::Float64(f64::NEG_INFINITY)),
                ("b".to_owned(), Value::Bytes(b"hello".to_vec())),
                ("f".to_owned(), Value::Float64(1.5)),
            ]
            .into(),
        );
        let clean = ValueFormat::Clean.encode(&value);
        assert_eq!(clean, serde_json::json!({"i": "-5", "nan": "NaN", "inf": "-Infinity", "b": "aGVsbG8=", "f": 1.5}));
        let export = ValueFormat::Export.encode(&value);
        assert_eq!(export["i"], serde_json::json!(-5));
        assert_eq!(export["b"], serde_json::json!({"$bytes": "aGVsbG8="}));
        assert_eq!(ValueFormat::ConvexEncoded.encode(&value)["i"], serde_json::json!({"$integer": "+/////////8="}));
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            json_content_type(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("Application/JSON"));
        assert!(with("application/vnd.api+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!json_content_type(&HeaderMap::new()));
    }
}
