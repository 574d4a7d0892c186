//! [`UserIdentity`]: what `ctx.auth.getUserIdentity()` returns, built from verified claims.
//!
//! The mapping follows the `UserIdentity` interface in `convex/server`'s `authentication.ts`
//! and the Convex auth docs:
//! - `tokenIdentifier` is `iss|sub`, `subject` is `sub`, `issuer` is `iss`;
//! - the standard OIDC profile claims become camelCase fields (`given_name` → `givenName`,
//!   `picture` → `pictureUrl`, `birthdate` → `birthday`, `zoneinfo` → `timezone`,
//!   `locale` → `language`, …);
//! - the registered JWT claims (`aud`, `exp`, `iat`, `nbf`, `jti`) are dropped;
//! - every other claim is a custom claim. For OIDC providers it is passed through with its
//!   JSON value. For `customJwt` providers nested objects are flattened into dotted keys, as
//!   the custom-JWT docs describe (`{"properties": {"id": "123"}}` gives
//!   `identity["properties.id"] === "123"`);
//! - a custom claim can never replace a standard field (a token claiming `"subject": "admin"`
//!   does not change `subject`).

use serde_json::{Map, Value};

use crate::error::{AuthError, AuthErrorKind, TOKEN_EXPIRED};

/// A verified end user.
#[derive(Clone, Debug, PartialEq)]
pub struct UserIdentity {
    token_identifier: String,
    subject: String,
    issuer: String,
    /// Profile and custom claims, keyed by their `UserIdentity` field names.
    attributes: Map<String, Value>,
    /// The token's `exp`, in seconds since the Unix epoch.
    expires_at_seconds: u64,
}

/// How a standard claim's value is checked and converted.
#[derive(Clone, Copy)]
enum Shape {
    String,
    Boolean,
    /// `address`: an OIDC address object, given to JS as its JSON text.
    Address,
    /// `updated_at`: seconds since the epoch in OIDC, given to JS as an RFC 3339 string.
    Timestamp,
}

/// (JWT claim, `UserIdentity` field, shape), in the interface's order.
const STANDARD_CLAIMS: [(&str, &str, Shape); 17] = [
    ("name", "name", Shape::String),
    ("given_name", "givenName", Shape::String),
    ("family_name", "familyName", Shape::String),
    ("nickname", "nickname", Shape::String),
    ("preferred_username", "preferredUsername", Shape::String),
    ("profile", "profileUrl", Shape::String),
    ("picture", "pictureUrl", Shape::String),
    ("email", "email", Shape::String),
    ("email_verified", "emailVerified", Shape::Boolean),
    ("gender", "gender", Shape::String),
    ("birthdate", "birthday", Shape::String),
    ("zoneinfo", "timezone", Shape::String),
    ("locale", "language", Shape::String),
    ("phone_number", "phoneNumber", Shape::String),
    (
        "phone_number_verified",
        "phoneNumberVerified",
        Shape::Boolean,
    ),
    ("address", "address", Shape::Address),
    ("updated_at", "updatedAt", Shape::Timestamp),
];

/// Registered claims that are consumed by verification and not shown to functions.
const DROPPED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"];

/// Field names a custom claim may not take.
const RESERVED_FIELDS: [&str; 3] = ["tokenIdentifier", "subject", "issuer"];

/// How custom claims are laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CustomClaims {
    /// OIDC: each claim as it is.
    AsIs,
    /// customJwt: nested objects flattened into `a.b` keys.
    Flattened,
}

impl UserIdentity {
    /// Builds the identity from claims whose signature, issuer, audience and times were
    /// already checked. `Err` is the message for a standard claim of the wrong type.
    pub(crate) fn from_claims(
        subject: String,
        issuer: String,
        expires_at_seconds: u64,
        claims: &Map<String, Value>,
        custom: CustomClaims,
    ) -> Result<UserIdentity, String> {
        let mut attributes = Map::new();
        for (claim, field, shape) in STANDARD_CLAIMS {
            if let Some(value) = claims.get(claim).filter(|v| !v.is_null()) {
                let converted = convert(value, shape)
                    .ok_or_else(|| format!("claim `{claim}` has the wrong type"))?;
                attributes.insert(field.to_owned(), converted);
            }
        }
        for (claim, value) in claims {
            if DROPPED_CLAIMS.contains(&claim.as_str())
                || STANDARD_CLAIMS.iter().any(|(name, _, _)| name == claim)
            {
                continue;
            }
            match (custom, value) {
                (CustomClaims::Flattened, Value::Object(nested)) => {
                    flatten_into(&mut attributes, claim, nested);
                }
                _ => insert_custom(&mut attributes, claim.clone(), value.clone()),
            }
        }
        let token_identifier = format!("{issuer}|{subject}");
        Ok(UserIdentity {
            token_identifier,
            subject,
            issuer,
            attributes,
            expires_at_seconds,
        })
    }

