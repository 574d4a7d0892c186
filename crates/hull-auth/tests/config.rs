//! Parsing `auth.config.js`'s default export.

use hull_auth::{Algorithm, AuthConfig, AuthProvider};
use serde_json::{Value, json};

fn error(value: Value) -> String {
    AuthConfig::from_json(&value)
        .expect_err("the config must be refused")
        .message()
        .to_owned()
}

#[test]
fn parses_oidc_and_custom_jwt_providers() {
    let config = AuthConfig::from_json(&json!({"providers": [
        {"domain": "https://clerk.example.dev", "applicationID": "convex"},
        {"type": "oidc", "domain": "tenant.auth0.com", "applicationID": "convex"},
        {"type": "customJwt", "issuer": "https://api.workos.com/", "jwks": "https://api.workos.com/sso/jwks/c",
         "algorithm": "RS256", "applicationID": "c"},
        {"type": "customJwt", "issuer": "https://x", "jwks": "https://x/jwks", "algorithm": "ES256"},
    ]}))
    .unwrap();
    assert_eq!(config.providers().len(), 4);
    let AuthProvider::CustomJwt(custom) = &config.providers()[3] else {
        panic!()
    };
    assert_eq!(
        (custom.algorithm, custom.application_id.as_deref()),
        (Algorithm::Es256, None)
    );
    assert_eq!(
        config.to_app_auth_json(),
        json!([
            {"applicationID": "convex", "domain": "https://clerk.example.dev"},
            {"applicationID": "convex", "domain": "tenant.auth0.com"},
            {"type": "customJwt", "applicationID": "c", "issuer": "https://api.workos.com/",
             "jwks": "https://api.workos.com/sso/jwks/c", "algorithm": "RS256"},
            {"type": "customJwt", "applicationID": null, "issuer": "https://x",
             "jwks": "https://x/jwks", "algorithm": "ES256"},
        ])
    );
    // The stored appAuth form reads back to the same config.
    assert_eq!(
        AuthConfig::from_providers_json(&config.to_app_auth_json()).unwrap(),
        config
    );
}

#[test]
fn empty_provider_list_is_valid() {
    assert!(
        AuthConfig::from_json(&json!({"providers": []}))
            .unwrap()
            .providers()
            .is_empty()
    );
}

#[test]
fn bad_configs_are_refused_with_the_field_named() {
    let cases = [
        (
            json!([]),
            "auth config: the default export must be an object `{ providers: [...] }`",
        ),
        (
            json!({}),
            "auth config: missing `providers`; export `{ providers: [...] }`",
        ),
        (
            json!({"providers": {}}),
            "auth config: `providers` must be an array",
        ),
        (
            json!({"providers": [], "extra": 1}),
            "auth config: unknown field `extra`; the default export has only `providers`",
        ),
        (
            json!({"providers": [5]}),
            "auth config: providers[0]: a provider must be an object",
        ),
        (
            json!({"providers": [{"domain": "https://x"}]}),
            "auth config: providers[0]: missing `applicationID` (is an environment variable unset?)",
        ),
        (
            json!({"providers": [{"domain": "https://x", "applicationId": "a"}]}),
            "auth config: providers[0]: unknown field `applicationId` for an OIDC provider (expected `type`, `domain`, `applicationID`)",
        ),
        (
            json!({"providers": [{"domain": "", "applicationID": "a"}]}),
            "auth config: providers[0]: `domain` is empty",
        ),
        (
            json!({"providers": [{"domain": 7, "applicationID": "a"}]}),
            "auth config: providers[0]: `domain` must be a string",
        ),
        (
            json!({"providers": [{"domain": "ftp://x", "applicationID": "a"}]}),
            "auth config: providers[0]: `domain` \"ftp://x\" must be an http(s) URL",
        ),
        (
            json!({"providers": [{"type": "saml", "domain": "https://x", "applicationID": "a"}]}),
            "auth config: providers[0]: unknown provider `type` \"saml\"; use \"customJwt\", or omit `type` for an OIDC provider",
        ),
        (
            json!({"providers": [{"type": "customJwt", "issuer": "i", "jwks": "https://x", "algorithm": "HS256"}]}),
            "auth config: providers[0]: `algorithm` is \"HS256\"; Convex supports \"RS256\" and \"ES256\"",
        ),
        (
            json!({"providers": [{"type": "customJwt", "issuer": "i", "jwks": "https://x"}]}),
            "auth config: providers[0]: missing `algorithm` (is an environment variable unset?)",
        ),
        (
            json!({"providers": [{"type": "customJwt", "issuer": "i", "jwks": "file:///etc/jwks", "algorithm": "RS256"}]}),
            "auth config: providers[0]: `jwks` must be an http(s) URL or a data: URI",
        ),
        (
            json!({"providers": [{"type": "customJwt", "issuer": "i", "jwks": "data:application/json;base64,!!", "algorithm": "RS256"}]}),
            "auth config: providers[0]: `jwks` data URI: the data is not valid base64",
        ),
        (
            json!({"providers": [{"type": "customJwt", "issuer": "i", "jwks": "data:,{}", "algorithm": "RS256"}]}),
            "auth config: providers[0]: `jwks` data URI: the JWKS is not a JSON object with a `keys` array",
        ),
        (
            json!({"providers": [{"type": "customJwt", "issuer": "i", "jwks": "https://x", "algorithm": "RS256", "applicationID": 3}]}),
            "auth config: providers[0]: `applicationID` must be a string",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(error(value), expected);
    }
}

#[test]
fn bad_config_converts_to_a_bad_request() {
    let error: hull_errors::Error = AuthConfig::from_json(&json!({})).unwrap_err().into();
    assert_eq!(
        (error.code, error.short),
        (hull_errors::Code::BadRequest, "InvalidAuthConfig")
    );
}

#[test]
fn too_many_providers_are_refused() {
    let one = json!({"domain": "https://x", "applicationID": "a"});
    let many = vec![one; hull_auth::limits::AUTH_PROVIDERS_MAX + 1];
    assert_eq!(
        error(json!({ "providers": many })),
        "auth config: 65 providers, more than the limit of 64"
    );
}
