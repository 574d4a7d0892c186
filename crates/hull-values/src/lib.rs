//! `hull-values`: Convex values and everything that is a pure function of them.
//!
//! This crate owns the value model ([`Value`], [`Object`] and Convex's total order over
//! them), Convex JSON ([`Value::from_json`], [`Value::to_json`]), the value limits
//! ([`limits`]) and name rules, the order-preserving index-key encoding ([`sort_key`],
//! [`decode_sort_key`]) and document IDs ([`DocumentId`]).
//!
//! Key decision: one order, three representations that agree with it. `Value`'s `Ord`
//! *is* index order, and the sort-key bytes compare exactly like the values they encode
//! (property-tested), so storage can keep index entries as plain byte strings while the
//! query layer reasons about values. Likewise `from_json` validates while it decodes, so a
//! `Value` that came off the wire already meets the generic limits.
//!
//! ```
//! use hull_values::{Value, sort_key};
//!
//! let (one, half) = (Value::Int64(1), Value::Float64(0.5));
//! assert!(one < half); // the type decides: every int64 sorts before every float64
//! assert!(sort_key(&[Some(&one)]) < sort_key(&[Some(&half)]));
//! let json = serde_json::json!({"$integer": "AQAAAAAAAAA="});
//! assert_eq!(Value::from_json(&json)?, one);
//! # Ok::<(), hull_errors::Error>(())
//! ```
//!
//! Architecture invariant: this crate knows nothing about storage, JS or HTTP. It turns
//! bytes and JSON into values and back, and says whether a value is acceptable; deciding
//! where values live or travel is the business of the crates above it.
#![deny(missing_docs)]

mod id;
mod json;
pub mod limits;
mod sorting;
pub mod tags;
mod validation;
mod value;

pub use id::{DocumentId, ID_STRING_LEN_MAX, ID_STRING_LEN_MIN, new_internal_id};
pub use limits::{
    MAX_ARRAY_LEN, MAX_DOCUMENT_NESTING, MAX_FIELD_NAME_LEN, MAX_IDENTIFIER_LEN, MAX_OBJECT_FIELDS,
    MAX_USER_DOCUMENT_SIZE, MAX_VALUE_NESTING, MAX_VALUE_SIZE,
};
pub use sorting::{decode_sort_key, sort_key, write_sort_key};
pub use validation::{
    CREATION_TIME_FIELD, ID_FIELD, check_field_name, check_identifier, check_user_document,
    check_value,
};
pub use value::{Object, Value};
