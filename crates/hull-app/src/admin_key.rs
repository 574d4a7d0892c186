//! Admin keys in Hull's own format, `<instance name>|<hex>`.
//!
//! The hex is `version (1 byte) ‖ issued at (u64 seconds, big-endian) ‖ HMAC-SHA256 tag`, the
//! tag covering the version, the issue time and the instance name, keyed by a key derived from
//! the instance secret (so the secret itself never keys anything a client sees). The Convex CLI
//! never parses a self-hosted admin key, so any opaque format without `:` works with it; keys
//! in the upstream backend's formats are not accepted yet.

use std::fmt;

use hmac::{Hmac, Mac};
use hull_errors::{Code, Error, Result};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes in an instance secret (upstream's `--instance-secret` is 32 bytes, as 64 hex digits).
pub const INSTANCE_SECRET_BYTES: usize = 32;

/// The only key version issued so far.
const KEY_VERSION: u8 = 1;

/// The purpose string the admin-key MAC key is derived under.
const ADMIN_KEY_PURPOSE: &[u8] = b"hull admin key v1";

/// `version ‖ issued_s ‖ tag`.
const KEY_PAYLOAD_BYTES: usize = 1 + 8 + 32;

/// What Convex answers for any admin key that does not check out
/// (`crates/authentication/src/application_auth.rs`, wire protocols §7.1).
pub const BAD_ADMIN_KEY_MESSAGE: &str = "The provided admin key was invalid for this instance";

/// The deployment's instance secret. Its `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceSecret([u8; INSTANCE_SECRET_BYTES]);

impl InstanceSecret {
    /// A new random secret.
    pub fn generate() -> InstanceSecret {
        InstanceSecret(rand::random())
    }

    /// Parses the 64-hex-digit form (`--instance-secret`, the secret file).
    pub fn from_hex(text: &str) -> Result<InstanceSecret> {
        let invalid = || {
            Error::bad_request(
                "InvalidInstanceSecret",
                format!("the instance secret must be {} hexadecimal digits", INSTANCE_SECRET_BYTES * 2),
            )
        };
        let bytes = decode_hex(text.trim()).ok_or_else(invalid)?;
        let bytes: [u8; INSTANCE_SECRET_BYTES] = bytes.try_into().map_err(|_| invalid())?;
        Ok(InstanceSecret(bytes))
    }

    /// The 64-hex-digit form.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl fmt::Debug for InstanceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InstanceSecret(..)")
    }
}

/// Issues and checks one instance's admin keys.
#[derive(Clone)]
pub struct AdminKeys {
    instance_name: String,
    mac_key: [u8; 32],
    /// The instance secret itself: upstream's keys are encrypted under it (or a key derived
    /// from it).
    secret: [u8; INSTANCE_SECRET_BYTES],
}

impl AdminKeys {
    /// Keys for `instance_name` under `secret`.
    pub fn new(instance_name: &str, secret: &InstanceSecret) -> AdminKeys {
        let mut mac = HmacSha256::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
        mac.update(ADMIN_KEY_PURPOSE);
        AdminKeys { instance_name: instance_name.to_owned(), mac_key: mac.finalize().into_bytes().into(), secret: secret.0 }
    }

    /// A new admin key, issued at `issued_s` (seconds since the epoch).
    pub fn issue(&self, issued_s: u64) -> String {
        let mut payload = Vec::with_capacity(KEY_PAYLOAD_BYTES);
        payload.push(KEY_VERSION);
        payload.extend_from_slice(&issued_s.to_be_bytes());
        let tag = self.mac(&payload).finalize().into_bytes();
        payload.extend_from_slice(&tag);
        format!("{}|{}", self.instance_name, encode_hex(&payload))
    }

    /// Checks `key` (an optional `type:` prefix before the instance name is ignored, as
    /// upstream does). Any failure is 401 `BadAdminKey`, whatever was wrong.
    pub fn check(&self, key: &str) -> Result<()> {
        let bad = || Error::new(Code::Unauthenticated, "BadAdminKey", BAD_ADMIN_KEY_MESSAGE);
        if self.check_hull_key(key).is_ok() {
            return Ok(());
        }
        match crate::upstream_admin_key::decode(key, &self.secret) {
            Some(upstream) if upstream.instance_name == self.instance_name && upstream.read_only => Err(Error::new(
                Code::Forbidden,
                "ReadOnlyAdminKeyUnsupported",
                "This is a read-only admin key; Hull does not support read-only admin keys yet. Use a full admin key (`hull admin-key`).",
            )),
            Some(upstream) if upstream.instance_name == self.instance_name => Ok(()),
            _ => Err(bad()),
        }
    }