    /// An identity an admin acts as (`Authorization: Convex <key>:<base64 JSON>`, WebSocket
    /// `Authenticate{tokenType: "Admin", impersonating}`, `npx convex run --identity`), or one
    /// stored with [`UserIdentity::to_json`]: a `UserIdentityAttributes` object with string
    /// `subject` and `issuer`, an optional `tokenIdentifier` (default `issuer|subject`, as the
    /// CLI computes it) and any other fields, kept as given. It never expires.
    pub fn from_attributes_json(value: &Value) -> Result<UserIdentity, AuthError> {
        let invalid = |detail: &str| {
            AuthError::invalid_header(format!("Could not parse the acting-as identity: {detail}"))
        };
        let Value::Object(object) = value else {
            return Err(invalid("it must be a JSON object"));
        };
        let text = |field: &str| match object.get(field) {
            Some(Value::String(text)) => Ok(Some(text.clone())),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(invalid(&format!("`{field}` must be a string"))),
        };
        let subject = text("subject")?.ok_or_else(|| invalid("`subject` is missing"))?;
        let issuer = text("issuer")?.ok_or_else(|| invalid("`issuer` is missing"))?;
        let token_identifier =
            text("tokenIdentifier")?.unwrap_or_else(|| format!("{issuer}|{subject}"));
        let attributes = object
            .iter()
            .filter(|(key, _)| !RESERVED_FIELDS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(UserIdentity {
            token_identifier,
            subject,
            issuer,
            attributes,
            expires_at_seconds: u64::MAX,
        })
    }

    /// `iss|sub` for verified tokens: stable and unique across providers.
    pub fn token_identifier(&self) -> &str {
        &self.token_identifier
    }

    /// The token's `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The token's `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A profile or custom field by its `UserIdentity` name (e.g. `givenName`,
    /// `properties.id`).
    pub fn attribute(&self, field: &str) -> Option<&Value> {
        self.attributes.get(field)
    }

    /// The token's `exp`, in seconds since the Unix epoch (`u64::MAX` for an acting-as
    /// identity).
    pub fn expires_at_seconds(&self) -> u64 {
        self.expires_at_seconds
    }

    /// `Err(TokenExpired)` once the token's `exp` has passed (no clock skew: the token was
    /// accepted with skew already). For sessions that keep an identity across requests.
    pub fn check_unexpired(&self, now_seconds: u64) -> Result<(), AuthError> {
        if now_seconds <= self.expires_at_seconds {
            return Ok(());
        }
        Err(AuthError::new(
            AuthErrorKind::InvalidToken,
            TOKEN_EXPIRED,
            format!(
                "Token expired {} seconds ago",
                now_seconds - self.expires_at_seconds
            ),
        ))
    }

    /// The object `ctx.auth.getUserIdentity()` resolves to.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert(
            "tokenIdentifier".into(),
            Value::String(self.token_identifier.clone()),
        );
        object.insert("subject".into(), Value::String(self.subject.clone()));
        object.insert("issuer".into(), Value::String(self.issuer.clone()));
        for (field, value) in &self.attributes {
            object.insert(field.clone(), value.clone());
        }
        Value::Object(object)
    }
}

fn convert(value: &Value, shape: Shape) -> Option<Value> {
    match (shape, value) {
        (Shape::String, Value::String(_)) | (Shape::Boolean, Value::Bool(_)) => Some(value.clone()),
        // Some providers (AWS Cognito among them) send the *_verified claims as strings.
        (Shape::Boolean, Value::String(text)) if text == "true" || text == "false" => {
            Some(Value::Bool(text == "true"))
        }
        (Shape::Address, Value::String(_)) => Some(value.clone()),
        (Shape::Address, Value::Object(_)) => Some(Value::String(value.to_string())),
        (Shape::Timestamp, Value::String(_)) => Some(value.clone()),
        (Shape::Timestamp, Value::Number(number)) => {
            let seconds = number
                .as_i64()
                .or_else(|| number.as_f64().map(|f| f as i64))?;
            Some(Value::String(rfc3339(seconds)?))
        }
        _ => None,
    }
}

fn insert_custom(attributes: &mut Map<String, Value>, key: String, value: Value) {
    let taken = RESERVED_FIELDS.contains(&key.as_str())
        || STANDARD_CLAIMS.iter().any(|(_, field, _)| *field == key)
        || attributes.contains_key(&key);
    if !taken {
        attributes.insert(key, value);
    }
}

fn flatten_into(attributes: &mut Map<String, Value>, prefix: &str, nested: &Map<String, Value>) {
    for (key, value) in nested {
        let path = format!("{prefix}.{key}");
        match value {
            Value::Object(deeper) => flatten_into(attributes, &path, deeper),
            _ => insert_custom(attributes, path, value.clone()),
        }
    }
}

/// `seconds` since the epoch as `YYYY-MM-DDTHH:MM:SSZ`; `None` outside years 0–9999.
fn rfc3339(seconds: i64) -> Option<String> {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert!(rfc3339(i64::MAX / 2).is_none());
    }
}
