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

/// Largest push request (`start_push`, `evaluate_push`, `evaluate_schema`, `finish_push`) the
/// push endpoints read, compressed or after Brotli decompression. Convex:
/// `MAX_PUSH_BYTES = 200_000_000` (`crates/common/src/knobs.rs`).
pub const MAX_PUSH_BYTES: usize = 200_000_000;

const _: () = assert!(MAX_PUSH_BYTES > MAX_BACKEND_PUBLIC_API_REQUEST_SIZE);

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
    check_json_content_type(headers)?;
    let bytes = read_bytes(headers, body, limit).await?;
    parse_json(&bytes)
}

/// Like [`read_json`], but also accepts a `Content-Encoding: br` body (the push endpoints:
/// the CLI Brotli-compresses them) and applies `limit` to the decompressed size too, as
/// upstream's decompression layer in front of its size limit does.
pub async fn read_json_decompressed<T: DeserializeOwned>(headers: &HeaderMap, body: Body, limit: usize) -> Result<T, HttpError> {
    check_json_content_type(headers)?;
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase());
    let bytes = read_bytes(headers, body, limit).await?;
    let bytes = match encoding.as_deref() {
        None | Some("") | Some("identity") => bytes.to_vec(),
        Some("br") => tokio::task::spawn_blocking(move || decompress_brotli(&bytes, limit))
            .await
            .map_err(|_| Error::internal("DecompressionPanicked", "Brotli decompression panicked"))??,
        Some(other) => {
            let error = Error::bad_request(
                "UnsupportedMediaType",
                format!("Unsupported Content-Encoding \"{other}\": send the body uncompressed or Brotli-compressed (`br`)."),
            );
            return Err(HttpError::with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE, error));
        }
    };
    parse_json(&bytes)
}

/// Decompresses a Brotli body, refusing output beyond `limit` bytes (413) and malformed streams
/// (400 `BadJsonBody`, upstream's answer when its decompression layer fails to buffer a body).
pub fn decompress_brotli(compressed: &[u8], limit: usize) -> Result<Vec<u8>, HttpError> {
    use std::io::Read as _;
    /// The decoder's internal buffer size (the crate's own examples use 4 KiB).
    const BROTLI_BUFFER_BYTES: usize = 4096;
    let decoder = brotli_decompressor::Decompressor::new(compressed, BROTLI_BUFFER_BYTES);
    let mut out = Vec::new();
    decoder.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| {
        bad_json(format!("Failed to buffer the request body: the body is not valid Brotli (Content-Encoding: br): {e}"))
    })?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}

fn too_large(limit: usize) -> HttpError {
    let error = Error::bad_request("PayloadTooLarge", format!("The request body is larger than the limit of {limit} bytes."));
    HttpError::with_status(StatusCode::PAYLOAD_TOO_LARGE, error)
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), HttpError> {
    if json_content_type(headers) {
        Ok(())
    } else {
        Err(bad_json("Expected request with `Content-Type: application/json`".into()))
    }
}

/// Reads a whole body of at most `limit` bytes (413 `PayloadTooLarge` beyond it).
pub async fn read_bytes(headers: &HeaderMap, body: Body, limit: usize) -> Result<axum::body::Bytes, HttpError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let over_limit = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large(limit)
        } else {
            // The client stalled or broke the connection mid-body.
            bad_json(format!("Failed to buffer the request body: {}", error_chain(&err)))
        }
    })
}

/// `err` and its sources, joined: `axum::Error` alone only says "error reading a body".
fn error_chain(err: &dyn std::error::Error) -> String {
    std::iter::successors(Some(err), |e| e.source()).map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad_json(format!("Failed to parse the request body as JSON: {e}")))?;
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
pub fn log_line(line: &LogLine) -> String {
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
    fn brotli_bodies_decompress_up_to_the_limit() {
        // `{"adminKey":"k"}` (16 bytes), compressed by Node's `zlib.brotliCompressSync`.
        let compressed = [139, 7, 128, 123, 34, 97, 100, 109, 105, 110, 75, 101, 121, 34, 58, 34, 107, 34, 125, 3];
        assert_eq!(decompress_brotli(&compressed, 16).unwrap(), br#"{"adminKey":"k"}"#);
        let error = decompress_brotli(&compressed, 15).unwrap_err();
        assert_eq!(error.error().short, "PayloadTooLarge");
        assert_eq!(decompress_brotli(b"\xff\xfe garbage", 1 << 20).unwrap_err().error().short, "BadJsonBody");
        // A truncated stream is malformed too.
        assert_eq!(decompress_brotli(&compressed[..10], 1 << 20).unwrap_err().error().short, "BadJsonBody");
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
