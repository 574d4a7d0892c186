//! The deployment's auth providers: what `auth.config.js`'s default export evaluates to.
//!
//! Accepted shapes (the `AuthConfig` / `AuthProvider` types in `convex/server`'s
//! `authentication.ts`):
//!
//! ```text
//! { providers: [
//!     { domain, applicationID, type?: "oidc" },                           // OIDC
//!     { type: "customJwt", issuer, jwks, algorithm, applicationID? },     // custom JWT
//! ] }
//! ```
//!
//! Unknown fields are rejected rather than ignored: a misspelt `applicationId` on a
//! `customJwt` provider would otherwise silently turn off the audience check.

use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::jwks::{Algorithm, KeySet};
use crate::jwt::b64url_decode;
use crate::limits::AUTH_PROVIDERS_MAX;

/// The validated provider list.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AuthConfig {
    providers: Vec<AuthProvider>,
}

/// One provider allowed to issue tokens for the deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthProvider {
    /// An OpenID Connect provider: keys found through `<domain>/.well-known/openid-configuration`.
    Oidc(OidcProvider),
    /// A provider that only issues JWTs, with an explicit JWKS location and algorithm.
    CustomJwt(CustomJwtProvider),
}

/// `{domain, applicationID}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcProvider {
    /// The domain as configured (e.g. `https://tenant.auth0.com/`).
    pub domain: String,
    /// Must be the token's audience.
    pub application_id: String,
}

/// `{type: "customJwt", issuer, jwks, algorithm, applicationID?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomJwtProvider {
    /// Must equal the token's `iss` exactly.
    pub issuer: String,
    /// The JWKS URL or `data:` URI, as configured.
    pub jwks: String,
    /// The only algorithm tokens from this provider may use.
    pub algorithm: Algorithm,
    /// When set, must be one of the token's audiences.
    pub application_id: Option<String>,
    /// The key set when `jwks` is a `data:` URI (decoded once, at push time).
    pub(crate) inline_keys: Option<KeySet>,
}

impl AuthConfig {
    /// A config with no providers: every token is refused with `NoAuthProvider`.
    pub fn empty() -> AuthConfig {
        AuthConfig::default()
    }

    /// Parses the JSON of `auth.config.js`'s default export (`{providers: [...]}`).
    pub fn from_json(value: &Value) -> Result<AuthConfig, ConfigError> {
        let object = value.as_object().ok_or_else(|| {
            ConfigError::new(
                "auth config: the default export must be an object `{ providers: [...] }`",
            )
        })?;
        if let Some(key) = object.keys().find(|key| *key != "providers") {
            return Err(ConfigError::new(format!(
                "auth config: unknown field `{key}`; the default export has only `providers`"
            )));
        }
        let providers = object.get("providers").ok_or_else(|| {
            ConfigError::new("auth config: missing `providers`; export `{ providers: [...] }`")
        })?;
        AuthConfig::from_providers_json(providers)
    }

