//! The value model: [`Value`], its total order, and the size and nesting metrics.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// A Convex object: fields sorted by name (byte order), as Convex stores them.
pub type Object = BTreeMap<String, Value>;

/// A Convex value.
///
/// Equality, ordering and hashing follow Convex's total order (see [`Value::cmp`]), so
/// `Float64(-0.0) != Float64(0.0)` and `Float64(NaN) == Float64(NaN)` (same bits). The
/// type itself does not enforce any limit: a `Value` built in Rust may hold a `$`-prefixed
/// field name or be nested 1000 deep. [`check_value`](crate::check_value) and
/// [`check_user_document`](crate::check_user_document) say whether it may be stored or
/// sent; [`Value::from_json`] only ever returns values that pass `check_value`.
///
/// [`size`](Value::size) and [`nesting`](Value::nesting) work on any value. Ordering, hashing
/// and the encoders recurse once per level, which is harmless for checked values (at most
/// [`MAX_VALUE_NESTING`](crate::MAX_VALUE_NESTING) deep).
#[derive(Clone, Debug)]
pub enum Value {
    /// `null`.
    Null,
    /// A signed 64-bit integer (JS `bigint`).
    Int64(i64),
    /// A double (JS `number`), including NaNs, infinities and `-0`.
    Float64(f64),
    /// `true` or `false`.
    Boolean(bool),
    /// A UTF-8 string.
    String(String),
    /// A byte string (JS `ArrayBuffer`).
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<Value>),
    /// An object with fields sorted by name.
    Object(Object),
}

impl Value {
    /// The type's name as Convex spells it in validators and error messages (the JS
    /// validator `kind`s): `"null"`, `"int64"`, `"float64"`, `"boolean"`, `"string"`,
    /// `"bytes"`, `"array"` or `"object"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int64(_) => "int64",
            Value::Float64(_) => "float64",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Convex's size metric (`crates/value/src/size.rs`, JS twin `values/size.ts`), the
    /// number that document and argument size limits are checked against.
    ///
    /// null and booleans 1; int64 and float64 9; strings and bytes 2 + byte length; arrays
    /// 2 + the elements' sizes; objects 2 + for each field (name length + 1 + value size).
    /// It mirrors the sort-key layout: a type tag, the payload and a terminator.
    pub fn size(&self) -> usize {
        // Iterative, so measuring a hostile, absurdly deep value cannot overflow the stack.
        let mut total = 0usize;
        let mut pending = vec![self];
        while let Some(value) = pending.pop() {
            let own = match value {
                Value::Null | Value::Boolean(_) => 1,
                Value::Int64(_) | Value::Float64(_) => 9,
                Value::String(s) => 2 + s.len(),
                Value::Bytes(b) => 2 + b.len(),
                Value::Array(items) => {
                    pending.extend(items);
                    2
                }
                Value::Object(fields) => {
                    pending.extend(fields.values());
                    fields
                        .keys()
                        .fold(2usize, |acc, name| acc.saturating_add(name.len() + 1))
                }
            };
            total = total.saturating_add(own);
        }
        total
    }

    /// How deeply arrays and objects nest, as Convex counts it: scalars are 0, an array or
    /// object is 1 more than its deepest element (so `[]` and `{}` are 1, `[[1]]` is 2).
    ///
    /// A document is an object, so a flat document has nesting 1; this is the number compared
    /// against [`MAX_VALUE_NESTING`](crate::MAX_VALUE_NESTING) and
    /// [`MAX_DOCUMENT_NESTING`](crate::MAX_DOCUMENT_NESTING).
    pub fn nesting(&self) -> usize {
        // Iterative for the same reason as `size`.
        let mut deepest = 0;
        let mut pending = vec![(self, 0usize)];
        while let Some((value, depth)) = pending.pop() {
            match value {
                Value::Array(items) => {
                    deepest = deepest.max(depth + 1);
                    pending.extend(items.iter().map(|item| (item, depth + 1)));
                }
                Value::Object(fields) => {
                    deepest = deepest.max(depth + 1);
                    pending.extend(fields.values().map(|field| (field, depth + 1)));
                }
                _ => {}
            }
        }
        deepest
    }

    /// The string, if this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The fields, if this is an `Object`.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// The elements, if this is an `Array`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The integer, if this is an `Int64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, if this is a `Float64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float64(f) => Some(*f),
            _ => None,
        }
    }

    /// The flag, if this is a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes, if this is `Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Position of the type in Convex's cross-type order.
    fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Int64(_) => 1,
            Value::Float64(_) => 2,
            Value::Boolean(_) => 3,
            Value::String(_) => 4,
            Value::Bytes(_) => 5,
            Value::Array(_) => 6,
            Value::Object(_) => 7,
        }
    }
}

