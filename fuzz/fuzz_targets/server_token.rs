//! Server tokens (`hull_keys::verify_token`). The first byte picks the input: a raw token (the
//! decoder), a payload the harness signs with the fuzz key (the checks behind the signature),
//! or a lifetime and scope for `derive_token` (the round trip). Never panics; an accepted token
//! is the fuzz key's, unexpired at "now", with a bounded lifetime; a derived token verifies to
//! exactly what it was derived with.
#![no_main]

use hull_fuzz::server_key::{KEY_ID, NOW, key, public_key_of, sign};
use hull_keys::{MAX_TOKEN_TTL_SECONDS, TokenClaims, derive_token, verify_token};
use libfuzzer_sys::fuzz_target;

fn check_claims(claims: &TokenClaims) {
    assert_eq!(claims.key_id.0, KEY_ID);
    assert!(claims.issued_at < claims.expires_at);
    assert!(claims.expires_at - claims.issued_at <= MAX_TOKEN_TTL_SECONDS);
    assert!(NOW < claims.expires_at, "an expired token was accepted");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(claims) = verify_token(&String::from_utf8_lossy(rest), public_key_of, NOW) {
                check_claims(&claims);
            }
        }
        1 => {
            if let Ok(claims) = verify_token(&sign(rest), public_key_of, NOW) {
                check_claims(&claims);
            }
        }
        _ => {
            let Some((ttl_bytes, allow_bytes)) = rest.split_first_chunk::<8>() else {
                return;
            };
            let ttl_seconds = u64::from_le_bytes(*ttl_bytes);
            let allow: Option<Vec<String>> = hull_fuzz::text(allow_bytes)
                .filter(|t| !t.is_empty())
                .map(|t| t.lines().map(str::to_owned).collect());
            let Ok(token) = derive_token(key(), ttl_seconds, allow.as_deref(), NOW) else {
                return;
            };
            let claims =
                verify_token(&token, public_key_of, NOW).expect("a derived token verifies");
            let expected = TokenClaims {
                key_id: key().key_id(),
                issued_at: NOW,
                expires_at: NOW + ttl_seconds,
                allow,
            };
            assert_eq!(claims, expected, "token round trip changed the claims");
        }
    }
});
