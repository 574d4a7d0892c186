//! Token verification against providers served by the test itself (no network).

use std::time::SystemTime;

use base64::Engine as _;
use hull_auth::testkit::*;
use hull_auth::{AuthConfig, AuthError, AuthErrorKind, UserIdentity, Verifier, VerifierOptions};
use serde_json::json;

fn oidc_verifier(issuer: &TestIssuer) -> Verifier {
    let config = AuthConfig::from_json(&json!({
        "providers": [{"domain": issuer.url, "applicationID": "app"}]
    }))
    .unwrap();
    Verifier::new(config, VerifierOptions::default())
}

fn custom_verifier(issuer: &str, jwks: &str, algorithm: &str, app: Option<&str>) -> Verifier {
    let mut provider = json!({
        "type": "customJwt", "issuer": issuer, "jwks": jwks, "algorithm": algorithm,
    });
    if let Some(app) = app {
        provider["applicationID"] = json!(app);
    }
    let config = AuthConfig::from_json(&json!({ "providers": [provider] })).unwrap();
    Verifier::new(config, VerifierOptions::default())
}

fn verify_at(verifier: &Verifier, token: &str, now: SystemTime) -> Result<UserIdentity, AuthError> {
    verifier.verify(token, now)
}

fn verify(verifier: &Verifier, token: &str) -> Result<UserIdentity, AuthError> {
    verify_at(verifier, token, at(NOW))
}

fn failure(result: Result<UserIdentity, AuthError>) -> (AuthErrorKind, &'static str, String) {
    let error = result.expect_err("the token must be refused");
    (error.kind(), error.short(), error.message().to_owned())
}

const OIDC_FAILED: &str = "Could not verify OIDC token claim. Check that the token signature is \
                           valid and the token hasn't expired.";

#[test]
fn oidc_provider_accepts_valid_rs256_and_es256_tokens() {
    let (rsa, ec) = (rsa_key(0, "rsa-1"), ec_key("ec-1"));
    let issuer = TestIssuer::start(&[&rsa, &ec]);
    let verifier = oidc_verifier(&issuer);
    for key in [&rsa, &ec] {
        let identity = verify(&verifier, &key.sign(&claims(&issuer.url, "app"))).unwrap();
        assert_eq!(identity.subject(), "user-1");
        assert_eq!(identity.issuer(), issuer.url);
        assert_eq!(
            identity.token_identifier(),
            format!("{}|user-1", issuer.url)
        );
        assert_eq!(identity.expires_at_seconds(), NOW + 3600);
    }
    // Discovery and JWKS were fetched once and then served from the cache.
    assert_eq!(issuer.hits(), (1, 1));
}

#[test]
fn oidc_domain_matches_issuer_with_or_without_trailing_slash() {
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let config = AuthConfig::from_json(&json!({
        "providers": [{"domain": format!("{}/", issuer.url), "applicationID": "app"}]
    }))
    .unwrap();
    let verifier = Verifier::new(config, VerifierOptions::default());
    let token = key.sign(&claims(&format!("{}/", issuer.url), "app"));
    let identity = verify(&verifier, &token).unwrap();
    // The identity keeps the token's own `iss`.
    assert_eq!(identity.issuer(), format!("{}/", issuer.url));
    verify(&verifier, &key.sign(&claims(&issuer.url, "app"))).unwrap();
}

#[test]
fn custom_jwt_provider_accepts_valid_rs256_and_es256_tokens() {
    let (rsa, ec) = (rsa_key(0, "rsa-1"), ec_key("ec-1"));
    let server = TestIssuer::start(&[&rsa, &ec]);
    let iss = "https://auth.example.com";
    for (key, algorithm) in [(&rsa, "RS256"), (&ec, "ES256")] {
        let verifier = custom_verifier(iss, &server.jwks_url(), algorithm, Some("app"));
        let identity = verify(&verifier, &key.sign(&claims(iss, "app"))).unwrap();
        assert_eq!(
            identity.token_identifier(),
            "https://auth.example.com|user-1"
        );
    }
    // No discovery for customJwt: only the JWKS URL, once per verifier.
    assert_eq!(server.hits(), (0, 2));
}

