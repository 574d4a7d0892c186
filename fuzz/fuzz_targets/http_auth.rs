//! Request credentials (`hull_server::decoders::credentials`: the `Authorization` header and
//! `?adminKey=`, as every API route and HTTP action reads them), then what the server does with
//! each kind: acting-as identities (`decode_identity`, `UserIdentity::from_attributes`), admin
//! and server keys, server tokens. Input: header value, `0xff`, URI (path and query). Never
//! panics; a `Bearer` header yields exactly its trimmed token.
#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Uri};
use hull_fuzz::server_key::{NOW, public_key_of};
use hull_server::decoders::{Credentials, credentials, decode_identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, uri) = hull_fuzz::split_pair(data);
    let mut headers = HeaderMap::new();
    if !header.is_empty() {
        let Ok(value) = HeaderValue::from_bytes(header) else {
            return;
        };
        headers.insert(AUTHORIZATION, value);
    }
    let uri = Uri::try_from(uri).unwrap_or_else(|_| Uri::from_static("/api/query"));
    match credentials(&headers, &uri) {
        Ok(Credentials::None) | Err(_) => {}
        Ok(Credentials::User { token }) => {
            let header = std::str::from_utf8(header).expect("a Bearer header is text");
            assert_eq!(
                token,
                header[7..].trim(),
                "the Bearer token is not the header's rest"
            );
            let _ = hull_keys::verify_token(&token, public_key_of, NOW);
        }
        Ok(Credentials::AdminKey { key, acting_as }) => {
            if let Some(encoded) = acting_as
                && let Ok(identity) = decode_identity(&encoded)
            {
                let _ = hull_app::UserIdentity::from_attributes(identity.0);
            }
            if hull_keys::ServerKey::is_server_key(&key) {
                let _ = hull_keys::ServerKey::parse(&key);
            } else {
                let _ = hull_fuzz::admin_key::keys().check(&key);
            }
        }
    }
});
