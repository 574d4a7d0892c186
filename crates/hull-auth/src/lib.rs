//! `hull-auth`: verifies end-user JWTs against the deployment's auth providers and turns them
//! into Convex's `UserIdentity`.
//!
//! A deployment's `auth.config.js` lists the providers allowed to issue tokens:
//! OIDC providers (`{domain, applicationID}`, keys found through the discovery document) and
//! custom-JWT providers (`{type: "customJwt", issuer, jwks, algorithm, applicationID?}`, keys
//! at a URL or inline in a `data:` URI). [`AuthConfig::from_json`] validates that list,
//! [`Verifier::verify`] checks one token against it, and [`UserIdentity::to_json`] is what
//! `ctx.auth.getUserIdentity()` returns.
//!
//! ```no_run
//! # use std::time::SystemTime;
//! # use hull_auth::{AuthConfig, Verifier, VerifierOptions};
//! let config = AuthConfig::from_json(&serde_json::json!({
//!     "providers": [{"domain": "https://tenant.example.com", "applicationID": "convex"}]
//! })).unwrap();
//! let verifier = Verifier::new(config, VerifierOptions::default());
//! match verifier.verify("eyJ...", SystemTime::now()) {
//!     Ok(identity) => println!("{}", identity.to_json()),
//!     Err(error) if error.is_provider_unreachable() => { /* 503: retry later */ }
//!     Err(error) => { /* 401 with error.short() and error.message() */ }
//! }
//! ```
//!
//! Key decisions:
//! - **Strict algorithms.** Only RS256 and ES256 (what Convex accepts). The algorithm comes
//!   from the token header but must be one of those two, must equal a `customJwt` provider's
//!   `algorithm`, and must fit the key (`kty`, `crv`, the key's own `alg`): `alg: none`, HMAC
//!   with a public key as the secret, and RSA/EC confusion are all impossible.
//! - **Token invalid vs provider unreachable** are different [`AuthErrorKind`]s: the first is a
//!   401 the client must fix by getting a new token, the second a 503 that may pass.
//! - **Bounded provider traffic.** Keys are cached per source for
//!   [`limits::JWKS_CACHE_TTL_SECONDS`]; an unknown `kid` refetches, but never more than once
//!   per [`limits::JWKS_REFETCH_INTERVAL_MIN_SECONDS`] per provider, however many tokens ask.
//! - **Blocking I/O** with `ureq` (the client and TLS stack `hull-js` uses for `fetch()`);
//!   signatures with `ring`, which rustls already links.
//! - Tokens, claims and keys are never logged; errors name claims, never their secrets.
//!
//! Invariant: knows nothing about HTTP routing, WebSocket messages or JavaScript.
#![deny(missing_docs)]

mod config;
mod error;
mod fetch;
mod identity;
mod jwks;
mod jwt;
pub mod limits;
#[cfg(feature = "testkit")]
pub mod testkit;
mod verifier;

pub use config::{AuthConfig, AuthProvider, CustomJwtProvider, OidcProvider};
pub use error::{
    AUTH_PROVIDER_UNREACHABLE, AuthError, AuthErrorKind, ConfigError, INVALID_AUTH_CONFIG,
    INVALID_AUTH_HEADER, NO_AUTH_PROVIDER, OIDC_VERIFY_FAILED, TOKEN_EXPIRED, UNAUTHENTICATED,
};
pub use identity::UserIdentity;
pub use jwks::Algorithm;
pub use verifier::{Verifier, VerifierOptions};
