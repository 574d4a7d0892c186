//! Server keys: minting, parsing, verifying.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use hull_errors::{Code, Error, Result};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Every server key starts with this, so it is recognisable in configs and leak scanners.
pub const KEY_PREFIX: &str = "hull_sk_";
const KEY_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const SEED_LEN: usize = 32;

/// A key's public identifier (stored, shown in listings and audit records).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl KeyId {
    /// Hex form.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the hex form.
    pub fn from_hex(text: &str) -> Option<KeyId> {
        if text.len() != KEY_ID_LEN * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut id = [0u8; KEY_ID_LEN];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(KeyId(id))
    }
}

/// A newly minted key: the secret (shown once) and what Hull stores.
pub struct MintedKey {
    /// The key string to give to the server that will use it. Never stored, never logged.
    pub secret: String,
    /// Its identifier.
    pub key_id: KeyId,
    /// The public key Hull stores to verify it.
    pub public_key: [u8; 32],
}

impl MintedKey {
    /// Mints a new random key.
    pub fn generate() -> MintedKey {
        let mut rng = rand::rng();
        let mut key_id = [0u8; KEY_ID_LEN];
        rng.fill_bytes(&mut key_id);
        let mut seed = [0u8; SEED_LEN];
        rng.fill_bytes(&mut seed);
        let key = ServerKey { key_id: KeyId(key_id), signing: SigningKey::from_bytes(&seed) };
        MintedKey { secret: key.encode(), key_id: key.key_id, public_key: key.public_key() }
    }
}

/// A server key as presented (the secret side).
pub struct ServerKey {
    key_id: KeyId,
    signing: SigningKey,
}

fn invalid_key() -> Error {
    // One message for every malformed key: the shape of a near miss reveals nothing.
    Error::new(Code::Unauthenticated, "BadServerKey", "The provided server key is invalid for this deployment.")
}

impl ServerKey {
    /// True when `text` looks like a server key (so a caller can tell it from an admin key).
    pub fn is_server_key(text: &str) -> bool {
        text.starts_with(KEY_PREFIX)
    }

    /// Parses a key string strictly.
    pub fn parse(text: &str) -> Result<ServerKey> {
        let body = text.strip_prefix(KEY_PREFIX).ok_or_else(invalid_key)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid_key())?;
        if bytes.len() != 1 + KEY_ID_LEN + SEED_LEN || bytes[0] != KEY_VERSION {
            return Err(invalid_key());
        }
        let key_id = KeyId(bytes[1..1 + KEY_ID_LEN].try_into().expect("length checked"));
        let seed: [u8; SEED_LEN] = bytes[1 + KEY_ID_LEN..].try_into().expect("length checked");
        let key = ServerKey { key_id, signing: SigningKey::from_bytes(&seed) };
        // Canonical form only: a re-encoding must give the same text.
        if key.encode() != text {
            return Err(invalid_key());
        }
        Ok(key)
    }

    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(1 + KEY_ID_LEN + SEED_LEN);
        bytes.push(KEY_VERSION);
        bytes.extend_from_slice(&self.key_id.0);
        bytes.extend_from_slice(self.signing.as_bytes());
        format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The key's identifier.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The public key this key corresponds to.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// True when this key corresponds to `stored_public_key` (constant-time comparison).
    pub fn matches(&self, stored_public_key: &[u8; 32]) -> bool {
        self.public_key().ct_eq(stored_public_key).into()
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

/// Parses a stored public key.
pub(crate) fn verifying_key(public_key: &[u8; 32]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(public_key).ok()
}