#[test]
fn custom_jwt_without_application_id_accepts_any_or_no_audience() {
    let key = ec_key("k");
    let server = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &server.jwks_url(), "ES256", None);
    verify(
        &verifier,
        &key.sign(&with(claims("iss", "x"), json!({"aud": null}))),
    )
    .unwrap();
    verify(&verifier, &key.sign(&claims("iss", "anything"))).unwrap();
}

#[test]
fn expired_tokens_are_refused_in_each_providers_words() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let expired = with(
        claims(&issuer.url, "app"),
        json!({"exp": NOW - 100, "iat": NOW - 200}),
    );
    let (kind, short, message) = failure(verify(&oidc_verifier(&issuer), &key.sign(&expired)));
    assert_eq!(
        (kind, short),
        (AuthErrorKind::InvalidToken, "Unauthenticated")
    );
    assert_eq!(
        message,
        format!("{OIDC_FAILED} (Token expired 100 seconds ago)")
    );

    let custom = custom_verifier(&issuer.url, &issuer.jwks_url(), "RS256", Some("app"));
    let (kind, short, message) = failure(verify(&custom, &key.sign(&expired)));
    assert_eq!(
        (kind, short),
        (AuthErrorKind::InvalidToken, "InvalidAuthHeader")
    );
    assert_eq!(
        message,
        "Could not validate token: Token expired 100 seconds ago"
    );
}

#[test]
fn times_within_the_clock_skew_are_accepted() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let skew = hull_auth::limits::CLOCK_SKEW_SECONDS;
    let edge = json!({"exp": NOW - skew, "nbf": NOW + skew, "iat": NOW + skew});
    verify(&verifier, &key.sign(&with(claims("iss", "a"), edge))).unwrap();
    let past = json!({"exp": NOW - skew - 1});
    let (_, _, message) = failure(verify(
        &verifier,
        &key.sign(&with(claims("iss", "a"), past)),
    ));
    assert_eq!(
        message,
        format!(
            "Could not validate token: Token expired {} seconds ago",
            skew + 1
        )
    );
}

#[test]
fn not_yet_valid_and_future_issued_tokens_are_refused() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    let nbf = with(claims(&issuer.url, "app"), json!({"nbf": NOW + 60}));
    let (kind, short, message) = failure(verify(&verifier, &key.sign(&nbf)));
    assert_eq!(
        (kind, short),
        (AuthErrorKind::InvalidToken, "Unauthenticated")
    );
    assert_eq!(
        message,
        format!("{OIDC_FAILED} (Token is not valid yet ('nbf' is 60 seconds from now))")
    );
    let iat = with(claims(&issuer.url, "app"), json!({"iat": NOW + 60}));
    let (_, _, message) = failure(verify(&verifier, &key.sign(&iat)));
    assert!(message.ends_with("(Token was issued in the future ('iat' is 60 seconds from now))"));
    // OIDC ID tokens must carry `iat`; custom JWTs need not.
    let no_iat = with(claims(&issuer.url, "app"), json!({"iat": null}));
    let (_, _, message) = failure(verify(&verifier, &key.sign(&no_iat)));
    assert!(
        message.ends_with("(the JWT has no issued-at time ('iat'))"),
        "{message}"
    );
    let no_exp = with(claims(&issuer.url, "app"), json!({"exp": null}));
    let (_, _, message) = failure(verify(&verifier, &key.sign(&no_exp)));
    assert!(
        message.ends_with("(the JWT has no expiry ('exp'))"),
        "{message}"
    );
}

