//! Admin keys in the two formats the upstream Convex backend issues, so a self-hosted Convex
//! setup moves to Hull with its keys (same instance name and secret). Written from the format
//! description (wire protocols §7.1), not from upstream code:
//!
//! - **current**: `<instance name>|hex(0x01 ‖ nonce[12] ‖ AES-128-GCM-SIV(proto) ‖ tag[16])`,
//!   the version byte as associated data, the key the first 16 bytes of KBKDF in counter mode
//!   with HMAC-SHA256 (SP 800-108: `HMAC(secret, be32(1) ‖ "admin key")`) over the instance
//!   secret;
//! - **legacy**: `[<instance name>|]hex(0x01 ‖ nonce[24] ‖ XSalsa20-Poly1305 secretbox(proto))`
//!   keyed by the instance secret itself; without the prefix, the name comes from the proto.
//!
//! The plaintext is the `AdminKey` protobuf: `instance_name` (1, optional string), `issued_s`
//! (2, uint64, must be set), `member_id` (3, uint64) or `system` (4, empty message) — one of them
//! must be present — and `is_read_only` (5, bool).

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes128GcmSiv, Nonce};
use crypto_secretbox::XSalsa20Poly1305;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The version byte both formats carry for admin keys.
const ADMIN_KEY_VERSION: u8 = 1;
/// The KBKDF label of the admin-key encryption key.
const ADMIN_KEY_PURPOSE: &[u8] = b"admin key";
const GCM_SIV_NONCE_BYTES: usize = 12;
const SECRETBOX_NONCE_BYTES: usize = 24;
/// Longest encrypted part accepted (a real key is under 100 bytes); bounds the work a hostile
/// header can cause.
const ENCRYPTED_PART_MAX_HEX: usize = 1024;

/// What a valid upstream admin key says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamAdminKey {
    /// The instance it was issued for.
    pub instance_name: String,
    /// Issue time, seconds since the epoch.
    pub issued_s: u64,
    /// A read-only key (`issue_read_only_admin_key`).
    pub read_only: bool,
}

/// Decodes `key` with the instance secret. `None` for anything that is not a well-formed,
/// authentic upstream admin key for some instance (the caller compares the name).
pub fn decode(key: &str, secret: &[u8; 32]) -> Option<UpstreamAdminKey> {
    let (prefix_name, encrypted) = match key.split_once('|') {
        Some((name, rest)) => (Some(name.rsplit(':').next().unwrap_or(name)), rest),
        None => (None, key),
    };
    if encrypted.len() > ENCRYPTED_PART_MAX_HEX {
        return None;
    }
    let bytes = crate::admin_key::decode_hex(encrypted)?;
    let (&version, rest) = bytes.split_first()?;
    if version != ADMIN_KEY_VERSION {
        return None;
    }
    let plaintext = open_current(version, rest, secret).or_else(|| open_legacy(rest, secret))?;
    let proto = AdminKeyProto::decode(&plaintext)?;
    let instance_name = match (prefix_name, proto.instance_name) {
        (Some(name), _) => name.to_owned(),
        (None, Some(name)) => name,
        (None, None) => return None,
    };
    (proto.issued_s != 0 && proto.has_identity).then_some(UpstreamAdminKey {
        instance_name,
        issued_s: proto.issued_s,
        read_only: proto.is_read_only,
    })
}

fn open_current(version: u8, rest: &[u8], secret: &[u8; 32]) -> Option<Vec<u8>> {
    if rest.len() < GCM_SIV_NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(GCM_SIV_NONCE_BYTES);
    let cipher = Aes128GcmSiv::new_from_slice(&admin_key_encryption_key(secret)).ok()?;
    cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &[version] }).ok()
}

fn open_legacy(rest: &[u8], secret: &[u8; 32]) -> Option<Vec<u8>> {
    if rest.len() < SECRETBOX_NONCE_BYTES {
        return None;
    }
    let (nonce, boxed) = rest.split_at(SECRETBOX_NONCE_BYTES);
    let cipher = XSalsa20Poly1305::new_from_slice(secret).ok()?;
    cipher.decrypt(crypto_secretbox::Nonce::from_slice(nonce), boxed).ok()
}

/// KBKDF (SP 800-108) in counter mode with HMAC-SHA256, one block: 16 bytes is less than one
/// HMAC output, so only counter 1 is needed.
fn admin_key_encryption_key(secret: &[u8; 32]) -> [u8; 16] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&1u32.to_be_bytes());
    mac.update(ADMIN_KEY_PURPOSE);
    let block = mac.finalize().into_bytes();
    block[..16].try_into().expect("an HMAC-SHA256 block is 32 bytes")
}

