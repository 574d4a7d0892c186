//! [`Verifier`]: token in, [`UserIdentity`] out.
//!
//! Order of checks, each failing with its own message:
//! 1. decode: three base64url parts, `alg` RS256/ES256 (so `none` and HMAC never get further),
//!    a `kid`, JSON claims;
//! 2. pick the provider by the unverified `iss` and `aud` (none → `NoAuthProvider`);
//! 3. for `customJwt`, `alg` must be the configured `algorithm` (no downgrade or switch);
//! 4. find the key by `kid` (refetching the provider's keys, rate-limited) and check the
//!    signature with the algorithm fixed in step 1, which the key must be for;
//! 5. `sub`, `exp`, `nbf`, `iat` with [`CLOCK_SKEW_SECONDS`](crate::limits::CLOCK_SKEW_SECONDS);
//! 6. map the claims to the identity.
//!
//! OIDC failures from step 3 on carry upstream's `Unauthenticated` message ("Could not verify
//! OIDC token claim. …") followed by the specific reason in parentheses; `customJwt` failures
//! carry `InvalidAuthHeader` and "Could not validate token: …", as upstream reports them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::config::{AuthConfig, AuthProvider, CustomJwtProvider, OidcProvider, oidc_issuer};
use crate::error::{AuthError, AuthErrorKind, NO_AUTH_PROVIDER};
use crate::fetch::{CachePolicy, KeyCache, KeySource};
use crate::identity::{CustomClaims, UserIdentity};
use crate::jwks::KeySet;
use crate::jwt::{self, UnverifiedToken, excerpt};
use crate::limits;

/// Timing knobs; [`Default`] uses the constants in [`limits`](crate::limits).
#[derive(Clone, Copy, Debug)]
pub struct VerifierOptions {
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew_seconds: u64,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_cache_ttl_seconds: u64,
    /// The shortest time between two fetches of one provider's keys.
    pub jwks_refetch_interval_min_seconds: u64,
    /// Timeout of one discovery or JWKS request.
    pub provider_fetch_timeout_seconds: u64,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        VerifierOptions {
            clock_skew_seconds: limits::CLOCK_SKEW_SECONDS,
            jwks_cache_ttl_seconds: limits::JWKS_CACHE_TTL_SECONDS,
            jwks_refetch_interval_min_seconds: limits::JWKS_REFETCH_INTERVAL_MIN_SECONDS,
            provider_fetch_timeout_seconds: limits::PROVIDER_FETCH_TIMEOUT_SECONDS,
        }
    }
}

/// Verifies tokens against one [`AuthConfig`]. `Send + Sync`; share it behind an `Arc`.
/// [`Verifier::verify`] blocks while it fetches a provider's keys, so call it off any async
/// executor thread.
pub struct Verifier {
    config: AuthConfig,
    options: VerifierOptions,
    cache: Arc<KeyCache>,
}

impl Verifier {
    /// A verifier with an empty key cache.
    pub fn new(config: AuthConfig, options: VerifierOptions) -> Verifier {
        Verifier {
            config,
            options,
            cache: Arc::new(KeyCache::default()),
        }
    }

    /// A verifier for a newly pushed config that keeps the cached keys of providers both
    /// configs share, and drops the rest.
    pub fn with_config(&self, config: AuthConfig) -> Verifier {
        let sources: Vec<KeySource> = config.providers().iter().filter_map(key_source).collect();
        Verifier {
            config,
            options: self.options,
            cache: Arc::new(self.cache.retaining(&sources)),
        }
    }

