//! The host half of `fetch()` in actions and HTTP actions: a blocking HTTP/1.1 client (`ureq`
//! 3 on rustls with the `ring` provider and Mozilla's root certificates; no aws-lc, no
//! OpenSSL). Requests issued in the same turn of the event loop run in parallel threads; the
//! action's JS waits for all of them, as it would for any batch of async syscalls.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value as Json, json};
use ureq::{Agent, RequestExt as _, ResponseExt as _, http};

/// Largest response body `fetch()` reads (the JS heap must hold it, and its copies).
pub const MAX_FETCH_RESPONSE_BYTES: u64 = 16 << 20;
/// A fetch may not take longer than this, whatever the action's remaining time.
pub const MAX_FETCH_DURATION: Duration = Duration::from_secs(300);

/// What the prelude's `fetch` sends to the host (the body travels separately, as bytes).
#[derive(Debug, Deserialize)]
pub(crate) struct FetchRequest {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// `follow` (default), `manual` or `error`.
    #[serde(default)]
    pub redirect: Option<String>,
    /// The time left on an `AbortSignal.timeout(...)` signal, if the request has one.
    #[serde(default, rename = "timeoutMs")]
    pub timeout_ms: Option<f64>,
}

/// A response: metadata for JS (`status`, `statusText`, `headers`, `url`, `redirected`) and
/// the body bytes.
pub(crate) struct FetchResponse {
    pub meta: Json,
    pub body: Vec<u8>,
}

fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        Agent::config_builder()
            // 4xx and 5xx are responses, not errors, for fetch().
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects_will_error(true)
            .build()
            .new_agent()
    })
}

/// Performs one request. `Err` is the message of the `TypeError` the JS promise rejects with.
pub(crate) fn perform(
    request: &FetchRequest,
    body: Option<&[u8]>,
    deadline: Option<Instant>,
) -> Result<FetchResponse, String> {
    let url = url::Url::parse(&request.url).map_err(|e| format!("Invalid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => {}
        scheme => return Err(format!("scheme '{scheme}' is not supported by fetch()")),
    }
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(url.as_str());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let http_request = builder
        .body(body.unwrap_or_default().to_vec())
        .map_err(|e| format!("invalid request: {e}"))?;
    let mut timeout = MAX_FETCH_DURATION;
    if let Some(deadline) = deadline {
        timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
    }
    if let Some(ms) = request.timeout_ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
        timeout = timeout.min(Duration::from_secs_f64(ms / 1000.0));
    }
    let redirect = request.redirect.as_deref().unwrap_or("follow");
    let mut response = http_request
        .with_agent(agent())
        .configure()
        .timeout_global(Some(timeout))
        .max_redirects(if redirect == "follow" { 20 } else { 0 })
        .build()
        .run()
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => "the request timed out".to_owned(),
            ureq::Error::TooManyRedirects => "redirect count exceeded".to_owned(),
            other => other.to_string(),
        })?;
    let status = response.status();
    if redirect == "error" && status.is_redirection() {
        return Err("unexpected redirect (redirect mode is \"error\")".into());
    }
    let final_url = response.get_uri().to_string();
    let redirected = final_url != url.as_str();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = if request.method.eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else {
        response
            .body_mut()
            .with_config()
            .limit(MAX_FETCH_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => format!(
                    "the response body is larger than the limit of {MAX_FETCH_RESPONSE_BYTES} bytes"
                ),
                other => format!("reading the response body failed: {other}"),
            })?
    };
    Ok(FetchResponse {
        meta: json!({
            "status": status.as_u16(),
            "statusText": status.canonical_reason().unwrap_or(""),
            "headers": headers,
            "url": final_url,
            "redirected": redirected,
        }),
        body,
    })
}
