//! JSON Web Key Sets: parsing the keys Hull can verify with, and checking one signature.
//!
//! Key decision: signatures are checked with `ring`, which rustls already links, so Hull has
//! one crypto library. Only RS256 (RSA PKCS#1 v1.5, SHA-256, 2048–8192-bit moduli) and ES256
//! (ECDSA P-256, SHA-256, fixed-size `r‖s` signature) exist here: what Convex accepts.

use std::fmt;

use ring::signature;
use serde_json::Value;

use crate::jwt::b64url_decode;
use crate::limits::{JWKS_KEYS_MAX, RSA_MODULUS_BITS_MAX, RSA_MODULUS_BITS_MIN};

/// A signing algorithm Hull accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// Parses a JOSE `alg` name; only the two supported ones succeed.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "RS256" => Some(Algorithm::Rs256),
            "ES256" => Some(Algorithm::Es256),
            _ => None,
        }
    }

    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The public material of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyMaterial {
    /// Big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed SEC1 point `04‖x‖y`.
    EcP256 { point: Vec<u8> },
    /// A key Hull cannot use (another `kty`/`crv`); kept so errors can name it.
    Unsupported { description: String },
}

/// One key of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jwk {
    kid: Option<String>,
    /// The key's own `alg`, when it declares one.
    alg: Option<String>,
    material: KeyMaterial,
}

/// A parsed JWKS: the signing keys, in document order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct KeySet {
    keys: Vec<Jwk>,
}

impl KeySet {
    /// Parses a JWKS document. Keys that are not for signatures (`use` other than `sig`) are
    /// skipped; keys of other types are kept as unsupported.
    pub(crate) fn parse(document: &Value) -> Result<KeySet, String> {
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS is not a JSON object with a `keys` array")?;
        if keys.len() > JWKS_KEYS_MAX {
            return Err(format!(
                "the JWKS has {} keys, more than the limit of {JWKS_KEYS_MAX}",
                keys.len()
            ));
        }
        let mut parsed = Vec::with_capacity(keys.len());
        for (index, key) in keys.iter().enumerate() {
            if let Some(jwk) = parse_jwk(key).map_err(|e| format!("JWKS key {index}: {e}"))? {
                parsed.push(jwk);
            }
        }
        Ok(KeySet { keys: parsed })
    }

    /// The key with this `kid`, if the set has one.
    pub(crate) fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|key| key.kid.as_deref() == Some(kid))
    }
}

fn parse_jwk(key: &Value) -> Result<Option<Jwk>, String> {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    if key.get("use").is_some() && text("use") != Some("sig") {
        return Ok(None);
    }
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name).ok_or_else(|| format!("missing `{name}`"))?;
        b64url_decode(value).map_err(|_| format!("`{name}` is not base64url"))
    };
    let material = match (text("kty"), text("crv")) {
        (Some("RSA"), _) => KeyMaterial::Rsa {
            n: bytes("n")?,
            e: bytes("e")?,
        },
        (Some("EC"), Some("P-256")) => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("a P-256 key needs 32-byte `x` and `y`".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            KeyMaterial::EcP256 { point }
        }
        (kty, crv) => KeyMaterial::Unsupported {
            description: format!(
                "kty {}{}",
                kty.unwrap_or("(none)"),
                crv.map(|c| format!(", crv {c}")).unwrap_or_default()
            ),
        },
    };
    Ok(Some(Jwk {
        kid: text("kid").map(str::to_owned),
        alg: text("alg").map(str::to_owned),
        material,
    }))
}

impl Jwk {
    /// Checks that this key may verify `algorithm` and that `signature` over `message` is
    /// valid. `Err` says why not, without any key or token material.
    pub(crate) fn verify(
        &self,
        algorithm: Algorithm,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        if let Some(alg) = &self.alg
            && alg != algorithm.name()
        {
            return Err(format!(
                "the token is signed with {algorithm} but its key is for {alg}"
            ));
        }
        match (&self.material, algorithm) {
            (KeyMaterial::Rsa { n, e }, Algorithm::Rs256) => {
                let bits = modulus_bits(n);
                if !(RSA_MODULUS_BITS_MIN..=RSA_MODULUS_BITS_MAX).contains(&bits) {
                    return Err(format!(
                        "the RSA key has a {bits}-bit modulus; RS256 keys must have \
                         {RSA_MODULUS_BITS_MIN} to {RSA_MODULUS_BITS_MAX} bits"
                    ));
                }
                signature::RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                    .map_err(|_| "invalid signature".to_owned())
            }
            (KeyMaterial::EcP256 { point }, Algorithm::Es256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .map_err(|_| "invalid signature".to_owned())
            }
            (KeyMaterial::Unsupported { description }, _) => Err(format!(
                "the key is not usable ({description}); Hull verifies RSA and EC P-256 keys"
            )),
            (KeyMaterial::Rsa { .. }, _) => Err(format!(
                "the token is signed with {algorithm} but its key is an RSA key"
            )),
            (KeyMaterial::EcP256 { .. }, _) => Err(format!(
                "the token is signed with {algorithm} but its key is an EC P-256 key"
            )),
        }
    }
}

/// The bit length of a big-endian unsigned integer.
fn modulus_bits(n: &[u8]) -> usize {
    let significant = match n.iter().position(|byte| *byte != 0) {
        Some(first) => &n[first..],
        None => return 0,
    };
    significant.len() * 8 - significant[0].leading_zeros() as usize
}
