//! The permissive CORS layer upstream puts on `/api/*` and the health routes (wire protocols
//! §1.4): the request's origin and headers are echoed, credentials allowed, preflights cached
//! for a day. HTTP actions on the site port get none (user code answers `OPTIONS` itself).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The methods preflights allow (upstream `router.rs::cors`).
const ALLOWED_METHODS: &str = "GET,POST,OPTIONS,PATCH,DELETE,PUT";

/// How long browsers may cache a preflight answer, in seconds (upstream: 86400).
const PREFLIGHT_MAX_AGE_SECONDS: &str = "86400";

/// Answers CORS preflights and adds the CORS headers to every answer to a request with `Origin`.
pub async fn layer(request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = (StatusCode::OK, Body::empty()).into_response();
        let headers = response.headers_mut();
        allow(headers, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        if let Some(requested) = request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECONDS));
        return response;
    }
    let mut response = next.run(request).await;
    allow(response.headers_mut(), origin);
    response
}

fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}
