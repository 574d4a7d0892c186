//! The `short` tags of the errors this crate returns, for callers and tests to match on.
//!
//! Where Convex has a tag for the same failure (per `convex-wire-protocols.md` §2.3) the
//! same string is used; the others are Hull's, in the same CamelCase style.

/// A value or document is larger than its size limit (Convex's tag).
pub const VALUE_TOO_LARGE: &str = "ValueTooLargeError";
/// A value or document nests arrays/objects deeper than its limit (Convex's tag).
pub const TOO_NESTED: &str = "TooNestedError";
/// An array has more than [`MAX_ARRAY_LEN`](crate::MAX_ARRAY_LEN) elements.
pub const ARRAY_TOO_LONG: &str = "ArrayTooLongError";
/// An object has more than [`MAX_OBJECT_FIELDS`](crate::MAX_OBJECT_FIELDS) fields.
pub const TOO_MANY_FIELDS: &str = "TooManyFieldsError";
/// A field name breaks the field-name rules (`$` prefix, control or non-ASCII
/// characters, too long).
pub const INVALID_FIELD_NAME: &str = "InvalidFieldName";
/// A document has a top-level user field starting with `_`.
pub const INVALID_OBJECT_FIELD: &str = "InvalidObjectField";
/// A document's `_id` or `_creationTime` has the wrong type or an impossible value.
pub const INVALID_SYSTEM_FIELD: &str = "InvalidSystemField";
/// A table, index or function name breaks the identifier rules.
pub const INVALID_IDENTIFIER: &str = "InvalidIdentifier";
/// A string is not a valid document ID.
pub const INVALID_ID: &str = "InvalidId";
/// JSON that is not valid Convex JSON (a malformed `$integer`, `$float` or `$bytes`, or a
/// retired type such as `$set`).
pub const INVALID_CONVEX_JSON: &str = "InvalidConvexJson";
/// Index-key bytes that are not a canonical sort-key encoding. This means stored data is
/// corrupt, so these errors carry `Code::Internal`.
pub const INVALID_SORT_KEY: &str = "InvalidSortKey";