#[test]
fn wrong_audience_or_issuer_matches_no_provider() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    let expected = format!(
        "No auth provider found matching the given token. Check that your JWT's issuer and \
         audience match one of your configured providers: [OIDC(domain={}, app_id=app)]",
        issuer.url
    );
    for token_claims in [
        claims(&issuer.url, "other-app"),
        claims("https://evil.example.com", "app"),
        with(claims(&issuer.url, "app"), json!({"aud": null})),
    ] {
        let (kind, short, message) = failure(verify(&verifier, &key.sign(&token_claims)));
        assert_eq!(
            (kind, short),
            (AuthErrorKind::NoAuthProvider, "NoAuthProvider")
        );
        assert_eq!(message, expected);
    }
    let custom = custom_verifier("iss", &issuer.jwks_url(), "RS256", Some("app"));
    let (kind, _, message) = failure(verify(&custom, &key.sign(&claims("iss", "nope"))));
    assert_eq!(kind, AuthErrorKind::NoAuthProvider);
    assert!(
        message.ends_with("[CustomJWT(issuer=iss, app_id=app)]"),
        "{message}"
    );
    // No provider matched, so no provider was contacted.
    assert_eq!(issuer.hits(), (0, 0));
}

#[test]
fn oidc_token_with_an_extra_untrusted_audience_is_refused() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let token = key.sign(&with(
        claims(&issuer.url, "app"),
        json!({"aud": ["app", "other"]}),
    ));
    let (kind, short, message) = failure(verify(&oidc_verifier(&issuer), &token));
    assert_eq!(
        (kind, short),
        (AuthErrorKind::InvalidToken, "Unauthenticated")
    );
    assert!(message.contains("audience 'other'"), "{message}");
}

#[test]
fn unknown_kid_refetches_once_then_fails() {
    let key = rsa_key(0, "k1");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    verify(&verifier, &key.sign(&claims(&issuer.url, "app"))).unwrap();
    assert_eq!(issuer.hits(), (1, 1));
    let stranger = rsa_key(1, "unknown");
    let later = NOW + hull_auth::limits::JWKS_REFETCH_INTERVAL_MIN_SECONDS;
    let token = stranger.sign(&claims(&issuer.url, "app"));
    let (kind, short, message) = failure(verify_at(&verifier, &token, at(later)));
    assert_eq!(
        (kind, short),
        (AuthErrorKind::InvalidToken, "Unauthenticated")
    );
    assert_eq!(
        message,
        format!(
            "{OIDC_FAILED} (the JWT's 'kid' (key ID) header is 'unknown', which matches no key \
             in the provider's JWKS)"
        )
    );
    assert_eq!(issuer.hits(), (2, 2), "one refetch (discovery and JWKS)");
    // Right after that refetch, the same unknown kid does not fetch again.
    failure(verify_at(&verifier, &token, at(later + 1)));
    assert_eq!(issuer.hits(), (2, 2));
}

