//! `hull-keys`: server keys, the credential that lets one trusted server call exactly the
//! functions it needs (internal ones included), and nothing else.
//!
//! A server key is an Ed25519 signing key: `hull_sk_` + base64url(version ‖ key id ‖ 32-byte
//! seed). Hull stores only the key id and the **public** key, so a copy of the database lets
//! nobody impersonate a key. A presented key is checked by deriving its public key and
//! comparing in constant time. The holder can also derive, offline, a short-lived **token**
//! (`hull_st_…`): claims (key id, expiry, optionally a narrower scope) signed with the key;
//! Hull verifies it with the stored public key, so the long-lived secret need not travel with
//! every request. Neither form contains a `:`, so the unchanged Convex clients carry them in
//! `Authorization: Convex <key>[:<acting-as identity>]` like an admin key.
//!
//! [`Scope`] is what a key may call (`module:function`, `module:*`, `dir/*`, `*`); a token's
//! scope can only narrow its key's (a call must match both). [`RateLimiter`] is a per-key token
//! bucket.
//!
//! Architecture invariant: no storage, HTTP or clock of its own: callers pass `now` and look up
//! public keys, so every rule here is a pure function with tests.
#![deny(missing_docs)]

mod key;
mod rate;
mod scope;
mod token;

pub use key::{KeyId, MintedKey, ServerKey, KEY_PREFIX};
pub use rate::{RateLimit, RateLimiter};
pub use scope::Scope;
pub use token::{derive_token, verify_token, TokenClaims, MAX_TOKEN_TTL_SECONDS, TOKEN_PREFIX};
