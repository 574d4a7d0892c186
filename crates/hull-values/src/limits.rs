//! Value limits, with the values Convex uses.
//!
//! Each constant names the upstream file that defines it (upstream convex-backend at commit
//! `94a42c3`, as summarised in `shared/reference/convex-wire-protocols.md` §2.2–2.3), so a
//! reader can grep for the counterpart. Compile-time assertions at the bottom pin the
//! relationships the validation code relies on.

/// Largest [`Value::size`](crate::Value::size) of any value: 32 MiB.
///
/// Upstream: `crates/value/src/size.rs`. Applies to everything that is decoded from Convex
/// JSON; documents have the much smaller [`MAX_USER_DOCUMENT_SIZE`].
pub const MAX_VALUE_SIZE: usize = 1 << 25;

/// Deepest [`Value::nesting`](crate::Value::nesting) of any value: 64 levels of arrays/objects.
///
/// Upstream: `crates/value/src/size.rs`. Also bounds the recursion of every decoder in this
/// crate, so hostile input cannot overflow the stack.
pub const MAX_VALUE_NESTING: usize = 64;

/// Most elements in one array: 8192.
///
/// Upstream: `crates/value/src/array.rs`.
pub const MAX_ARRAY_LEN: usize = 8192;

/// Most fields in one object: 1024.
///
/// Upstream: `crates/value/src/object.rs`.
pub const MAX_OBJECT_FIELDS: usize = 1024;

/// Longest field name, in bytes (field names are ASCII, so also characters): 1024.
///
/// Upstream: `crates/convex/sync_types/src/identifier.rs` (`check_valid_field_name`); the JS
/// client's `validateObjectField` (`values/value.ts`) uses the same number.
pub const MAX_FIELD_NAME_LEN: usize = 1024;

/// Longest identifier (table, index, function and component names): 64 characters.
///
/// Upstream: `crates/convex/sync_types/src/identifier.rs` (`check_valid_identifier`).
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// Largest stored document, system fields included: 1 MiB.
///
/// Upstream: `crates/common/src/document.rs` (`MAX_USER_SIZE`).
pub const MAX_USER_DOCUMENT_SIZE: usize = 1 << 20;

/// Deepest stored document: 16 levels (the document object itself counts as one).
///
/// Upstream: `crates/common/src/document.rs` (`MAX_DOCUMENT_NESTING`).
pub const MAX_DOCUMENT_NESTING: usize = 16;

// Documents are values, so their limits must be the tighter ones; `check_user_document`
// relies on the generic checks never firing first with a more confusing message.
const _: () = assert!(MAX_USER_DOCUMENT_SIZE <= MAX_VALUE_SIZE);
const _: () = assert!(MAX_DOCUMENT_NESTING <= MAX_VALUE_NESTING);
// Identifiers are a subset of field names.
const _: () = assert!(MAX_IDENTIFIER_LEN <= MAX_FIELD_NAME_LEN);
