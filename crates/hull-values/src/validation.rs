//! Name rules and limit checks: what may be stored or sent.
//!
//! The rules come from `convex-wire-protocols.md` §2.2–2.3. Messages name the offending
//! thing, the actual number and the limit, in the wording Convex uses where it is known.

use hull_errors::{Error, Result};

use crate::id::DocumentId;
use crate::limits::{
    MAX_ARRAY_LEN, MAX_DOCUMENT_NESTING, MAX_FIELD_NAME_LEN, MAX_IDENTIFIER_LEN, MAX_OBJECT_FIELDS,
    MAX_USER_DOCUMENT_SIZE, MAX_VALUE_NESTING, MAX_VALUE_SIZE,
};
use crate::tags;
use crate::value::{Object, Value, object_nesting, object_size};

/// The system field holding the document's ID string.
pub const ID_FIELD: &str = "_id";
/// The system field holding the document's creation time (float64 ms since the epoch).
pub const CREATION_TIME_FIELD: &str = "_creationTime";

/// `_creationTime` must stay below 2^53 so it is an exact integer number of milliseconds
/// in a JS `number` (`crates/common/src/document.rs` validates the same range).
const MAX_CREATION_TIME_MS: f64 = 9_007_199_254_740_992.0;

/// Characters of a rejected name quoted in an error message; the rest is elided so that a
/// 1 MiB field name does not become a 1 MiB error message.
const NAME_PREVIEW_CHARS: usize = 64;