/// [`Value::size`] of `Value::Object(fields)`, without building the value.
pub(crate) fn object_size(fields: &Object) -> usize {
    fields.iter().fold(2usize, |acc, (name, value)| {
        acc.saturating_add(name.len() + 1)
            .saturating_add(value.size())
    })
}

/// [`Value::nesting`] of `Value::Object(fields)`, without building the value.
pub(crate) fn object_nesting(fields: &Object) -> usize {
    1 + fields.values().map(Value::nesting).max().unwrap_or(0)
}

impl Ord for Value {
    /// Convex's total order (engine-design-notes §3.2), the order of index keys.
    ///
    /// Types first: `Null < Int64 < Float64 < Boolean < String < Bytes < Array < Object`
    /// (so `Int64(1) < Float64(0.5)`: ints and floats are never compared numerically).
    /// Within a type: ints numerically; floats by IEEE-754 total order
    /// (`-NaN < -inf < … < -0 < +0 < … < +inf < NaN`); `false < true`; strings by UTF-8
    /// bytes; bytes lexicographically; arrays element-wise, shorter first; objects over the
    /// sorted `(name, value)` sequence, name before value, shorter first.
    fn cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Int64(a), Value::Int64(b)) => a.cmp(b),
            (Value::Float64(a), Value::Float64(b)) => a.total_cmp(b),
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => a.iter().cmp(b.iter()),
            // `(&String, &Value)` tuples compare name first, then value: exactly the
            // lexicographic order over the field sequence.
            (Value::Object(a), Value::Object(b)) => a.iter().cmp(b.iter()),
            _ => self.type_rank().cmp(&other.type_rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.type_rank());
        match self {
            Value::Null => {}
            Value::Int64(i) => i.hash(state),
            // `total_cmp` equality is bit equality, so hashing the bits agrees with `Eq`.
            Value::Float64(f) => f.to_bits().hash(state),
            Value::Boolean(b) => b.hash(state),
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Array(items) => items.hash(state),
            Value::Object(fields) => fields.hash(state),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int64(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float64(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

impl From<Object> for Value {
    fn from(fields: Object) -> Value {
        Value::Object(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_order_before_contents() {
        let ascending = [
            Value::Null,
            Value::Int64(i64::MAX),
            Value::Float64(f64::NEG_INFINITY),
            Value::Boolean(false),
            Value::String(String::new()),
            Value::Bytes(vec![]),
            Value::Array(vec![]),
            Value::Object(Object::new()),
        ];
        for pair in ascending.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn floats_use_total_order() {
        let neg_nan = Value::Float64(-f64::NAN);
        let ascending = [
            neg_nan,
            (-f64::INFINITY).into(),
            (-0.0).into(),
            0.0.into(),
            f64::INFINITY.into(),
            f64::NAN.into(),
        ];
        for pair in ascending.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
        assert_eq!(Value::Float64(f64::NAN), Value::Float64(f64::NAN));
        assert_ne!(Value::Float64(0.0), Value::Float64(-0.0));
    }

    #[test]
    fn objects_compare_field_by_field() {
        let obj = |fields: &[(&str, i64)]| {
            Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::Int64(*v)))
                    .collect(),
            )
        };
        assert!(obj(&[]) < obj(&[("", 0)]));
        assert!(obj(&[("a", 5)]) < obj(&[("b", 0)]));
        assert!(obj(&[("a", 0)]) < obj(&[("a", 1)]));
        assert!(obj(&[("a", 0)]) < obj(&[("a", 0), ("b", 0)]));
        // The second field's name decides before the first field's value would in a
        // "names first" order.
        assert!(obj(&[("a", 0), ("c", 0)]) < obj(&[("a", 1), ("b", 0)]));
    }

    #[test]
    fn size_and_nesting_follow_convex() {
        assert_eq!(Value::Null.size(), 1);
        assert_eq!(Value::from("abc").size(), 5);
        let doc: Object = [("a".to_string(), Value::Int64(1))].into_iter().collect();
        assert_eq!(Value::Object(doc.clone()).size(), 2 + 1 + 1 + 9);
        assert_eq!(Value::Int64(1).nesting(), 0);
        assert_eq!(Value::Array(vec![]).nesting(), 1);
        assert_eq!(Value::Array(vec![Value::Object(doc)]).nesting(), 2);
    }
}
