//! `hull-errors`: the one error type that crosses Hull's crate boundaries.
//!
//! Every failure a user can see is an [`Error`]: a [`Code`] (which the server maps to an HTTP
//! status and a WebSocket close reason), a stable CamelCase `short` tag (what tests, metrics and
//! tools match on, e.g. `OptimisticConcurrencyControlFailure`) and the human `message`.
//!
//! Key decision: messages are written for the developer who will read them, in the words the
//! upstream Convex backend uses wherever the official client or tools match on them. Internal
//! bugs are not `Error`s: they are assertions.
#![deny(missing_docs)]

use std::fmt;

/// What kind of failure this is; decides the HTTP status and whether retrying can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The request or its arguments are wrong (HTTP 400).
    BadRequest,
    /// The caller is not authenticated (HTTP 401).
    Unauthenticated,
    /// The caller may not do this (HTTP 403).
    Forbidden,
    /// The named thing does not exist (HTTP 404).
    NotFound,
    /// A transaction conflicted with a concurrent commit; the operation may be retried (HTTP 409).
    Conflict,
    /// A rate or size limit was exceeded (HTTP 429 for rates, 400 for sizes carries BadRequest).
    RateLimited,
    /// A server-side failure that is not the caller's fault (HTTP 500).
    Internal,
    /// The service cannot serve this now, e.g. the store is shutting down (HTTP 503).
    Unavailable,
}

/// A user-visible failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The class of failure.
    pub code: Code,
    /// Stable CamelCase tag, e.g. `InvalidId` or `TooManyReads`.
    pub short: &'static str,
    /// What went wrong and, where possible, what to do about it.
    pub message: String,
    /// For a `RateLimited` error: when the caller may try again (HTTP `Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl Error {
    /// Creates an error from its parts.
    pub fn new(code: Code, short: &'static str, message: impl Into<String>) -> Error {
        Error { code, short, message: message.into(), retry_after: None }
    }

    /// This error, saying the caller may retry after `wait`.
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Error {
        self.retry_after = Some(wait);
        self
    }

    /// A `BadRequest` error: the caller's input is at fault.
    pub fn bad_request(short: &'static str, message: impl Into<String>) -> Error {
        Error::new(Code::BadRequest, short, message)
    }

    /// A `NotFound` error.
    pub fn not_found(short: &'static str, message: impl Into<String>) -> Error {
        Error::new(Code::NotFound, short, message)
    }

    /// An `Internal` error: something on the server side failed (I/O, corruption).
    pub fn internal(short: &'static str, message: impl Into<String>) -> Error {
        Error::new(Code::Internal, short, message)
    }

    /// True for errors a mutation runner may retry (optimistic concurrency conflicts).
    pub fn is_retryable_conflict(&self) -> bool {
        self.code == Code::Conflict
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand used across Hull.
pub type Result<T, E = Error> = std::result::Result<T, E>;
