//! The two failure types: [`ConfigError`] for a bad `auth.config.js`, [`AuthError`] for a
//! token that cannot be turned into an identity.

use std::fmt;

/// Why a token was not accepted. The split that matters to callers is between the token being
/// at fault (answer 401, never retry with the same token) and the provider being unreachable
/// (the token may be fine; answer 503 and let the client retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthErrorKind {
    /// The token is malformed, forged, expired, or has a claim that fails validation.
    InvalidToken,
    /// No configured provider matches the token's `iss` and `aud`.
    NoAuthProvider,
    /// The provider's discovery document or key set could not be fetched or understood.
    ProviderUnreachable,
}

/// A token verification failure, with the short code and message the client sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    kind: AuthErrorKind,
    short: &'static str,
    message: String,
}

/// Short code for a token that cannot be decoded or fails a `customJwt` check (upstream's
/// `InvalidAuthHeader`, e.g. `Could not validate token: Token expired 8 seconds ago`).
pub const INVALID_AUTH_HEADER: &str = "InvalidAuthHeader";
/// Short code for an OIDC token that fails verification (upstream's `Unauthenticated`).
pub const UNAUTHENTICATED: &str = "Unauthenticated";
/// Short code when no provider matches (upstream's `NoAuthProvider`).
pub const NO_AUTH_PROVIDER: &str = "NoAuthProvider";
/// Short code for an identity whose token expired after it was accepted (upstream's
/// `TokenExpired`, sent over WebSocket as `AuthError{authUpdateAttempted:false}`).
pub const TOKEN_EXPIRED: &str = "TokenExpired";
/// Short code for a provider that cannot be reached. Hull's own: upstream does not document one.
pub const AUTH_PROVIDER_UNREACHABLE: &str = "AuthProviderUnreachable";

/// Upstream's message for any OIDC token that fails signature or claim verification.
pub const OIDC_VERIFY_FAILED: &str = "Could not verify OIDC token claim. Check that the token \
                                      signature is valid and the token hasn't expired.";

impl AuthError {
    pub(crate) fn new(
        kind: AuthErrorKind,
        short: &'static str,
        message: impl Into<String>,
    ) -> Self {
        AuthError {
            kind,
            short,
            message: message.into(),
        }
    }

    /// `InvalidAuthHeader`: the token cannot be decoded or fails a check.
    pub(crate) fn invalid_header(message: impl Into<String>) -> Self {
        AuthError::new(AuthErrorKind::InvalidToken, INVALID_AUTH_HEADER, message)
    }

    /// `Unauthenticated` with upstream's OIDC message; `detail` says which check failed.
    pub(crate) fn oidc(detail: impl fmt::Display) -> Self {
        AuthError::new(
            AuthErrorKind::InvalidToken,
            UNAUTHENTICATED,
            format!("{OIDC_VERIFY_FAILED} ({detail})"),
        )
    }

    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        AuthError::new(
            AuthErrorKind::ProviderUnreachable,
            AUTH_PROVIDER_UNREACHABLE,
            message,
        )
    }

    /// Which side is at fault.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The stable CamelCase code, e.g. `InvalidAuthHeader`.
    pub fn short(&self) -> &'static str {
        self.short
    }

    /// The developer-facing message. Never contains the token.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the provider, not the token, is at fault.
    pub fn is_provider_unreachable(&self) -> bool {
        self.kind == AuthErrorKind::ProviderUnreachable
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthError {}

impl From<AuthError> for hull_errors::Error {
    fn from(error: AuthError) -> Self {
        let code = match error.kind {
            AuthErrorKind::InvalidToken | AuthErrorKind::NoAuthProvider => {
                hull_errors::Code::Unauthenticated
            }
            AuthErrorKind::ProviderUnreachable => hull_errors::Code::Unavailable,
        };
        hull_errors::Error::new(code, error.short, error.message)
    }
}

/// A provider list that cannot be used, found when `auth.config.js` is pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

/// Short code for a bad auth config (Hull's own; upstream reports these as push errors).
pub const INVALID_AUTH_CONFIG: &str = "InvalidAuthConfig";

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }

    /// What is wrong, naming the provider index and field.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for hull_errors::Error {
    fn from(error: ConfigError) -> Self {
        hull_errors::Error::bad_request(INVALID_AUTH_CONFIG, error.message)
    }
}