    /// The providers this verifier accepts.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Verifies `token` at time `now` and returns the identity it proves.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<UserIdentity, AuthError> {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let token = jwt::decode(token)?;
        let issuer = match token.claims.get("iss") {
            Some(Value::String(issuer)) => issuer.clone(),
            _ => {
                return Err(AuthError::invalid_header(
                    "Could not validate token: the JWT has no issuer claim ('iss'); it must \
                     match one of the configured auth providers",
                ));
            }
        };
        let audiences = audiences(&token.claims);
        let provider = self
            .config
            .providers()
            .iter()
            .find(|provider| matches(provider, &issuer, &audiences))
            .ok_or_else(|| self.no_provider())?;
        match provider {
            AuthProvider::Oidc(oidc) => self.verify_oidc(oidc, &token, &audiences, issuer, now_ms),
            AuthProvider::CustomJwt(custom) => self.verify_custom(custom, &token, issuer, now_ms),
        }
    }

    fn verify_oidc(
        &self,
        provider: &OidcProvider,
        token: &UnverifiedToken<'_>,
        audiences: &[&str],
        issuer: String,
        now_ms: u64,
    ) -> Result<UserIdentity, AuthError> {
        let source = KeySource::Oidc {
            issuer: oidc_issuer(&provider.domain),
        };
        self.check_signature(&source, None, token, now_ms)
            .map_err(|e| match e {
                Failure::Provider(error) => error,
                Failure::Token(detail) => AuthError::oidc(detail),
            })?;
        if let Some(other) = audiences
            .iter()
            .find(|aud| **aud != provider.application_id)
        {
            return Err(AuthError::oidc(format!(
                "the token is also for audience '{}', which is not the applicationID",
                excerpt(other)
            )));
        }
        let times = self
            .check_times(&token.claims, now_ms / 1000, true)
            .map_err(AuthError::oidc)?;
        let subject = subject(&token.claims).map_err(AuthError::oidc)?;
        UserIdentity::from_claims(subject, issuer, times, &token.claims, CustomClaims::AsIs)
            .map_err(|e| {
                AuthError::new(
                    AuthErrorKind::InvalidToken,
                    crate::error::UNAUTHENTICATED,
                    format!(
                        "Could not parse as OIDC ID token. Token might not be an OIDC-compliant \
                         JWT. ({e})"
                    ),
                )
            })
    }

    fn verify_custom(
        &self,
        provider: &CustomJwtProvider,
        token: &UnverifiedToken<'_>,
        issuer: String,
        now_ms: u64,
    ) -> Result<UserIdentity, AuthError> {
        if token.algorithm != provider.algorithm {
            return Err(AuthError::invalid_header(format!(
                "Could not decode token: the JWT is signed with {} but the auth provider '{}' \
                 is configured with algorithm {}",
                token.algorithm, provider.issuer, provider.algorithm
            )));
        }
        let source = KeySource::Jwks {
            url: provider.jwks.clone(),
        };
        let inline = provider.inline_keys.as_ref();
        self.check_signature(&source, inline, token, now_ms)
            .map_err(|e| match e {
                Failure::Provider(error) => error,
                Failure::Token(detail) => {
                    AuthError::invalid_header(format!("Could not validate token: {detail}"))
                }
            })?;
        let validate = |detail: String| {
            AuthError::invalid_header(format!("Could not validate token: {detail}"))
        };
        let expires_at = self
            .check_times(&token.claims, now_ms / 1000, false)
            .map_err(validate)?;
        let subject = subject(&token.claims).map_err(validate)?;
        UserIdentity::from_claims(
            subject,
            issuer,
            expires_at,
            &token.claims,
            CustomClaims::Flattened,
        )
        .map_err(|e| AuthError::invalid_header(format!("Could not parse JWT payload: {e}")))
    }

    /// Finds the token's key and checks its signature.
    fn check_signature(
        &self,
        source: &KeySource,
        inline: Option<&KeySet>,
        token: &UnverifiedToken<'_>,
        now_ms: u64,
    ) -> Result<(), Failure> {
        let fetched;
        let keys = match inline {
            Some(keys) => keys,
            None => {
                fetched = self
                    .cache
                    .keys(source, &token.kid, now_ms, self.policy())
                    .map_err(Failure::Provider)?;
                &*fetched
            }
        };
        let key = keys.find(&token.kid).ok_or_else(|| {
            Failure::Token(format!(
                "the JWT's 'kid' (key ID) header is '{}', which matches no key in the \
                 provider's JWKS",
                excerpt(&token.kid)
            ))
        })?;
        key.verify(token.algorithm, token.signing_input, &token.signature)
            .map_err(Failure::Token)
    }

    /// Checks `exp` (required), `nbf` and `iat` (required when `iat_required`); returns `exp`.
    fn check_times(
        &self,
        claims: &Map<String, Value>,
        now: u64,
        iat_required: bool,
    ) -> Result<u64, String> {
        let skew = self.options.clock_skew_seconds;
        let expires_at = seconds_claim(claims, "exp")?.ok_or("the JWT has no expiry ('exp')")?;
        if now > expires_at.saturating_add(skew) {
            return Err(format!("Token expired {} seconds ago", now - expires_at));
        }
        if let Some(not_before) = seconds_claim(claims, "nbf")?
            && now.saturating_add(skew) < not_before
        {
            return Err(format!(
                "Token is not valid yet ('nbf' is {} seconds from now)",
                not_before - now
            ));
        }
        match seconds_claim(claims, "iat")? {
            Some(issued_at) if now.saturating_add(skew) < issued_at => Err(format!(
                "Token was issued in the future ('iat' is {} seconds from now)",
                issued_at - now
            )),
            None if iat_required => Err("the JWT has no issued-at time ('iat')".into()),
            _ => Ok(expires_at),
        }
    }

    fn policy(&self) -> CachePolicy {
        CachePolicy {
            ttl_seconds: self.options.jwks_cache_ttl_seconds,
            refetch_interval_min_seconds: self.options.jwks_refetch_interval_min_seconds,
            fetch_timeout_seconds: self.options.provider_fetch_timeout_seconds,
        }
    }

    fn no_provider(&self) -> AuthError {
        let configured: Vec<String> = self
            .config
            .providers()
            .iter()
            .map(|provider| match provider {
                AuthProvider::Oidc(p) => {
                    format!("OIDC(domain={}, app_id={})", p.domain, p.application_id)
                }
                AuthProvider::CustomJwt(p) => format!(
                    "CustomJWT(issuer={}, app_id={})",
                    p.issuer,
                    p.application_id.as_deref().unwrap_or("none")
                ),
            })
            .collect();
        AuthError::new(
            AuthErrorKind::NoAuthProvider,
            NO_AUTH_PROVIDER,
            format!(
                "No auth provider found matching the given token. Check that your JWT's issuer \
                 and audience match one of your configured providers: [{}]",
                configured.join(", ")
            ),
        )
    }
}

