//! Who is calling: the `Authorization` header (or `?adminKey=`), read as upstream's
//! `authentication.rs` does (wire protocols §5.4, §7.2).

use axum::http::{header, HeaderMap, Uri};
use base64::Engine as _;
use hull_app::{Application, Caller, RequestOrigin, UserIdentity};
use hull_errors::{Code, Error, Result};

/// Length of the scheme prefix (`Convex ` / `Bearer `); a header no longer than this is
/// malformed.
const SCHEME_LEN: usize = 7;

/// What a request presents before its admin key is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing.
    None,
    /// `Convex <key>[:<base64 identity>]` or `?adminKey=<key>`.
    AdminKey {
        /// The key, with any `type:` prefix.
        key: String,
        /// The base64 identity after the key, when acting as a user.
        acting_as: Option<String>,
    },
    /// `Bearer <JWT>`: an end user's token from a provider of `auth.config.js`.
    User {
        /// The JWT.
        token: String,
    },
}

/// Reads the credentials of a request: `Convex` (admin and server keys), `Bearer` (user JWTs);
/// other schemes get upstream's 400 `InvalidAdminKey` (sic).
pub fn credentials(headers: &HeaderMap, uri: &Uri) -> Result<Credentials> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(admin_key_query(uri).map_or(Credentials::None, |key| split_admin_key(&key)));
    };
    let value = value
        .to_str()
        .map_err(|_| Error::bad_request("InvalidHeaderFailure", "The Authorization header is not valid UTF-8."))?;
    if value.len() <= SCHEME_LEN || !value.is_char_boundary(SCHEME_LEN) {
        return Err(Error::bad_request("InvalidHeaderFailure", "The Authorization header is too short to hold credentials."));
    }
    let (scheme, rest) = value.split_at(SCHEME_LEN);
    if scheme.eq_ignore_ascii_case("convex ") {
        return Ok(split_admin_key(rest.trim()));
    }
    if scheme.eq_ignore_ascii_case("bearer ") {
        return Ok(Credentials::User { token: rest.trim().to_owned() });
    }
    Err(Error::bad_request("InvalidAdminKey", "Invalid admin key"))
}

/// Splits `key[:identity]`. The identity separator is the first `:` after the `|` that ends the
/// key's instance name, so a `prod:`-style prefix before the name stays part of the key.
fn split_admin_key(value: &str) -> Credentials {
    let search_from = value.find('|').unwrap_or(0);
    match value[search_from..].find(':') {
        Some(offset) => {
            let (key, identity) = value.split_at(search_from + offset);
            Credentials::AdminKey { key: key.to_owned(), acting_as: Some(identity[1..].to_owned()) }
        }
        None => Credentials::AdminKey { key: value.to_owned(), acting_as: None },
    }
}

