//! Short-lived tokens derived offline from a server key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer};
use hull_errors::{Code, Error, Result};

use crate::key::{verifying_key, KeyId, ServerKey};
use crate::scope::Scope;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "hull_st_";
/// The longest a token may live: a token is for one request or a short burst, not a session.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 3600;
/// Tolerated difference between the deriving server's clock and Hull's.
pub const CLOCK_SKEW_SECONDS: u64 = 30;
/// What a token signs before its payload, so a token signature means nothing elsewhere.
const SIGNING_CONTEXT: &[u8] = b"hull server token v1\n";

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    /// The key it was derived from.
    pub key_id: KeyId,
    /// Issued at (unix seconds).
    pub issued_at: u64,
    /// Expires at (unix seconds).
    pub expires_at: u64,
    /// A narrower scope, if the holder chose one; calls must match it and the key's scope.
    pub allow: Option<Vec<String>>,
}

fn invalid_token(why: &str) -> Error {
    Error::new(Code::Unauthenticated, "BadServerToken", format!("The provided server token is invalid: {why}."))
}

/// Derives a token from `key` valid for `ttl_seconds` from `now`, optionally narrowed to
/// `allow` patterns.
pub fn derive_token(key: &ServerKey, ttl_seconds: u64, allow: Option<&[String]>, now: u64) -> Result<String> {
    if ttl_seconds == 0 || ttl_seconds > MAX_TOKEN_TTL_SECONDS {
        return Err(Error::bad_request(
            "InvalidTokenTtl",
            format!("A token's lifetime must be between 1 s and {MAX_TOKEN_TTL_SECONDS} s; asked for {ttl_seconds} s."),
        ));
    }
    if let Some(allow) = allow {
        Scope::parse(allow)?;
    }
    let mut payload = serde_json::json!({"v": 1, "kid": key.key_id().to_hex(), "iat": now, "exp": now + ttl_seconds});
    if let Some(allow) = allow {
        payload["allow"] = serde_json::json!(allow);
    }
    let payload = payload.to_string();
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(payload.as_bytes());
    let signature = key.signing_key().sign(&message);
    Ok(format!("{TOKEN_PREFIX}{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

/// Verifies a token: signature by the key `public_key_of(kid)` returns, expiry, lifetime.
pub fn verify_token(token: &str, public_key_of: impl Fn(KeyId) -> Option<[u8; 32]>, now: u64) -> Result<TokenClaims> {
    let body = token.strip_prefix(TOKEN_PREFIX).ok_or_else(|| invalid_token("not a Hull server token"))?;
    let (payload_text, signature_text) = body.split_once('.').ok_or_else(|| invalid_token("malformed"))?;
    let payload = URL_SAFE_NO_PAD.decode(payload_text).map_err(|_| invalid_token("malformed"))?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| invalid_token("malformed signature"))?;
    let json: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| invalid_token("malformed"))?;
    if json.get("v").and_then(|v| v.as_u64()) != Some(1) {
        return Err(invalid_token("unknown version"));
    }
    let key_id = json.get("kid").and_then(|k| k.as_str()).and_then(KeyId::from_hex).ok_or_else(|| invalid_token("malformed key id"))?;
    // Unknown and revoked keys look the same.
    let public_key = public_key_of(key_id).ok_or_else(|| invalid_token("its key is unknown or revoked"))?;
    let verifying = verifying_key(&public_key).ok_or_else(|| invalid_token("its key is unknown or revoked"))?;
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(&payload);
    verifying.verify_strict(&message, &Signature::from_bytes(&signature)).map_err(|_| invalid_token("bad signature"))?;
    let issued_at = json.get("iat").and_then(|v| v.as_u64()).ok_or_else(|| invalid_token("missing iat"))?;
    let expires_at = json.get("exp").and_then(|v| v.as_u64()).ok_or_else(|| invalid_token("missing exp"))?;
    if expires_at <= issued_at || expires_at - issued_at > MAX_TOKEN_TTL_SECONDS {
        return Err(invalid_token("its lifetime is out of bounds"));
    }
    if issued_at > now + CLOCK_SKEW_SECONDS {
        return Err(invalid_token("it was issued in the future"));
    }
    if now >= expires_at {
        return Err(Error::new(Code::Unauthenticated, "ServerTokenExpired", "The provided server token has expired; derive a new one."));
    }
    let allow = match json.get("allow") {
        None => None,
        Some(list) => Some(
            list.as_array()
                .ok_or_else(|| invalid_token("malformed scope"))?
                .iter()
                .map(|p| p.as_str().map(str::to_owned).ok_or_else(|| invalid_token("malformed scope")))
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    if let Some(allow) = &allow {
        Scope::parse(allow).map_err(|_| invalid_token("malformed scope"))?;
    }
    Ok(TokenClaims { key_id, issued_at, expires_at, allow })
}