    /// Parses a provider array: the inside of `providers`, or the `appAuth` list a push
    /// response carries and Hull stores (where a missing `applicationID` is `null`).
    pub fn from_providers_json(value: &Value) -> Result<AuthConfig, ConfigError> {
        let list = value
            .as_array()
            .ok_or_else(|| ConfigError::new("auth config: `providers` must be an array"))?;
        if list.len() > AUTH_PROVIDERS_MAX {
            return Err(ConfigError::new(format!(
                "auth config: {} providers, more than the limit of {AUTH_PROVIDERS_MAX}",
                list.len()
            )));
        }
        let providers = list
            .iter()
            .enumerate()
            .map(|(index, provider)| {
                parse_provider(provider)
                    .map_err(|e| ConfigError::new(format!("auth config: providers[{index}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AuthConfig { providers })
    }

    /// The providers, in configuration order (the order tokens are matched in).
    pub fn providers(&self) -> &[AuthProvider] {
        &self.providers
    }

    /// The `appAuth` JSON of a push response: `{applicationID, domain}` for OIDC and
    /// `{type: "customJwt", applicationID: null | "…", issuer, jwks, algorithm}`.
    pub fn to_app_auth_json(&self) -> Value {
        let providers = self.providers.iter().map(|provider| match provider {
            AuthProvider::Oidc(p) => serde_json::json!({
                "applicationID": p.application_id,
                "domain": p.domain,
            }),
            AuthProvider::CustomJwt(p) => serde_json::json!({
                "type": "customJwt",
                "applicationID": p.application_id,
                "issuer": p.issuer,
                "jwks": p.jwks,
                "algorithm": p.algorithm.name(),
            }),
        });
        Value::Array(providers.collect())
    }
}

fn parse_provider(value: &Value) -> Result<AuthProvider, String> {
    let object = value.as_object().ok_or("a provider must be an object")?;
    match object.get("type") {
        None => parse_oidc(object),
        Some(Value::String(kind)) if kind == "oidc" => parse_oidc(object),
        Some(Value::String(kind)) if kind == "customJwt" => parse_custom_jwt(object),
        Some(other) => Err(format!(
            "unknown provider `type` {other}; use \"customJwt\", or omit `type` for an OIDC provider"
        )),
    }
}

fn check_fields(object: &Map<String, Value>, allowed: &[&str], kind: &str) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "unknown field `{key}` for {kind} provider (expected {})",
            allowed
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => Ok(()),
    }
}

fn required_string(object: &Map<String, Value>, field: &str) -> Result<String, String> {
    match object.get(field) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(format!("`{field}` is empty")),
        Some(_) => Err(format!("`{field}` must be a string")),
        None => Err(format!(
            "missing `{field}` (is an environment variable unset?)"
        )),
    }
}

fn parse_oidc(object: &Map<String, Value>) -> Result<AuthProvider, String> {
    check_fields(object, &["type", "domain", "applicationID"], "an OIDC")?;
    let domain = required_string(object, "domain")?;
    let application_id = required_string(object, "applicationID")?;
    let url = url::Url::parse(&oidc_issuer(&domain))
        .map_err(|e| format!("`domain` {domain:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`domain` {domain:?} must be an http(s) URL"));
    }
    Ok(AuthProvider::Oidc(OidcProvider {
        domain,
        application_id,
    }))
}

fn parse_custom_jwt(object: &Map<String, Value>) -> Result<AuthProvider, String> {
    check_fields(
        object,
        &["type", "issuer", "jwks", "algorithm", "applicationID"],
        "a customJwt",
    )?;
    let issuer = required_string(object, "issuer")?;
    let jwks = required_string(object, "jwks")?;
    let algorithm_name = required_string(object, "algorithm")?;
    let algorithm = Algorithm::from_name(&algorithm_name).ok_or_else(|| {
        format!("`algorithm` is {algorithm_name:?}; Convex supports \"RS256\" and \"ES256\"")
    })?;
    let application_id = match object.get("applicationID") {
        None | Some(Value::Null) => None,
        Some(_) => Some(required_string(object, "applicationID")?),
    };
    let inline_keys = if jwks.starts_with("data:") {
        let document = parse_data_uri(&jwks).map_err(|e| format!("`jwks` data URI: {e}"))?;
        let json: Value = serde_json::from_slice(&document)
            .map_err(|e| format!("`jwks` data URI is not JSON: {e}"))?;
        Some(KeySet::parse(&json).map_err(|e| format!("`jwks` data URI: {e}"))?)
    } else {
        let url = url::Url::parse(&jwks).map_err(|e| format!("`jwks` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("`jwks` must be an http(s) URL or a data: URI".into());
        }
        None
    };
    Ok(AuthProvider::CustomJwt(CustomJwtProvider {
        issuer,
        jwks,
        algorithm,
        application_id,
        inline_keys,
    }))
}

/// The issuer an OIDC `domain` stands for: `https://` added when no scheme is given, trailing
/// slashes dropped (Auth0's `iss` ends in `/`, its documented `domain` does not).
pub(crate) fn oidc_issuer(domain: &str) -> String {
    let with_scheme = if domain.contains("://") {
        domain.to_owned()
    } else {
        format!("https://{domain}")
    };
    with_scheme.trim_end_matches('/').to_owned()
}

/// Decodes the payload of a `data:[<media type>][;base64],<data>` URI (RFC 2397).
pub(crate) fn parse_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    let rest = uri.strip_prefix("data:").ok_or("not a data: URI")?;
    let (meta, data) = rest.split_once(',').ok_or("missing `,` before the data")?;
    if meta.rsplit(';').next() == Some("base64") {
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let compact = percent_decode(&compact)?;
        let text = String::from_utf8(compact).map_err(|_| "the base64 data is not ASCII")?;
        use base64::Engine as _;
        const STANDARD_ANY_PADDING: base64::engine::GeneralPurpose =
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
        STANDARD_ANY_PADDING
            .decode(&text)
            .or_else(|_| b64url_decode(&text))
            .map_err(|_| "the data is not valid base64".to_owned())
    } else {
        percent_decode(data)
    }
}

fn percent_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("truncated %-escape")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}