#[test]
fn unknown_kid_burst_is_rate_limited_to_one_refetch() {
    let key = ec_key("k1");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = std::sync::Arc::new(custom_verifier("iss", &issuer.jwks_url(), "ES256", None));
    verify(&verifier, &key.sign(&claims("iss", "a"))).unwrap();
    let later = NOW + hull_auth::limits::JWKS_REFETCH_INTERVAL_MIN_SECONDS + 1;
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let verifier = verifier.clone();
            std::thread::spawn(move || {
                for n in 0..25 {
                    let forged = ec_key(&format!("forged-{thread}-{n}"));
                    let error = verifier
                        .verify(&forged.sign(&claims("iss", "a")), at(later))
                        .unwrap_err();
                    assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(issuer.hits(), (0, 2), "200 unknown kids cost one refetch");
    // Valid tokens are still served from the cache.
    verify_at(&verifier, &key.sign(&claims("iss", "a")), at(later)).unwrap();
    assert_eq!(issuer.hits(), (0, 2));
}

#[test]
fn rotated_key_is_picked_up_by_refetch() {
    let (old, new) = (rsa_key(0, "2025"), rsa_key(1, "2026"));
    let issuer = TestIssuer::start(&[&old]);
    let verifier = oidc_verifier(&issuer);
    verify(&verifier, &old.sign(&claims(&issuer.url, "app"))).unwrap();
    issuer.set_keys(&[&new]);
    let later = NOW + hull_auth::limits::JWKS_REFETCH_INTERVAL_MIN_SECONDS;
    let identity = verify_at(&verifier, &new.sign(&claims(&issuer.url, "app")), at(later)).unwrap();
    assert_eq!(identity.subject(), "user-1");
    assert_eq!(issuer.hits(), (2, 2));
    // The old key is gone from the refreshed set.
    let (_, _, message) = failure(verify_at(
        &verifier,
        &old.sign(&claims(&issuer.url, "app")),
        at(later),
    ));
    assert!(
        message.contains("'kid' (key ID) header is '2025'"),
        "{message}"
    );
}

#[test]
fn keys_are_refetched_after_the_cache_ttl() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let token = key.sign(&with(claims("iss", "a"), json!({"exp": NOW + 100_000})));
    verify(&verifier, &token).unwrap();
    verify_at(
        &verifier,
        &token,
        at(NOW + hull_auth::limits::JWKS_CACHE_TTL_SECONDS - 1),
    )
    .unwrap();
    assert_eq!(issuer.hits(), (0, 1));
    verify_at(
        &verifier,
        &token,
        at(NOW + hull_auth::limits::JWKS_CACHE_TTL_SECONDS),
    )
    .unwrap();
    assert_eq!(issuer.hits(), (0, 2));
}

#[test]
fn unreachable_provider_is_a_distinct_error() {
    let key = rsa_key(0, "k");
    let url = refused_url();
    let config = AuthConfig::from_json(&json!({
        "providers": [{"domain": url, "applicationID": "app"}]
    }))
    .unwrap();
    let verifier = Verifier::new(config, VerifierOptions::default());
    let (kind, short, message) = failure(verify(&verifier, &key.sign(&claims(&url, "app"))));
    assert_eq!(
        (kind, short),
        (
            AuthErrorKind::ProviderUnreachable,
            "AuthProviderUnreachable"
        )
    );
    assert!(
        message.starts_with(&format!(
            "Could not fetch '{url}/.well-known/openid-configuration': "
        )),
        "{message}"
    );
    let error: hull_errors::Error = verifier
        .verify(&key.sign(&claims(&url, "app")), at(NOW))
        .unwrap_err()
        .into();
    assert_eq!(error.code, hull_errors::Code::Unavailable);

    let custom = custom_verifier("iss", &format!("{url}/jwks"), "RS256", None);
    let error = verify(&custom, &key.sign(&claims("iss", "a"))).unwrap_err();
    assert!(error.is_provider_unreachable());
}

#[test]
fn provider_errors_keep_serving_previously_fetched_keys() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let token = key.sign(&with(claims("iss", "a"), json!({"exp": NOW + 100_000})));
    verify(&verifier, &token).unwrap();
    issuer.fail_jwks_with(500);
    let stale = NOW + hull_auth::limits::JWKS_CACHE_TTL_SECONDS + 1;
    verify_at(&verifier, &token, at(stale)).unwrap();
    assert_eq!(issuer.hits(), (0, 2), "the refetch was attempted");

    let fresh = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let (kind, _, message) = failure(verify(&fresh, &token));
    assert_eq!(kind, AuthErrorKind::ProviderUnreachable);
    assert_eq!(
        message,
        format!(
            "Could not fetch '{}': HTTP status 500 Internal Server Error",
            issuer.jwks_url()
        )
    );
}

#[test]
fn alg_none_is_refused_before_any_key_lookup() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    let body = encode_json(&claims(&issuer.url, "app"));
    for header in [
        json!({"alg": "none", "kid": "k"}),
        json!({"alg": "None", "kid": "k"}),
    ] {
        let token = format!("{}.{body}.", encode_json(&header));
        let (kind, short, message) = failure(verify(&verifier, &token));
        assert_eq!(
            (kind, short),
            (AuthErrorKind::InvalidToken, "InvalidAuthHeader")
        );
        assert!(message.starts_with("Could not decode token: the JWT is signed with algorithm"));
    }
    assert_eq!(issuer.hits(), (0, 0));
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    use ring::hmac;
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    let jwk_text = key.jwk().to_string();
    for secret in [key.public_bytes(), jwk_text.into_bytes()] {
        let input = format!(
            "{}.{}",
            encode_json(&json!({"alg": "HS256", "kid": "k", "typ": "JWT"})),
            encode_json(&claims(&issuer.url, "app"))
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
        );
        let (_, short, message) = failure(verify(&verifier, &token));
        assert_eq!(short, "InvalidAuthHeader");
        assert_eq!(
            message,
            "Could not decode token: the JWT is signed with algorithm `HS256`; only RS256 and \
             ES256 are supported"
        );
    }
    assert_eq!(issuer.hits(), (0, 0));
}