/// The fields of the `AdminKey` protobuf Hull needs.
#[derive(Default)]
struct AdminKeyProto {
    instance_name: Option<String>,
    issued_s: u64,
    has_identity: bool,
    is_read_only: bool,
}

impl AdminKeyProto {
    /// A strict, minimal protobuf reader: varints and length-delimited fields only (all this
    /// message uses); anything else makes the key invalid.
    fn decode(mut bytes: &[u8]) -> Option<AdminKeyProto> {
        let mut proto = AdminKeyProto::default();
        while !bytes.is_empty() {
            let tag = read_varint(&mut bytes)?;
            let (field, wire_type) = (tag >> 3, tag & 7);
            match wire_type {
                0 => {
                    let value = read_varint(&mut bytes)?;
                    match field {
                        2 => proto.issued_s = value,
                        3 => proto.has_identity = true,
                        5 => proto.is_read_only = value != 0,
                        _ => {}
                    }
                }
                2 => {
                    let length = usize::try_from(read_varint(&mut bytes)?).ok()?;
                    if length > bytes.len() {
                        return None;
                    }
                    let (value, rest) = bytes.split_at(length);
                    bytes = rest;
                    match field {
                        1 => proto.instance_name = Some(String::from_utf8(value.to_vec()).ok()?),
                        4 => proto.has_identity = true,
                        _ => {}
                    }
                }
                _ => return None,
            }
        }
        Some(proto)
    }
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret the `convex` CLI gives local backends (`LEGACY_LOCAL_BACKEND_INSTANCE_SECRET`
    /// in `cli/lib/localDeployment/secrets.ts`) and upstream's published development keys for
    /// instance `carnitas` under it, one per format: interoperability vectors.
    const CARNITAS_SECRET: &str = "4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974";
    const CARNITAS_LEGACY_KEY: &str = "0135d8598650f8f5cb0f30c34ec2e2bb62793bc28717c8eb6fb577996d50be5f4281b59181095065c5d0f86a2c31ddbe9b597ec62b47ded69782cd";
    const CARNITAS_CURRENT_KEY: &str = "carnitas|01ec1dc4339bc4a2c653e70016b1e1dea952bcfd707a0cd49c1bddcdfcd4d4a79bb2d6bdfa2f1493a1937cdb71e984c4a7";

    fn secret() -> [u8; 32] {
        crate::admin_key::decode_hex(CARNITAS_SECRET).unwrap().try_into().unwrap()
    }

    #[test]
    fn both_upstream_formats_decode_under_the_instance_secret() {
        let legacy = decode(CARNITAS_LEGACY_KEY, &secret()).expect("the legacy key decodes");
        assert_eq!(legacy.instance_name, "carnitas");
        assert!(!legacy.read_only && legacy.issued_s > 0);
        let current = decode(CARNITAS_CURRENT_KEY, &secret()).expect("the current key decodes");
        assert_eq!(current.instance_name, "carnitas");
        // Type prefixes before the name are ignored, as upstream does.
        assert_eq!(decode(&format!("dev:{CARNITAS_CURRENT_KEY}"), &secret()).unwrap().instance_name, "carnitas");
    }

    #[test]
    fn a_changed_byte_or_another_secret_is_refused() {
        let mut other = secret();
        other[0] ^= 1;
        assert!(decode(CARNITAS_LEGACY_KEY, &other).is_none());
        assert!(decode(CARNITAS_CURRENT_KEY, &other).is_none());
        for key in [CARNITAS_LEGACY_KEY, CARNITAS_CURRENT_KEY] {
            let mut tampered: Vec<char> = key.chars().collect();
            let last = tampered.len() - 5;
            tampered[last] = if tampered[last] == '0' { '1' } else { '0' };
            assert!(decode(&tampered.into_iter().collect::<String>(), &secret()).is_none(), "{key}");
        }
        for garbage in ["", "|", "carnitas|", "carnitas|01", "01", "zz", &"01".repeat(2000)] {
            assert!(decode(garbage, &secret()).is_none(), "{garbage}");
        }
    }

    #[test]
    fn the_proto_reader_is_strict() {
        assert!(AdminKeyProto::decode(&[0x10, 0x80]).is_none(), "a truncated varint");
        assert!(AdminKeyProto::decode(&[0x0a, 0x05, b'a']).is_none(), "a length past the end");
        assert!(AdminKeyProto::decode(&[0x0d, 0, 0, 0, 0]).is_none(), "a fixed32 field");
        let proto = AdminKeyProto::decode(&[0x10, 0x05, 0x22, 0x00]).unwrap();
        assert_eq!((proto.issued_s, proto.has_identity), (5, true));
    }
}
