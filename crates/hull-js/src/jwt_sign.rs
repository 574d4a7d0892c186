//! `ctx.auth.signJwt`: ES256 JWTs signed with the deployment's key.
//!
//! Convex's contract (`MutationAuth.signJwt` in convex/server): the caller passes `claims` and
//! `expiresInSeconds` (1 s to 1 h); Convex sets the header and `iss` (the deployment URL),
//! `iat` and `exp`; `iss`, `iat`, `exp`, `nbf` and any claim starting with `convex` or `cvx`
//! (any case) are reserved. Anyone can verify the token against the deployment's public keys.
//! Signatures use RFC 6979 deterministic nonces, so a retried mutation signs the same token.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Map, Value as Json};

/// The longest lifetime `signJwt` allows (Convex: at most 1 hour from issuance).
pub const SIGN_JWT_MAX_EXPIRES_IN_SECONDS: f64 = 3600.0;

/// The deployment's signing identity.
#[derive(Clone)]
pub struct JwtSigner {
    /// `iss` of every token: the deployment URL (`CONVEX_CLOUD_URL`).
    pub issuer: String,
    /// `kid` in the header, naming the key in the deployment's JWKS.
    pub key_id: String,
    key: Arc<SigningKey>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("JwtSigner").field("issuer", &self.issuer).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A signer from a 32-byte P-256 scalar (e.g. derived from the instance secret). `None` if
    /// the bytes are not a valid scalar (probability ~2^-128 for derived bytes).
    pub fn from_secret_scalar(issuer: impl Into<String>, key_id: impl Into<String>, scalar: &[u8; 32]) -> Option<JwtSigner> {
        let key = SigningKey::from_bytes(scalar.into()).ok()?;
        Some(JwtSigner { issuer: issuer.into(), key_id: key_id.into(), key: Arc::new(key) })
    }

    /// The public key as a JWK (what `/.well-known/jwks.json` serves).
    pub fn public_jwk(&self) -> Json {
        let point = self.key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.key_id,
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("uncompressed point")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("uncompressed point")),
        })
    }

    /// Signs `claims` issued at `now_seconds` for `expires_in_seconds`, after Convex's checks.
    pub fn sign(&self, claims: Option<&Json>, expires_in_seconds: &Json, now_seconds: u64) -> Result<String, String> {
        let expires_in = expires_in_seconds
            .as_f64()
            .filter(|s| s.fract() == 0.0 && *s >= 1.0 && *s <= SIGN_JWT_MAX_EXPIRES_IN_SECONDS)
            .ok_or_else(|| format!("signJwt: expiresInSeconds must be a whole number of seconds between 1 and {SIGN_JWT_MAX_EXPIRES_IN_SECONDS} (1 hour); got {expires_in_seconds}"))?;
        let mut payload = Map::new();
        if let Some(claims) = claims.filter(|c| !c.is_null()) {
            let claims = claims.as_object().ok_or("signJwt: claims must be an object")?;
            for (name, value) in claims {
                let lower = name.to_ascii_lowercase();
                if ["iss", "iat", "exp", "nbf"].contains(&name.as_str()) || lower.starts_with("convex") || lower.starts_with("cvx") {
                    return Err(format!(
                        "signJwt: the claim \"{name}\" is reserved: Convex sets iss, iat and exp, and nbf and claims starting with convex or cvx may not be set"
                    ));
                }
                payload.insert(name.clone(), value.clone());
            }
        }
        payload.insert("iss".into(), json!(self.issuer));
        payload.insert("iat".into(), json!(now_seconds));
        payload.insert("exp".into(), json!(now_seconds + expires_in as u64));
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.key_id});
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(Json::Object(payload).to_string()));
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    use super::*;

    fn signer() -> JwtSigner {
        JwtSigner::from_secret_scalar("http://127.0.0.1:3210", "k1", &[7u8; 32]).unwrap()
    }

    #[test]
    fn tokens_verify_with_the_published_key_and_carry_convexs_claims() {
        let signer = signer();
        let token = signer.sign(Some(&json!({"sub": "u1", "role": "admin"})), &json!(60), 1_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Json = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}));
        let payload: Json = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload, json!({"sub": "u1", "role": "admin", "iss": "http://127.0.0.1:3210", "iat": 1000, "exp": 1060}));
        // Verify with the key the JWKS publishes.
        let jwk = signer.public_jwk();
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        let verifying = VerifyingKey::from_sec1_bytes(&point).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        verifying.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).unwrap();
        // Deterministic: a retried mutation signs the same token.
        assert_eq!(signer.sign(Some(&json!({"sub": "u1", "role": "admin"})), &json!(60), 1_000).unwrap(), token);
    }

    #[test]
    fn reserved_claims_and_lifetimes_are_refused() {
        let signer = signer();
        for claim in ["iss", "iat", "exp", "nbf", "convexThing", "CVX_id", "ConVex"] {
            let error = signer.sign(Some(&json!({claim: 1})), &json!(60), 0).unwrap_err();
            assert!(error.contains("is reserved"), "{claim}: {error}");
        }
        for bad in [json!(0), json!(3601), json!(1.5), json!("60"), Json::Null] {
            assert!(signer.sign(None, &bad, 0).unwrap_err().contains("expiresInSeconds"), "{bad}");
        }
        assert!(signer.sign(Some(&json!([1])), &json!(60), 0).is_err());
        assert!(signer.sign(None, &json!(3600), 0).is_ok());
    }
}