    /// Checks a key in Hull's own format.
    fn check_hull_key(&self, key: &str) -> Result<()> {
        let bad = || Error::new(Code::Unauthenticated, "BadAdminKey", BAD_ADMIN_KEY_MESSAGE);
        let (name, hex) = key.split_once('|').ok_or_else(bad)?;
        let name = name.rsplit(':').next().expect("rsplit yields at least one part");
        if name != self.instance_name {
            return Err(bad());
        }
        let payload = decode_hex(hex).ok_or_else(bad)?;
        if payload.len() != KEY_PAYLOAD_BYTES || payload[0] != KEY_VERSION {
            return Err(bad());
        }
        let (signed, tag) = payload.split_at(1 + 8);
        // `verify_slice` compares in constant time.
        self.mac(signed).verify_slice(tag).map_err(|_| bad())
    }

    fn mac(&self, signed: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.mac_key).expect("HMAC takes keys of any length");
        mac.update(signed);
        mac.update(self.instance_name.as_bytes());
        mac
    }
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(name: &str, secret: &InstanceSecret) -> AdminKeys {
        AdminKeys::new(name, secret)
    }

    #[test]
    fn keys_the_upstream_backend_issued_for_this_instance_are_accepted() {
        // Upstream's development keys for `carnitas` under the CLI's local-backend secret
        // (see upstream_admin_key's tests), current and legacy format.
        let secret = InstanceSecret::from_hex("4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974").unwrap();
        let current = "carnitas|01ec1dc4339bc4a2c653e70016b1e1dea952bcfd707a0cd49c1bddcdfcd4d4a79bb2d6bdfa2f1493a1937cdb71e984c4a7";
        let legacy = "0135d8598650f8f5cb0f30c34ec2e2bb62793bc28717c8eb6fb577996d50be5f4281b59181095065c5d0f86a2c31ddbe9b597ec62b47ded69782cd";
        let carnitas = keys("carnitas", &secret);
        carnitas.check(current).unwrap();
        carnitas.check(legacy).unwrap();
        // Another instance name or another secret: the same keys are wrong.
        assert_eq!(keys("tacos", &secret).check(current).unwrap_err().short, "BadAdminKey");
        assert_eq!(keys("tacos", &secret).check(legacy).unwrap_err().short, "BadAdminKey");
        assert_eq!(keys("carnitas", &InstanceSecret::generate()).check(current).unwrap_err().short, "BadAdminKey");
    }

    #[test]
    fn issued_keys_check_and_carry_the_instance_name() {
        let secret = InstanceSecret::generate();
        let keys = keys("my-app", &secret);
        let key = keys.issue(1_700_000_000);
        assert!(key.starts_with("my-app|"), "{key}");
        assert!(!key.contains(':'), "acting-as identities are split on ':'");
        keys.check(&key).unwrap();
        keys.check(&format!("prod:{key}")).unwrap();
    }

    #[test]
    fn keys_of_another_secret_name_or_tampered_bytes_are_bad_admin_keys() {
        let secret = InstanceSecret::generate();
        let key = keys("my-app", &secret).issue(1);
        let mut tampered = key.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let candidates = [
            keys("my-app", &InstanceSecret::generate()).issue(1),
            keys("other", &secret).issue(1),
            key.replacen("my-app", "other", 1),
            String::from_utf8(tampered).unwrap(),
            "my-app|".into(),
            "my-app|zz".into(),
            "garbage".into(),
            "".into(),
        ];
        let keys = keys("my-app", &secret);
        for candidate in candidates {
            let error = keys.check(&candidate).unwrap_err();
            assert_eq!((error.code, error.short, error.message.as_str()), (Code::Unauthenticated, "BadAdminKey", BAD_ADMIN_KEY_MESSAGE));
        }
    }

    #[test]
    fn secrets_round_trip_through_hex_and_reject_other_lengths() {
        let secret = InstanceSecret::generate();
        assert_eq!(InstanceSecret::from_hex(&secret.to_hex()).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "InstanceSecret(..)");
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(62)] {
            assert_eq!(InstanceSecret::from_hex(bad).unwrap_err().short, "InvalidInstanceSecret");
        }
    }
}
