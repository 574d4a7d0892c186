//! Native halves of the asymmetric `crypto.subtle` algorithms JWT libraries use (`jose`'s
//! RS256/RS384/RS512 and ES256): RSASSA-PKCS1-v1_5 with SHA-256/384/512 and ECDSA on P-256
//! with SHA-256. Keys are imported from PKCS#8, SPKI or JWK and kept as DER (PKCS#8 for private
//! keys, SPKI for public ones); signatures are WebCrypto's formats (PKCS#1 v1.5 bytes; ECDSA as
//! IEEE P1363 `r || s`).

use base64::Engine as _;
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{Value as Json, json};

/// WebCrypto's name for RSA PKCS#1 v1.5 signatures.
pub const RSASSA: &str = "RSASSA-PKCS1-v1_5";
/// WebCrypto's name for ECDSA.
pub const ECDSA: &str = "ECDSA";

/// An imported key: its DER and what `CryptoKey.algorithm`/`type` report.
pub struct ImportedKey {
    /// PKCS#8 (private) or SPKI (public) DER.
    pub der: Vec<u8>,
    /// `{type, modulusLength?, publicExponent?, namedCurve?}`.
    pub info: Json,
}

fn b64url(field: &str, jwk: &Json) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(field)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("the JWK has no \"{field}\""))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("the JWK's \"{field}\" is not base64url: {e}"))
}

fn uint(field: &str, jwk: &Json) -> Result<BigUint, String> {
    Ok(BigUint::from_bytes_be(&b64url(field, jwk)?))
}

fn rsa_info(public: &RsaPublicKey, private: bool) -> Json {
    json!({
        "type": if private { "private" } else { "public" },
        "modulusLength": public.n().bits(),
        "publicExponent": public.e().to_bytes_be(),
    })
}

fn ec_info(private: bool) -> Json {
    json!({ "type": if private { "private" } else { "public" }, "namedCurve": "P-256" })
}

/// `crypto.subtle.importKey(format, data, {name: algorithm, ...})` for RSASSA-PKCS1-v1_5 and
/// ECDSA (P-256). `data` is DER for `pkcs8`/`spki` and JSON text for `jwk`.
pub fn import_key(algorithm: &str, format: &str, data: &[u8]) -> Result<ImportedKey, String> {
    let der_error = |e: &dyn std::fmt::Display| format!("invalid {format} key data: {e}");
    match (algorithm, format) {
        (RSASSA, "pkcs8") => {
            let key = RsaPrivateKey::from_pkcs8_der(data).map_err(|e| der_error(&e))?;
            Ok(ImportedKey {
                info: rsa_info(&key.to_public_key(), true),
                der: data.to_vec(),
            })
        }
        (RSASSA, "spki") => {
            let key = RsaPublicKey::from_public_key_der(data).map_err(|e| der_error(&e))?;
            Ok(ImportedKey {
                info: rsa_info(&key, false),
                der: data.to_vec(),
            })
        }
        (RSASSA, "jwk") => {
            let jwk: Json = serde_json::from_slice(data).map_err(|e| der_error(&e))?;
            if jwk.get("kty").and_then(Json::as_str) != Some("RSA") {
                return Err("the JWK's \"kty\" must be \"RSA\"".into());
            }
            let (n, e) = (uint("n", &jwk)?, uint("e", &jwk)?);
            if jwk.get("d").is_some() {
                let key = RsaPrivateKey::from_components(
                    n,
                    e,
                    uint("d", &jwk)?,
                    vec![uint("p", &jwk)?, uint("q", &jwk)?],
                )
                .map_err(|e| der_error(&e))?;
                key.validate().map_err(|e| der_error(&e))?;
                let der = key.to_pkcs8_der().map_err(|e| der_error(&e))?;
                Ok(ImportedKey {
                    info: rsa_info(&key.to_public_key(), true),
                    der: der.as_bytes().to_vec(),
                })
            } else {
                let key = RsaPublicKey::new(n, e).map_err(|e| der_error(&e))?;
                let der = key.to_public_key_der().map_err(|e| der_error(&e))?;
                Ok(ImportedKey {
                    info: rsa_info(&key, false),
                    der: der.as_bytes().to_vec(),
                })
            }
        }
        (ECDSA, "pkcs8") => {
            p256::SecretKey::from_pkcs8_der(data).map_err(|e| der_error(&e))?;
            Ok(ImportedKey {
                info: ec_info(true),
                der: data.to_vec(),
            })
        }
        (ECDSA, "spki") => {
            p256::PublicKey::from_public_key_der(data).map_err(|e| der_error(&e))?;
            Ok(ImportedKey {
                info: ec_info(false),
                der: data.to_vec(),
            })
        }
        (ECDSA, "jwk") => {
            let jwk: Json = serde_json::from_slice(data).map_err(|e| der_error(&e))?;
            if jwk.get("kty").and_then(Json::as_str) != Some("EC")
                || jwk.get("crv").and_then(Json::as_str) != Some("P-256")
            {
                return Err("only EC JWKs on the P-256 curve are supported".into());
            }
            if jwk.get("d").is_some() {
                let key =
                    p256::SecretKey::from_slice(&b64url("d", &jwk)?).map_err(|e| der_error(&e))?;
                let der = key.to_pkcs8_der().map_err(|e| der_error(&e))?;
                Ok(ImportedKey {
                    info: ec_info(true),
                    der: der.as_bytes().to_vec(),
                })
            } else {
                let mut sec1 = vec![4u8];
                sec1.extend(b64url("x", &jwk)?);
                sec1.extend(b64url("y", &jwk)?);
                let key = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|e| der_error(&e))?;
                let der = key.to_public_key_der().map_err(|e| der_error(&e))?;
                Ok(ImportedKey {
                    info: ec_info(false),
                    der: der.as_bytes().to_vec(),
                })
            }
        }
        _ => Err(format!(
            "importing {algorithm} keys in the \"{format}\" format is not supported"
        )),
    }
}

