//! Convex's error envelope for failures that are not a user function's.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hull_errors::{Code, Error};
use serde::Serialize;

/// The short code and message Convex answers for a server-side failure, whatever it was: the
/// details go to the log, never to the client (upstream `HttpError` for untagged errors).
const INTERNAL_SHORT: &str = "InternalServerError";
const INTERNAL_MESSAGE: &str = "Your request couldn't be completed. Try again later.";

/// An [`Error`] on its way to an HTTP client: `HTTP <status>` with the JSON body
/// `{"code": "<short>", "message": "<message>"}` (wire protocols §1.3).
///
/// The status follows the error's [`Code`]. `Internal` errors are answered with Convex's generic
/// 500 envelope and logged, so storage paths and other server details never reach a client.
#[derive(Debug)]
pub struct HttpError {
    error: Error,
    /// A status other than the one the error's code maps to (413 for oversized bodies, which
    /// no [`Code`] stands for).
    status: Option<StatusCode>,
}

impl HttpError {
    /// `error`, answered with `status` instead of the status of its code.
    pub fn with_status(status: StatusCode, error: Error) -> HttpError {
        HttpError { error, status: Some(status) }
    }

    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl From<Error> for HttpError {
    fn from(error: Error) -> HttpError {
        HttpError { error, status: None }
    }
}

/// The wire shape of the envelope.
#[derive(Serialize)]
struct Envelope<'a> {
    code: &'a str,
    message: &'a str,
}

/// The HTTP status Convex uses for each error class (upstream `http_status_code`).
fn status_of(code: Code) -> StatusCode {
    match code {
        Code::BadRequest => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Conflict => StatusCode::CONFLICT,
        Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // `Code` is non-exhaustive: a class this crate does not know yet is a server failure.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let HttpError { error, status } = self;
        let status = status.unwrap_or_else(|| status_of(error.code));
        let envelope = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(short = error.short, "request failed: {}", error.message);
            Envelope { code: INTERNAL_SHORT, message: INTERNAL_MESSAGE }
        } else {
            Envelope { code: error.short, message: &error.message }
        };
        let mut response = (status, Json(envelope)).into_response();
        if let Some(wait) = error.retry_after {
            // Whole seconds, at least one: what the header allows.
            let seconds = wait.as_millis().div_ceil(1000).max(1) as u64;
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_maps_to_the_convex_status() {
        let cases = [
            (Code::BadRequest, 400),
            (Code::Unauthenticated, 401),
            (Code::Forbidden, 403),
            (Code::NotFound, 404),
            (Code::Conflict, 409),
            (Code::RateLimited, 429),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
        ];
        for (code, status) in cases {
            assert_eq!(status_of(code).as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn a_retry_time_becomes_a_retry_after_header_in_whole_seconds() {
        let error = Error::new(Code::RateLimited, "RateLimited", "slow down").with_retry_after(std::time::Duration::from_millis(1_200));
        let response = HttpError::from(error).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "2");
        let plain = HttpError::from(Error::new(Code::RateLimited, "RateLimited", "slow down")).into_response();
        assert!(plain.headers().get(axum::http::header::RETRY_AFTER).is_none());
    }
}