#[test]
fn custom_jwt_algorithm_must_match_the_configured_one() {
    let (rsa, ec) = (rsa_key(0, "rsa"), ec_key("ec"));
    let server = TestIssuer::start(&[&rsa, &ec]);
    let verifier = custom_verifier("iss", &server.jwks_url(), "ES256", None);
    let (_, short, message) = failure(verify(&verifier, &rsa.sign(&claims("iss", "a"))));
    assert_eq!(short, "InvalidAuthHeader");
    assert_eq!(
        message,
        "Could not decode token: the JWT is signed with RS256 but the auth provider 'iss' is \
         configured with algorithm ES256"
    );
}

#[test]
fn key_type_must_fit_the_token_algorithm() {
    // An ES256 header pointing at an RSA key (and the reverse) never verifies.
    let (rsa, ec) = (rsa_key(0, "rsa"), ec_key("ec"));
    let issuer = TestIssuer::start(&[&rsa, &ec]);
    let verifier = oidc_verifier(&issuer);
    let token = ec.sign_with_header(
        &json!({"alg": "ES256", "kid": "rsa"}),
        &claims(&issuer.url, "app"),
    );
    let (_, _, message) = failure(verify(&verifier, &token));
    assert!(
        message.ends_with("(the token is signed with ES256 but its key is for RS256)"),
        "{message}"
    );
    let token = rsa.sign_with_header(
        &json!({"alg": "RS256", "kid": "ec"}),
        &claims(&issuer.url, "app"),
    );
    let (_, _, message) = failure(verify(&verifier, &token));
    assert!(
        message.ends_with("(the token is signed with RS256 but its key is an EC P-256 key)"),
        "{message}"
    );
}

