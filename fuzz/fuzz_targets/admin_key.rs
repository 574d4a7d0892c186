//! Admin keys (`hull_app::AdminKeys::check`, `hull_app::upstream_admin_key::decode`). The first
//! byte picks the input: a raw key (the decoders), an issue time (Hull's keys round-trip: an
//! issued key checks, with or without a `type:` prefix, and one changed hex digit fails it), or
//! a plaintext the harness seals the way the upstream legacy format does (the protobuf reader
//! behind the MAC). Never panics; a decoded upstream key has an issue time.
#![no_main]

use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use hull_app::upstream_admin_key;
use hull_fuzz::admin_key::{INSTANCE_NAME, SECRET, keys};
use libfuzzer_sys::fuzz_target;

/// A fixed nonce: the input chooses the plaintext, not the nonce.
const NONCE: [u8; 24] = [1; 24];

fn check_raw(key: &str) {
    let _ = keys().check(key);
    if let Some(decoded) = upstream_admin_key::decode(key, &SECRET) {
        assert_ne!(
            decoded.issued_s, 0,
            "an upstream key without an issue time was accepted"
        );
    }
}

fn check_issued(issued_s: u64) {
    let keys = keys();
    let key = keys.issue(issued_s);
    keys.check(&key).expect("an issued key checks");
    keys.check(&format!("prod:{key}"))
        .expect("a type: prefix is ignored");
    let mut tampered = key.into_bytes();
    let last = tampered.last_mut().expect("keys are not empty");
    *last = if *last == b'0' { b'1' } else { b'0' };
    assert!(
        keys.check(std::str::from_utf8(&tampered).unwrap()).is_err(),
        "a tampered key checked"
    );
}

fn check_sealed(plaintext: &[u8], with_name: bool) {
    let cipher = XSalsa20Poly1305::new_from_slice(&SECRET).expect("32-byte key");
    let sealed = cipher
        .encrypt(&NONCE.into(), plaintext)
        .expect("sealing never fails");
    let hex: String = [1u8]
        .iter()
        .chain(&NONCE)
        .chain(&sealed)
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = if with_name {
        format!("{INSTANCE_NAME}|{hex}")
    } else {
        hex
    };
    check_raw(&key);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => check_raw(&String::from_utf8_lossy(rest)),
        1 => {
            if let Some(bytes) = rest.first_chunk::<8>() {
                check_issued(u64::from_le_bytes(*bytes));
            }
        }
        _ => check_sealed(rest, mode & 0x80 != 0),
    }
});