/// Checks a field name (spec §2.2): at most [`MAX_FIELD_NAME_LEN`] characters, no leading
/// `$`, only non-control ASCII (0x20–0x7E). The empty string is allowed.
///
/// This is the rule for every object field at any depth; documents add the top-level
/// underscore rule in [`check_user_document`].
pub fn check_field_name(name: &str) -> Result<()> {
    if name.len() > MAX_FIELD_NAME_LEN {
        return Err(Error::bad_request(
            tags::INVALID_FIELD_NAME,
            format!(
                "Field name '{}' is too long ({} > maximum length {MAX_FIELD_NAME_LEN})",
                preview(name),
                name.len()
            ),
        ));
    }
    if name.starts_with('$') {
        return Err(Error::bad_request(
            tags::INVALID_FIELD_NAME,
            format!(
                "Field name '{}' starts with a '$', which is reserved",
                preview(name)
            ),
        ));
    }
    if let Some(bad) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(Error::bad_request(
            tags::INVALID_FIELD_NAME,
            format!(
                "Field name '{}' has invalid character '{}': field names can only contain \
                 non-control ASCII characters",
                preview(name),
                bad.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// Checks an identifier: a table, index, function or component name (spec §2.2).
///
/// `[A-Za-z_][A-Za-z0-9_]*`, not only underscores, at most [`MAX_IDENTIFIER_LEN`] characters.
pub fn check_identifier(name: &str) -> Result<()> {
    let invalid = |message: String| Err(Error::bad_request(tags::INVALID_IDENTIFIER, message));
    let Some(first) = name.chars().next() else {
        return invalid("Identifier cannot be empty".to_string());
    };
    if name.len() > MAX_IDENTIFIER_LEN {
        return invalid(format!(
            "Identifier '{}' is too long ({} > maximum length {MAX_IDENTIFIER_LEN})",
            preview(name),
            name.len()
        ));
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return invalid(format!(
            "Identifier '{}' must start with a letter or underscore, but starts with '{}'",
            preview(name),
            first.escape_debug()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return invalid(format!(
            "Identifier '{}' has invalid character '{}': identifiers can only contain \
             letters, digits and underscores",
            preview(name),
            bad.escape_debug()
        ));
    }
    if name.bytes().all(|b| b == b'_') {
        return invalid(format!(
            "Identifier '{name}' cannot consist only of underscores"
        ));
    }
    Ok(())
}

/// Checks the generic limits every value must meet to be sent or stored: field names at
/// every depth, array lengths, object field counts, nesting at most [`MAX_VALUE_NESTING`]
/// and size at most [`MAX_VALUE_SIZE`].
///
/// [`Value::from_json`] applies the same checks while decoding; this is for values built
/// elsewhere (for example by the JS runtime).
pub fn check_value(value: &Value) -> Result<()> {
    // Nesting first: it bounds the recursion of the shape walk below.
    let nesting = value.nesting();
    if nesting > MAX_VALUE_NESTING {
        return Err(value_too_nested(nesting));
    }
    check_shape(value)?;
    let size = value.size();
    if size > MAX_VALUE_SIZE {
        return Err(value_too_large(size));
    }
    Ok(())
}

/// Checks a document as it will be stored; the system fields `_id` and `_creationTime` may
/// be present.
///
/// On top of [`check_value`]'s rules: no top-level field may start with `_` except the
/// system fields; `_id`, if present, must be a valid ID string and `_creationTime` a
/// float64 in (0, 2^53); nesting at most [`MAX_DOCUMENT_NESTING`] (the document object
/// counts as one level) and size at most [`MAX_USER_DOCUMENT_SIZE`], system fields included.
pub fn check_user_document(doc: &Object) -> Result<()> {
    let nesting = object_nesting(doc);
    if nesting > MAX_DOCUMENT_NESTING {
        return Err(Error::bad_request(
            tags::TOO_NESTED,
            format!(
                "Document is too nested (nested {nesting} levels deep > maximum nesting \
                 {MAX_DOCUMENT_NESTING})"
            ),
        ));
    }
    check_fields(doc)?;
    for (name, value) in doc {
        match name.as_str() {
            ID_FIELD => check_id_field(value)?,
            CREATION_TIME_FIELD => check_creation_time_field(value)?,
            _ if name.starts_with('_') => {
                return Err(Error::bad_request(
                    tags::INVALID_OBJECT_FIELD,
                    format!(
                        "Field '{}' starts with an underscore, which is only allowed for \
                         system fields like '_id'",
                        preview(name)
                    ),
                ));
            }
            _ => {}
        }
    }
    let size = object_size(doc);
    if size > MAX_USER_DOCUMENT_SIZE {
        return Err(Error::bad_request(
            tags::VALUE_TOO_LARGE,
            format!(
                "Document is too large ({size} bytes > maximum size {MAX_USER_DOCUMENT_SIZE} \
                 bytes)"
            ),
        ));
    }
    Ok(())
}

/// Array lengths, object field counts and field names, at every depth. Recurses once per
/// level, so callers bound the nesting first.
fn check_shape(value: &Value) -> Result<()> {
    match value {
        Value::Array(items) => {
            check_array_len(items.len())?;
            items.iter().try_for_each(check_shape)
        }
        Value::Object(fields) => check_fields(fields),
        _ => Ok(()),
    }
}

fn check_fields(fields: &Object) -> Result<()> {
    check_object_len(fields.len())?;
    for (name, value) in fields {
        check_field_name(name)?;
        check_shape(value)?;
    }
    Ok(())
}

fn check_id_field(value: &Value) -> Result<()> {
    let Value::String(id) = value else {
        return Err(Error::bad_request(
            tags::INVALID_SYSTEM_FIELD,
            format!(
                "System field '_id' must be a string, not {}",
                value.type_name()
            ),
        ));
    };
    DocumentId::decode(id).map(drop).map_err(|error| {
        Error::bad_request(
            tags::INVALID_SYSTEM_FIELD,
            format!("System field '_id' is not a document ID: {}", error.message),
        )
    })
}

fn check_creation_time_field(value: &Value) -> Result<()> {
    match value {
        Value::Float64(ms) if *ms > 0.0 && *ms < MAX_CREATION_TIME_MS => Ok(()),
        Value::Float64(ms) => Err(Error::bad_request(
            tags::INVALID_SYSTEM_FIELD,
            format!(
                "System field '_creationTime' must be milliseconds since the Unix epoch, \
                 greater than 0 and less than 2^53, not {ms}"
            ),
        )),
        _ => Err(Error::bad_request(
            tags::INVALID_SYSTEM_FIELD,
            format!(
                "System field '_creationTime' must be a float64, not {}",
                value.type_name()
            ),
        )),
    }
}

/// Shared by [`check_value`] and the JSON decoder so both report the same text.
pub(crate) fn check_array_len(len: usize) -> Result<()> {
    if len > MAX_ARRAY_LEN {
        return Err(Error::bad_request(
            tags::ARRAY_TOO_LONG,
            format!("Array length is too long ({len} > maximum length {MAX_ARRAY_LEN})"),
        ));
    }
    Ok(())
}

/// Shared by [`check_value`] and the JSON decoder so both report the same text.
pub(crate) fn check_object_len(len: usize) -> Result<()> {
    if len > MAX_OBJECT_FIELDS {
        return Err(Error::bad_request(
            tags::TOO_MANY_FIELDS,
            format!("Object has too many fields ({len} > maximum number {MAX_OBJECT_FIELDS})"),
        ));
    }
    Ok(())
}

pub(crate) fn value_too_nested(nesting: usize) -> Error {
    Error::bad_request(
        tags::TOO_NESTED,
        format!(
            "Value is too nested (nested {nesting} levels deep > maximum nesting {MAX_VALUE_NESTING})"
        ),
    )
}

pub(crate) fn value_too_large(size: usize) -> Error {
    Error::bad_request(
        tags::VALUE_TOO_LARGE,
        format!("Value is too large ({size} bytes > maximum size {MAX_VALUE_SIZE} bytes)"),
    )
}

/// The start of `name`, escaped so control characters are visible, for error messages.
fn preview(name: &str) -> String {
    let mut chars = name.chars();
    let head: String = chars.by_ref().take(NAME_PREVIEW_CHARS).collect();
    let tail = if chars.next().is_some() { "..." } else { "" };
    format!("{}{tail}", head.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["a", "_a", "users", "A_1", "_1", &"x".repeat(64)] {
            assert!(check_identifier(ok).is_ok(), "{ok}");
        }
        for bad in ["", "_", "___", "1a", "a-b", "a b", "é", &"x".repeat(65)] {
            let error = check_identifier(bad).unwrap_err();
            assert_eq!(error.short, tags::INVALID_IDENTIFIER, "{bad}");
        }
    }

    #[test]
    fn preview_elides_long_names() {
        assert_eq!(preview("a\u{1}"), "a\\u{1}");
        assert_eq!(preview(&"y".repeat(100)), format!("{}...", "y".repeat(64)));
    }
}