#[test]
fn tampered_claims_fail_the_signature_check() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let token = key.sign(&claims("iss", "a"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = encode_json(&with(claims("iss", "a"), json!({"sub": "admin"})));
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    let (kind, short, message) = failure(verify(&verifier, &tampered));
    assert_eq!(
        (kind, short),
        (AuthErrorKind::InvalidToken, "InvalidAuthHeader")
    );
    assert_eq!(message, "Could not validate token: invalid signature");
}

#[test]
fn malformed_tokens_are_refused() {
    let verifier = Verifier::new(AuthConfig::empty(), VerifierOptions::default());
    let key = ec_key("k");
    let cases = [
        (
            "",
            "Could not parse as a JWT: expected three base64url parts separated by `.`",
        ),
        (
            "a.b",
            "Could not parse as a JWT: expected three base64url parts separated by `.`",
        ),
        (
            "a.b.c.d",
            "Could not parse as a JWT: expected three base64url parts separated by `.`",
        ),
        (
            "!!.e30.",
            "Could not decode token: the JWT header is not a JSON object",
        ),
    ];
    for (token, expected) in cases {
        let (_, short, message) = failure(verify(&verifier, token));
        assert_eq!((short, message.as_str()), ("InvalidAuthHeader", expected));
    }
    let no_kid = key.sign_with_header(&json!({"alg": "ES256"}), &claims("iss", "a"));
    let (_, _, message) = failure(verify(&verifier, &no_kid));
    assert_eq!(
        message,
        "Could not decode token. JWT may be missing a 'kid' (key ID) header."
    );
    let bad_payload = format!(
        "{}.bm90IGpzb24.sig",
        encode_json(&json!({"alg": "ES256", "kid": "k"}))
    );
    let (_, _, message) = failure(verify(&verifier, &bad_payload));
    assert_eq!(message, "Could not parse JWT payload.");
    let no_iss = key.sign(&with(claims("iss", "a"), json!({"iss": null})));
    let (_, short, message) = failure(verify(&verifier, &no_iss));
    assert_eq!(short, "InvalidAuthHeader");
    assert!(message.starts_with("Could not validate token: the JWT has no issuer claim ('iss')"));
    let huge = "a".repeat(hull_auth::limits::TOKEN_BYTES_MAX + 1);
    assert!(
        failure(verify(&verifier, &huge))
            .2
            .contains("more than the limit of 65536")
    );
}

#[test]
fn empty_config_refuses_every_token_with_no_auth_provider() {
    let verifier = Verifier::new(AuthConfig::empty(), VerifierOptions::default());
    let key = ec_key("k");
    let (kind, _, message) = failure(verify(&verifier, &key.sign(&claims("iss", "a"))));
    assert_eq!(kind, AuthErrorKind::NoAuthProvider);
    assert!(message.ends_with("configured providers: []"));
}

#[test]
fn data_uri_jwks_needs_no_network() {
    let key = ec_key("inline");
    let document = jwks(&[&key]).to_string();
    let base64 = base64::engine::general_purpose::STANDARD.encode(&document);
    let percent: String = document
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    for uri in [
        format!("data:text/plain;charset=utf-8;base64,{base64}"),
        format!(
            "data:application/json;base64,{}",
            base64.trim_end_matches('=')
        ),
        format!("data:application/json,{percent}"),
    ] {
        let verifier = custom_verifier("https://site.example", &uri, "ES256", Some("convex"));
        let identity = verify(
            &verifier,
            &key.sign(&claims("https://site.example", "convex")),
        )
        .unwrap();
        assert_eq!(identity.subject(), "user-1");
    }
}

#[test]
fn with_config_keeps_cached_keys_of_unchanged_providers() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    verify(&verifier, &key.sign(&claims(&issuer.url, "app"))).unwrap();
    let pushed = verifier.with_config(verifier.config().clone());
    verify(&pushed, &key.sign(&claims(&issuer.url, "app"))).unwrap();
    assert_eq!(issuer.hits(), (1, 1));
    let emptied = verifier.with_config(AuthConfig::empty());
    assert_eq!(
        failure(verify(&emptied, &key.sign(&claims(&issuer.url, "app")))).0,
        AuthErrorKind::NoAuthProvider
    );
}

#[test]
fn identity_maps_standard_claims_and_passes_custom_claims_through() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let profile = json!({
        "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
        "nickname": "ada", "preferred_username": "ada.l", "profile": "https://ex.com/ada",
        "picture": "https://ex.com/ada.png", "email": "ada@ex.com", "email_verified": true,
        "gender": "female", "birthdate": "1815-12-10", "zoneinfo": "Europe/London",
        "locale": "en-GB", "phone_number": "+44 20 0000 0000", "phone_number_verified": "false",
        "address": {"country": "UK"}, "updated_at": 1_700_000_000,
        "jti": "j-1", "nbf": NOW - 10,
        "org": {"id": 7, "role": {"name": "admin"}}, "roles": ["a", "b"], "subject": "admin",
        "tokenIdentifier": "forged",
    });
    let token_claims = with(claims(&issuer.url, "app"), profile);
    let identity = verify(&oidc_verifier(&issuer), &key.sign(&token_claims)).unwrap();
    let expected = json!({
        "tokenIdentifier": format!("{}|user-1", issuer.url),
        "subject": "user-1",
        "issuer": issuer.url,
        "name": "Ada Lovelace", "givenName": "Ada", "familyName": "Lovelace",
        "nickname": "ada", "preferredUsername": "ada.l", "profileUrl": "https://ex.com/ada",
        "pictureUrl": "https://ex.com/ada.png", "email": "ada@ex.com", "emailVerified": true,
        "gender": "female", "birthday": "1815-12-10", "timezone": "Europe/London",
        "language": "en-GB", "phoneNumber": "+44 20 0000 0000", "phoneNumberVerified": false,
        "address": "{\"country\":\"UK\"}", "updatedAt": "2023-11-14T22:13:20Z",
        "org": {"id": 7, "role": {"name": "admin"}}, "roles": ["a", "b"],
    });
    assert_eq!(identity.to_json(), expected);
    assert_eq!(identity.attribute("givenName"), Some(&json!("Ada")));
}

