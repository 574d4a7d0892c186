//! Every bound and timing knob of token verification, in one place.
//!
//! Upstream Convex does not publish these as knobs; the values are Hull's choices, picked so a
//! well-behaved provider is fetched rarely and a misbehaving one (or a flood of forged `kid`s)
//! cannot make Hull hammer it.

/// Tolerance for clocks that disagree between the issuer and Hull, applied to `exp`, `nbf`
/// and `iat`. Kept small: upstream reports "Token expired 8 seconds ago", so its leeway is
/// below that, and a `customJwt` token minted this very second must not fail on `iat`
/// (get-convex/convex-backend#139).
pub const CLOCK_SKEW_SECONDS: u64 = 5;

/// How long a fetched key set (and an OIDC discovery document) is used before it is fetched
/// again. Unknown `kid`s refetch sooner (see [`JWKS_REFETCH_INTERVAL_MIN_SECONDS`]); this TTL
/// is what eventually drops a key the provider removed.
pub const JWKS_CACHE_TTL_SECONDS: u64 = 15 * 60;

/// The shortest time between two fetches of one provider's keys, whatever triggers them
/// (unknown `kid`, expired cache, a previous failure). A burst of tokens with made-up `kid`s
/// therefore costs the provider at most one request per interval.
pub const JWKS_REFETCH_INTERVAL_MIN_SECONDS: u64 = 30;

/// The whole-request timeout for one discovery or JWKS fetch (connect, TLS, body).
pub const PROVIDER_FETCH_TIMEOUT_SECONDS: u64 = 10;

/// The largest discovery document or JWKS body Hull reads.
pub const PROVIDER_RESPONSE_BYTES_MAX: u64 = 1 << 20;

/// The most keys one JWKS may hold; real providers publish a handful.
pub const JWKS_KEYS_MAX: usize = 100;

/// The smallest RSA modulus accepted for RS256 (NIST SP 800-131A; also `ring`'s floor).
pub const RSA_MODULUS_BITS_MIN: usize = 2048;

/// The largest RSA modulus accepted for RS256 (`ring`'s ceiling; bounds verification cost).
pub const RSA_MODULUS_BITS_MAX: usize = 8192;

/// The longest token accepted. Real ID tokens are a few KiB; this bounds the work a garbage
/// `Authorization` header can cause before any signature check.
pub const TOKEN_BYTES_MAX: usize = 64 * 1024;

/// The most providers one auth config may list.
pub const AUTH_PROVIDERS_MAX: usize = 64;

const _: () = assert!(JWKS_REFETCH_INTERVAL_MIN_SECONDS < JWKS_CACHE_TTL_SECONDS);
const _: () = assert!(PROVIDER_FETCH_TIMEOUT_SECONDS < JWKS_REFETCH_INTERVAL_MIN_SECONDS);
