//! Shared pieces of Hull's fuzz targets (`fuzz_targets/*.rs`), one target per decoder that
//! reads bytes from the network. Every target asserts that its decoder never panics and, where
//! the decoder has an encoder, that decoding what was encoded gives back the same thing.
//!
//! Run them with `scripts/fuzz.sh` (every target for a bounded time over the checked-in corpus
//! in `fuzz/corpus/<target>/`; `--soak` for long release checks).

/// The input as text, when it is UTF-8 (most decoders take `&str`; the bytes-to-text step is
/// the caller's, and never panics there either).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Splits `data` at the first `0xff` byte (never part of UTF-8 text): the way targets that
/// take two inputs get them from one buffer.
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&byte| byte == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// End-user JWT fixtures: a verifier whose providers are all `customJwt` with inline
/// (`data:` URI) key sets, so verification never touches the network, and the fixed P-256 key
/// that signs tokens for its ES256 provider.
pub mod jwt {
    use std::sync::OnceLock;

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use hull_auth::{AuthConfig, Verifier, VerifierOptions};
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use serde_json::json;

    /// The ES256 provider's issuer (seeds in `corpus/jwt` use it).
    pub const ISSUER_EC: &str = "https://issuer.example";
    /// The RS256 provider's issuer.
    pub const ISSUER_RSA: &str = "https://rsa.example";
    /// The ES256 provider's `applicationID`.
    pub const APPLICATION_ID: &str = "app";
    /// The ES256 key's `kid`.
    pub const KID_EC: &str = "ec";

    /// The fixed P-256 signing key (a fixed scalar, so crashes reproduce).
    pub fn signing_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| {
            SigningKey::from_bytes(&[7u8; 32].into()).expect("7…7 is a valid P-256 scalar")
        })
    }

    fn ec_jwk() -> serde_json::Value {
        let point = signing_key().verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "kid": KID_EC,
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("uncompressed")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("uncompressed")),
        })
    }

    fn data_uri(jwks: &serde_json::Value) -> String {
        format!(
            "data:application/json;base64,{}",
            STANDARD.encode(jwks.to_string())
        )
    }

    /// The verifier every JWT input goes through.
    pub fn verifier() -> &'static Verifier {
        static VERIFIER: OnceLock<Verifier> = OnceLock::new();
        VERIFIER.get_or_init(|| {
            let rsa = hull_auth::testkit::rsa_key(0, "rsa");
            let config = AuthConfig::from_json(&json!({"providers": [
                {"type": "customJwt", "issuer": ISSUER_EC, "jwks": data_uri(&json!({"keys": [ec_jwk()]})),
                 "algorithm": "ES256", "applicationID": APPLICATION_ID},
                {"type": "customJwt", "issuer": ISSUER_RSA, "jwks": data_uri(&hull_auth::testkit::jwks(&[&rsa])),
                 "algorithm": "RS256"},
            ]}))
            .expect("the fuzz auth config is valid");
            Verifier::new(config, VerifierOptions::default())
        })
    }

    /// `base64url(header).base64url(payload).base64url(ES256 signature)`.
    pub fn sign(header: &[u8], payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature: p256::ecdsa::Signature = signing_key().sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// Server-key fixtures: one fixed key, so signed inputs and crashes reproduce.
pub mod server_key {
    use std::sync::OnceLock;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::Signer as _;
    use hull_keys::{KEY_PREFIX, KeyId, ServerKey, TOKEN_PREFIX};

    /// The fuzz key's id.
    pub const KEY_ID: [u8; 8] = *b"fuzz-kid";
    const SEED: [u8; 32] = [5; 32];
    /// What a token signature covers before its payload (`hull_keys::token`'s private
    /// `SIGNING_CONTEXT`; [`key`] checks this copy against a real token).
    const SIGNING_CONTEXT: &[u8] = b"hull server token v1\n";
    /// The "now" of every token check.
    pub const NOW: u64 = 1_800_000_000;

    /// The key string: `hull_sk_` + base64url(version 1 ‖ key id ‖ seed).
    pub fn key_text() -> String {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&KEY_ID);
        bytes.extend_from_slice(&SEED);
        format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The fixed key, checked once to sign exactly as `hull_keys::derive_token` does.
    pub fn key() -> &'static ServerKey {
        static KEY: OnceLock<ServerKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let key = ServerKey::parse(&key_text()).expect("the fuzz server key parses");
            let token = hull_keys::derive_token(&key, 60, None, NOW).expect("a 60 s token derives");
            let (payload, _) = token
                .strip_prefix(TOKEN_PREFIX)
                .unwrap()
                .split_once('.')
                .unwrap();
            let payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
            assert_eq!(
                sign(&payload),
                token,
                "the harness signs tokens differently from hull_keys"
            );
            key
        })
    }

    /// The stored public key of `kid`, when it is the fuzz key's.
    pub fn public_key_of(kid: KeyId) -> Option<[u8; 32]> {
        (kid.0 == KEY_ID).then(|| key().public_key())
    }

    /// A token with this payload, signed by the fuzz key.
    pub fn sign(payload: &[u8]) -> String {
        let signing = ed25519_dalek::SigningKey::from_bytes(&SEED);
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend_from_slice(payload);
        let signature = signing.sign(&message);
        format!(
            "{TOKEN_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// Admin-key fixtures: one instance with a fixed secret.
pub mod admin_key {
    use hull_app::{AdminKeys, InstanceSecret};

    /// The instance name keys are issued for.
    pub const INSTANCE_NAME: &str = "fuzz-instance";
    /// The instance secret.
    pub const SECRET: [u8; 32] = [9; 32];

    /// The keys of [`INSTANCE_NAME`] under [`SECRET`].
    pub fn keys() -> AdminKeys {
        let hex: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
        AdminKeys::new(
            INSTANCE_NAME,
            &InstanceSecret::from_hex(&hex).expect("64 hex digits"),
        )
    }
}