#[test]
fn custom_jwt_identity_flattens_nested_claims_into_dotted_keys() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("http://localhost:3000", &issuer.jwks_url(), "ES256", None);
    let token_claims = with(
        claims("http://localhost:3000", "a"),
        json!({
            "sub": "user:8fa2be73c2229e85", "email": "a@b.c",
            "properties": {"id": "123", "favoriteColor": "red", "deep": {"er": true}},
            "scopes": ["read"],
        }),
    );
    let identity = verify(&verifier, &key.sign(&token_claims)).unwrap();
    assert_eq!(
        identity.to_json(),
        json!({
            "tokenIdentifier": "http://localhost:3000|user:8fa2be73c2229e85",
            "subject": "user:8fa2be73c2229e85",
            "issuer": "http://localhost:3000",
            "email": "a@b.c",
            "properties.id": "123",
            "properties.favoriteColor": "red",
            "properties.deep.er": true,
            "scopes": ["read"],
        })
    );
}

#[test]
fn standard_claims_of_the_wrong_type_are_refused() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let bad = with(claims(&issuer.url, "app"), json!({"email": 5}));
    let (_, short, message) = failure(verify(&oidc_verifier(&issuer), &key.sign(&bad)));
    assert_eq!(short, "Unauthenticated");
    assert_eq!(
        message,
        "Could not parse as OIDC ID token. Token might not be an OIDC-compliant JWT. (claim \
         `email` has the wrong type)"
    );
    let custom = custom_verifier(&issuer.url, &issuer.jwks_url(), "RS256", None);
    let (_, short, message) = failure(verify(&custom, &key.sign(&bad)));
    assert_eq!(short, "InvalidAuthHeader");
    assert_eq!(
        message,
        "Could not parse JWT payload: claim `email` has the wrong type"
    );
    let no_sub = with(claims(&issuer.url, "app"), json!({"sub": null}));
    let (_, _, message) = failure(verify(&custom, &key.sign(&no_sub)));
    assert_eq!(
        message,
        "Could not validate token: the JWT has no subject claim ('sub')"
    );
}

#[test]
fn identity_reports_expiry_for_long_lived_sessions() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let identity = verify(&verifier, &key.sign(&claims("iss", "a"))).unwrap();
    identity.check_unexpired(NOW + 3600).unwrap();
    let error = identity.check_unexpired(NOW + 3608).unwrap_err();
    assert_eq!(
        (error.short(), error.message()),
        ("TokenExpired", "Token expired 8 seconds ago")
    );
}

#[test]
fn errors_never_contain_the_token() {
    let key = rsa_key(0, "k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = oidc_verifier(&issuer);
    let tokens = [
        key.sign(&with(claims(&issuer.url, "app"), json!({"exp": NOW - 100}))),
        key.sign(&claims(&issuer.url, "wrong")),
        rsa_key(1, "other").sign(&claims(&issuer.url, "app")),
    ];
    for token in tokens {
        let error = verify(&verifier, &token).unwrap_err();
        let signature = token.rsplit('.').next().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        assert!(!error.message().contains(signature) && !error.message().contains(payload));
    }
}

#[test]
fn verifier_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Verifier>();
}

#[test]
fn failed_fetches_are_rate_limited_too() {
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    issuer.fail_jwks_with(503);
    let verifier = custom_verifier("iss", &issuer.jwks_url(), "ES256", None);
    let token = key.sign(&claims("iss", "a"));
    for _ in 0..5 {
        assert!(
            verify(&verifier, &token)
                .unwrap_err()
                .is_provider_unreachable()
        );
    }
    assert_eq!(
        issuer.hits(),
        (0, 1),
        "a down provider is asked once per interval"
    );
    let later = NOW + hull_auth::limits::JWKS_REFETCH_INTERVAL_MIN_SECONDS;
    assert!(
        verify_at(&verifier, &token, at(later))
            .unwrap_err()
            .is_provider_unreachable()
    );
    assert_eq!(issuer.hits(), (0, 2));
}