/// A signature-check failure: the provider (reported as is) or the token (worded per kind).
enum Failure {
    Provider(AuthError),
    Token(String),
}

fn key_source(provider: &AuthProvider) -> Option<KeySource> {
    match provider {
        AuthProvider::Oidc(p) => Some(KeySource::Oidc {
            issuer: oidc_issuer(&p.domain),
        }),
        AuthProvider::CustomJwt(p) if p.inline_keys.is_none() => Some(KeySource::Jwks {
            url: p.jwks.clone(),
        }),
        AuthProvider::CustomJwt(_) => None,
    }
}

/// The token's audiences: `aud` as a string or an array of strings; anything else is none.
fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn matches(provider: &AuthProvider, issuer: &str, audiences: &[&str]) -> bool {
    match provider {
        AuthProvider::Oidc(p) => {
            oidc_issuer(&p.domain) == issuer.trim_end_matches('/')
                && audiences.contains(&p.application_id.as_str())
        }
        AuthProvider::CustomJwt(p) => {
            p.issuer == issuer
                && p.application_id
                    .as_deref()
                    .is_none_or(|app| audiences.contains(&app))
        }
    }
}

fn subject(claims: &Map<String, Value>) -> Result<String, String> {
    match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => Ok(sub.clone()),
        Some(_) => Err("the subject claim ('sub') must be a non-empty string".into()),
        None => Err("the JWT has no subject claim ('sub')".into()),
    }
}

/// A NumericDate claim, in whole seconds.
fn seconds_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(Some(seconds as u64)),
            _ => Err(format!("the '{name}' claim is not a valid time")),
        },
        Some(_) => Err(format!("the '{name}' claim must be a number of seconds")),
    }
}
