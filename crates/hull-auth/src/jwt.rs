//! Splitting a compact JWS into header, claims and signature. Nothing here is trusted yet:
//! the signature is checked by the verifier once it knows the provider's key.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::jwks::Algorithm;
use crate::limits::TOKEN_BYTES_MAX;

/// base64url as JOSE uses it; trailing `=` padding is tolerated because some signers emit it.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64URL.decode(text)
}

/// A decoded but unverified token.
pub(crate) struct UnverifiedToken<'a> {
    pub algorithm: Algorithm,
    pub kid: String,
    pub claims: Map<String, Value>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
}

/// Decodes `token`, rejecting anything that is not a compact JWS signed with RS256 or ES256
/// and carrying a `kid`. `alg: none`, HMAC and every other algorithm fail here, before any
/// key is looked at, so no key can be misused for another algorithm.
pub(crate) fn decode(token: &str) -> Result<UnverifiedToken<'_>, AuthError> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(AuthError::invalid_header(format!(
            "Could not parse as a JWT: the token is {} bytes, more than the limit of \
             {TOKEN_BYTES_MAX}",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::invalid_header(
            "Could not parse as a JWT: expected three base64url parts separated by `.`",
        ));
    };
    let header = decode_object(header).ok_or_else(|| {
        AuthError::invalid_header("Could not decode token: the JWT header is not a JSON object")
    })?;
    let algorithm = header_algorithm(&header)?;
    if header.contains_key("crit") {
        return Err(AuthError::invalid_header(
            "Could not decode token: the JWT header has a `crit` parameter, which Convex does \
             not support",
        ));
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) => kid.clone(),
        _ => {
            return Err(AuthError::invalid_header(
                "Could not decode token. JWT may be missing a 'kid' (key ID) header.",
            ));
        }
    };
    let claims = decode_object(payload)
        .ok_or_else(|| AuthError::invalid_header("Could not parse JWT payload."))?;
    let signature = b64url_decode(signature).map_err(|_| {
        AuthError::invalid_header("Could not decode token: the signature is not base64url")
    })?;
    let signing_input = &token.as_bytes()[..header_len(token) + 1 + payload.len()];
    Ok(UnverifiedToken {
        algorithm,
        kid,
        claims,
        signing_input,
        signature,
    })
}

fn header_len(token: &str) -> usize {
    token.find('.').unwrap_or(token.len())
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = b64url_decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn header_algorithm(header: &Map<String, Value>) -> Result<Algorithm, AuthError> {
    let name = match header.get("alg") {
        Some(Value::String(name)) => name.as_str(),
        _ => {
            return Err(AuthError::invalid_header(
                "Could not decode token: the JWT header has no `alg`",
            ));
        }
    };
    Algorithm::from_name(name).ok_or_else(|| {
        AuthError::invalid_header(format!(
            "Could not decode token: the JWT is signed with algorithm `{}`; only RS256 and \
             ES256 are supported",
            excerpt(name)
        ))
    })
}

/// A token-supplied string, shortened for an error message.
pub(crate) fn excerpt(text: &str) -> String {
    const CHARS_MAX: usize = 64;
    if text.chars().count() <= CHARS_MAX {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(CHARS_MAX).collect();
        short.push('…');
        short
    }
}