#[test]
fn rsa_keys_below_2048_bits_are_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let key = rsa_key(0, "weak");
    let mut jwk = key.jwk();
    // A 1024-bit modulus (the top half of the real one): the key is refused by size, whatever
    // the signature.
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    jwk["n"] = json!(URL_SAFE_NO_PAD.encode(&n[..128]));
    let document = json!({"keys": [jwk]}).to_string();
    let uri = format!(
        "data:application/json;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(document)
    );
    let verifier = custom_verifier("iss", &uri, "RS256", None);
    let (_, _, message) = failure(verify(&verifier, &key.sign(&claims("iss", "a"))));
    assert_eq!(
        message,
        "Could not validate token: the RSA key has a 1024-bit modulus; RS256 keys must have 2048 \
         to 8192 bits"
    );
}

#[test]
fn acting_as_identity_parses_the_cli_and_admin_shapes() {
    // `npx convex run --identity '{"name": "Ada"}'` sends subject, issuer and tokenIdentifier.
    let identity = UserIdentity::from_attributes_json(&json!({
        "name": "Ada", "subject": "123", "issuer": "https://convex.test",
        "tokenIdentifier": "custom|id", "org": {"id": 7},
    }))
    .unwrap();
    assert_eq!(
        identity.to_json(),
        json!({"tokenIdentifier": "custom|id", "subject": "123", "issuer": "https://convex.test",
               "name": "Ada", "org": {"id": 7}})
    );
    identity.check_unexpired(u64::MAX).unwrap();
    let default_id = UserIdentity::from_attributes_json(&json!({"subject": "s", "issuer": "i"}));
    assert_eq!(default_id.unwrap().token_identifier(), "i|s");
    // A verified identity stored with to_json reads back unchanged (expiry aside).
    let key = ec_key("k");
    let server = TestIssuer::start(&[&key]);
    let verifier = custom_verifier("iss", &server.jwks_url(), "ES256", None);
    let verified = verify(
        &verifier,
        &key.sign(&with(claims("iss", "a"), json!({"email": "a@b.c"}))),
    )
    .unwrap();
    let stored = UserIdentity::from_attributes_json(&verified.to_json()).unwrap();
    assert_eq!(stored.to_json(), verified.to_json());
    for (bad, expected) in [
        (
            json!("x"),
            "Could not parse the acting-as identity: it must be a JSON object",
        ),
        (
            json!({"issuer": "i"}),
            "Could not parse the acting-as identity: `subject` is missing",
        ),
        (
            json!({"subject": 1, "issuer": "i"}),
            "Could not parse the acting-as identity: `subject` must be a string",
        ),
    ] {
        let error = UserIdentity::from_attributes_json(&bad).unwrap_err();
        assert_eq!(
            (error.short(), error.message()),
            ("InvalidAuthHeader", expected)
        );
    }
}

#[test]
fn tokens_with_stale_keys_do_not_wait_for_a_slow_refresh() {
    use std::time::{Duration, Instant};
    let key = ec_key("k");
    let issuer = TestIssuer::start(&[&key]);
    let verifier = std::sync::Arc::new(custom_verifier("iss", &issuer.jwks_url(), "ES256", None));
    let token = key.sign(&with(claims("iss", "a"), json!({"exp": NOW + 100_000})));
    verify(&verifier, &token).unwrap();
    // The refresh takes far longer than the bound below, so the bound holds on a loaded machine.
    issuer.delay_jwks_by(Duration::from_secs(5));
    let stale = at(NOW + hull_auth::limits::JWKS_CACHE_TTL_SECONDS);
    let refresher = {
        let (verifier, token) = (verifier.clone(), token.clone());
        std::thread::spawn(move || verifier.verify(&token, stale).map(|_| ()))
    };
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    verify_at(&verifier, &token, stale).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "served from the stale keys"
    );
    refresher.join().unwrap().unwrap();
    assert_eq!(issuer.hits(), (0, 2));
}