fn admin_key_query(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "adminKey").then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+` (admin keys are hex and `|`, which clients may escape).
pub(crate) fn percent_decode(text: &str) -> String {
    let hex = |byte: u8| (byte as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte as u8);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, other) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Refuses callers without a valid admin key: 403 `BadDeployKey` without one (upstream's
/// `must_be_admin`), 401 `BadAdminKey` for a wrong one. Server keys are never admin keys, so
/// they can not push, change environment variables, read logs or mint keys.
pub fn require_admin(application: &Application, headers: &HeaderMap, uri: &Uri) -> Result<()> {
    match credentials(headers, uri)? {
        Credentials::AdminKey { key, .. } => application.check_admin_key(&key),
        Credentials::None | Credentials::User { .. } => {
            Err(Error::new(Code::Forbidden, "BadDeployKey", hull_app::NOT_ADMIN_MESSAGE))
        }
    }
}

/// The peer address of a request, when the server was started with connect info (it always is;
/// routers driven directly in tests are not).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> std::result::Result<Peer, Self::Rejection> {
        let info = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Peer(info.map(|info| info.0)))
    }
}

/// The caller of an HTTP request: its credentials, checked, with where it came from. A user
/// token is verified on a blocking thread (it may fetch the provider's keys).
pub async fn request_caller(application: &Application, headers: &HeaderMap, uri: &Uri, peer: Peer) -> Result<Caller> {
    let credentials = credentials(headers, uri)?;
    let origin = request_origin(headers, peer.0);
    if let Credentials::User { .. } = credentials {
        let application = application.clone();
        return tokio::task::spawn_blocking(move || caller(&application, credentials, &origin))
            .await
            .map_err(|_| Error::internal("AuthPanicked", "verifying a user token panicked"))?;
    }
    caller(application, credentials, &origin)
}

/// Where a request comes from: its peer address, and whether a browser sent it.
pub fn request_origin(headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> RequestOrigin {
    RequestOrigin::from_headers(headers.keys().map(|name| name.as_str()), peer.map(|addr| addr.to_string()))
}

/// The caller the credentials prove: admin keys are checked against the application (401
/// `BadAdminKey` when wrong) and acting-as identities decoded (400 `HeaderParseFailure` when
/// malformed).
pub fn caller(application: &Application, credentials: Credentials, origin: &RequestOrigin) -> Result<Caller> {
    match credentials {
        Credentials::None => Ok(Caller::Anonymous),
        Credentials::User { token } => application.user_caller(&token),
        Credentials::AdminKey { key, acting_as } => {
            let acting_as = acting_as.map(|encoded| decode_identity(&encoded)).transpose()?;
            admin_token_caller(application, &key, acting_as, origin)
        }
    }
}

/// The caller an admin-style credential proves, from HTTP (`Authorization: Convex ...`) or a
/// sync `Authenticate` with `tokenType: "Admin"`.
pub fn admin_token_caller(
    application: &Application,
    key: &str,
    acting_as: Option<UserIdentity>,
    origin: &RequestOrigin,
) -> Result<Caller> {
    let acting_as = acting_as.map(|identity| UserIdentity::from_attributes(identity.0)).transpose()?;
    if let Some(caller) = application.server_key_caller(key, acting_as.clone(), origin)? {
        return Ok(caller);
    }
    application.check_admin_key(key)?;
    Ok(Caller::Admin { acting_as })
}

/// Decodes the acting-as identity of `Convex <key>:<identity>`: base64 of a JSON object.
pub fn decode_identity(encoded: &str) -> Result<UserIdentity> {
    let invalid = |detail: String| {
        Error::bad_request("HeaderParseFailure", format!("The acting-as identity in the Authorization header is invalid: {detail}"))
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| invalid(format!("not base64 ({e})")))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(attributes)) => Ok(UserIdentity(attributes)),
        Ok(_) => Err(invalid("not a JSON object".into())),
        Err(e) => Err(invalid(format!("not JSON ({e})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(authorization: Option<&str>, uri: &str) -> Result<Credentials> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        }
        credentials(&headers, &uri.parse().unwrap())
    }

    fn admin(key: &str, acting_as: Option<&str>) -> Credentials {
        Credentials::AdminKey { key: key.into(), acting_as: acting_as.map(str::to_owned) }
    }

    #[test]
    fn admin_keys_come_from_the_header_or_the_query() {
        assert_eq!(read(None, "/api/query").unwrap(), Credentials::None);
        assert_eq!(read(Some("Convex app|00ff"), "/").unwrap(), admin("app|00ff", None));
        assert_eq!(read(Some("convex app|00ff"), "/").unwrap(), admin("app|00ff", None));
        assert_eq!(read(Some("Convex prod:app|00ff:eyJ9"), "/").unwrap(), admin("prod:app|00ff", Some("eyJ9")));
        assert_eq!(read(None, "/x?a=1&adminKey=app%7C00ff").unwrap(), admin("app|00ff", None));
    }

    #[test]
    fn bearer_is_a_user_token_and_other_schemes_are_refused_with_upstream_codes() {
        assert_eq!(read(Some("Bearer eyJhbGciOi"), "/").unwrap(), Credentials::User { token: "eyJhbGciOi".into() });
        assert_eq!(read(Some("Basic dXNlcjpwYXNz"), "/").unwrap_err().short, "InvalidAdminKey");
        assert_eq!(read(Some("Convex "), "/").unwrap_err().short, "InvalidHeaderFailure");
    }

    #[test]
    fn browsers_are_told_apart_from_node_servers() {
        let origin_of = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            request_origin(&headers, None).from_browser
        };
        // What Node's fetch (ConvexHttpClient on a server) sends.
        assert!(!origin_of(&[("sec-fetch-mode", "cors"), ("user-agent", "node")]));
        assert!(origin_of(&[("origin", "http://localhost:5173")]));
        assert!(origin_of(&[("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "cors")]));
        assert!(origin_of(&[("sec-fetch-dest", "empty")]));
    }

    #[test]
    fn identities_must_be_base64_json_objects() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(br#"{"subject":"u1"}"#);
        assert_eq!(decode_identity(&encoded).unwrap().0["subject"], "u1");
        for bad in ["%%%", &base64::engine::general_purpose::STANDARD.encode("[1]")] {
            assert_eq!(decode_identity(bad).unwrap_err().short, "HeaderParseFailure");
        }
    }
}