/// Signs `data` with the PKCS#8 private key `der`.
pub fn sign(algorithm: &str, hash: &str, der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    match algorithm {
        RSASSA => {
            let key = RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
            Ok(match hash {
                "SHA-256" => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                    .sign(data)
                    .to_vec(),
                "SHA-384" => rsa::pkcs1v15::SigningKey::<sha2::Sha384>::new(key)
                    .sign(data)
                    .to_vec(),
                "SHA-512" => rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(key)
                    .sign(data)
                    .to_vec(),
                other => return Err(format!("{RSASSA} with {other} is not supported")),
            })
        }
        ECDSA => {
            if hash != "SHA-256" {
                return Err(format!("ECDSA on P-256 with {hash} is not supported"));
            }
            let key = p256::SecretKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
            let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(key).sign(data);
            Ok(signature.to_bytes().to_vec())
        }
        other => Err(format!("signing with {other} is not supported")),
    }
}

/// Verifies `signature` over `data` with the SPKI public key `der`.
pub fn verify(
    algorithm: &str,
    hash: &str,
    der: &[u8],
    signature: &[u8],
    data: &[u8],
) -> Result<bool, String> {
    match algorithm {
        RSASSA => {
            let key = RsaPublicKey::from_public_key_der(der).map_err(|e| e.to_string())?;
            let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
                return Ok(false);
            };
            Ok(match hash {
                "SHA-256" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                    .verify(data, &signature)
                    .is_ok(),
                "SHA-384" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key)
                    .verify(data, &signature)
                    .is_ok(),
                "SHA-512" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key)
                    .verify(data, &signature)
                    .is_ok(),
                other => return Err(format!("{RSASSA} with {other} is not supported")),
            })
        }
        ECDSA => {
            if hash != "SHA-256" {
                return Err(format!("ECDSA on P-256 with {hash} is not supported"));
            }
            let key = p256::PublicKey::from_public_key_der(der).map_err(|e| e.to_string())?;
            let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                return Ok(false);
            };
            Ok(p256::ecdsa::VerifyingKey::from(key)
                .verify(data, &signature)
                .is_ok())
        }
        other => Err(format!("verifying with {other} is not supported")),
    }
}
