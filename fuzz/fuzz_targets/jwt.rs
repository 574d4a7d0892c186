//! End-user JWTs (`hull_auth::Verifier::verify`, `customJwt` providers with inline `data:` key
//! sets: no network). The first byte picks the input: a raw token (the decoder: base64url
//! parts, header, `alg`/`kid`, claims, signature shapes), or a header and payload the harness
//! signs with the ES256 provider's key (the claim checks behind the signature). Never panics;
//! an accepted token's identity comes from the ES256 provider (nobody can sign for the RS256
//! one), and survives the `to_json` / `from_attributes_json` round trip an acting-as or
//! stored identity takes.
#![no_main]

use hull_auth::UserIdentity;
use hull_auth::testkit::{NOW, at};
use hull_fuzz::jwt::{ISSUER_EC, sign, verifier};
use libfuzzer_sys::fuzz_target;

/// The header of signed inputs that bring none.
const DEFAULT_HEADER: &[u8] = br#"{"alg":"ES256","kid":"ec","typ":"JWT"}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let (header, payload) = hull_fuzz::split_pair(rest);
        let header = if header.is_empty() {
            DEFAULT_HEADER
        } else {
            header
        };
        sign(header, payload)
    };
    let Ok(identity) = verifier().verify(&token, at(NOW)) else {
        return;
    };
    assert_eq!(
        identity.issuer(),
        ISSUER_EC,
        "a token no fuzz input can sign was accepted"
    );
    assert_eq!(
        identity.token_identifier(),
        format!("{}|{}", identity.issuer(), identity.subject())
    );
    let json = identity.to_json();
    let stored =
        UserIdentity::from_attributes_json(&json).expect("a verified identity's JSON reads back");
    assert_eq!(
        stored.to_json(),
        json,
        "identity JSON round trip changed the identity"
    );
});
