//! Order-preserving index-key encoding (engine-design-notes §3.3): for any values `a`, `b`,
//! `a.cmp(&b) == sort_key(a).cmp(&sort_key(b))` as byte strings.
//!
//! Every encoding starts with a type tag and is self-delimiting (prefix-free), so a tuple's
//! key is the concatenation of its elements' keys and byte order is tuple order.
//!
//! | value | bytes |
//! |---|---|
//! | undefined (missing field) | `01` |
//! | null | `03` |
//! | int64 | tag `04`..`0C`, then 0/1/2/4/8 bytes big-endian two's complement (below) |
//! | float64 | `0D` + 8 bytes big-endian of the bits, sign set ? all flipped : sign bit set |
//! | false, true | `0E`, `0F` |
//! | string, bytes | `10` / `11` + payload with `00` escaped as `00 FF`, then `00` |
//! | array | `12` + elements + `00` |
//! | object | `15` + for each field (sorted): name code + value; then `00` |
//!
//! Integers are tagged by sign and by the smallest of i8/i16/i32/i64 that holds them:
//! `04`/`05`/`06`/`07` for negatives needing 8/4/2/1 bytes, `08` for zero (no payload),
//! `09`/`0A`/`0B`/`0C` for positives needing 1/2/4/8 bytes. A negative that needs more
//! bytes is further from zero, so it gets a smaller tag; a positive that needs more bytes
//! gets a larger one; within a tag all payloads share a sign, so their big-endian bytes
//! compare like the numbers. Examples: `-1` → `07 FF`, `-128` → `07 80`, `-129` → `06 FF 7F`,
//! `0` → `08`, `1` → `09 01`, `255` → `0A 00 FF`, `i64::MAX` → `0C 7F FF FF FF FF FF FF FF`.
//!
//! Field-name code: a name is written as its bytes, then `00`; the empty name is `00 FF`.
//! The object terminator is also `00`, and nothing that can follow an object's terminator
//! starts with `FF`, so `00 FF` is unambiguous and sorts an empty name after "no more
//! fields" and before every other name. Valid field names are printable ASCII, so that is
//! the whole story for stored data. Hull's `Value` can nonetheless hold any string as a
//! name; to keep the order and decodability for those too, a name's `00` bytes are written
//! `01 01` and its `01` bytes `01 02` (an order-preserving substitution that no valid name
//! ever triggers). This is Hull's choice: it coincides with the table above for every
//! valid field name.
//!
//! Decoding ([`decode_sort_key`]) is strict, so every byte string has at most one
//! decoding and re-encoding reproduces it exactly.

use hull_errors::{Error, Result};

use crate::limits::MAX_VALUE_NESTING;
use crate::tags;
use crate::value::{Object, Value};

const UNDEFINED: u8 = 0x01;
const NULL: u8 = 0x03;
const INT_NEGATIVE_8: u8 = 0x04;
const INT_NEGATIVE_4: u8 = 0x05;
const INT_NEGATIVE_2: u8 = 0x06;
const INT_NEGATIVE_1: u8 = 0x07;
const INT_ZERO: u8 = 0x08;
const INT_POSITIVE_1: u8 = 0x09;
const INT_POSITIVE_2: u8 = 0x0A;
const INT_POSITIVE_4: u8 = 0x0B;
const INT_POSITIVE_8: u8 = 0x0C;
const FLOAT: u8 = 0x0D;
const FALSE: u8 = 0x0E;
const TRUE: u8 = 0x0F;
const STRING: u8 = 0x10;
const BYTES: u8 = 0x11;
const ARRAY: u8 = 0x12;
const OBJECT: u8 = 0x15;

/// Ends strings, bytes, field names, arrays and objects.
const TERMINATOR: u8 = 0x00;
/// After a `00` inside a string or bytes: the `00` was data, not the terminator. Also marks
/// the empty field name. Never a type tag, which is what makes both uses unambiguous.
const ESCAPE_CONTINUE: u8 = 0xFF;
/// Prefix of the two-byte codes for `00` and `01` inside a field name.
const NAME_ESCAPE: u8 = 0x01;

const FLOAT_SIGN_BIT: u64 = 1 << 63;

/// Appends the encoding of one index-key component; `None` is `undefined` (a missing field),
/// which sorts before every value.
pub fn write_sort_key(value: Option<&Value>, out: &mut Vec<u8>) {
    match value {
        None => out.push(UNDEFINED),
        Some(value) => write_value(value, out),
    }
}

/// The key of a tuple: the concatenation of its components' encodings.
pub fn sort_key(values: &[Option<&Value>]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        write_sort_key(*value, &mut out);
    }
    out
}

/// Decodes a key written by [`sort_key`] back into its components.
///
/// Strict: rejects unknown tags, truncation, non-canonical integers, invalid UTF-8 in
/// strings and field names, bad name escapes, unsorted or duplicate object fields,
/// `undefined` inside arrays or objects, and nesting beyond [`MAX_VALUE_NESTING`]. Errors
/// are `Code::Internal` with tag `InvalidSortKey`: keys come from storage, so a bad one
/// means corruption, not a bad request.
pub fn decode_sort_key(bytes: &[u8]) -> Result<Vec<Option<Value>>> {
    let mut reader = Reader { bytes, pos: 0 };
    let mut values = Vec::new();
    while let Some(tag) = reader.next() {
        if tag == UNDEFINED {
            values.push(None);
        } else {
            values.push(Some(reader.value(tag, 0)?));
        }
    }
    Ok(values)
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(NULL),
        Value::Int64(i) => write_int(*i, out),
        Value::Float64(f) => {
            out.push(FLOAT);
            let bits = f.to_bits();
            // Negative floats: flipping every bit reverses their order (larger magnitude,
            // smaller key) and clears the sign bit so they sort below all positives, which
            // get the sign bit set.
            let ordered = if bits & FLOAT_SIGN_BIT != 0 {
                !bits
            } else {
                bits | FLOAT_SIGN_BIT
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::Boolean(b) => out.push(if *b { TRUE } else { FALSE }),
        Value::String(s) => {
            out.push(STRING);
            write_escaped(s.as_bytes(), out);
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            write_escaped(b, out);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            for item in items {
                write_value(item, out);
            }
            out.push(TERMINATOR);
        }
        Value::Object(fields) => {
            out.push(OBJECT);
            for (name, value) in fields {
                write_field_name(name, out);
                write_value(value, out);
            }
            out.push(TERMINATOR);
        }
    }
}

fn write_int(i: i64, out: &mut Vec<u8>) {
    let tag = int_tag(i);
    out.push(tag);
    let width = int_width(tag);
    // Big-endian two's complement truncated to `width` bytes: the value fits by choice of
    // tag, so the dropped leading bytes are pure sign extension.
    out.extend_from_slice(&i.to_be_bytes()[8 - width..]);
}

/// The tag for `i`: by sign, then by the narrowest signed type that holds it.
fn int_tag(i: i64) -> u8 {
    let fits = |bits: u32| {
        let bound = 1i64 << (bits - 1);
        (-bound..bound).contains(&i)
    };
    match i {
        0 => INT_ZERO,
        _ if i < 0 && fits(8) => INT_NEGATIVE_1,
        _ if i < 0 && fits(16) => INT_NEGATIVE_2,
        _ if i < 0 && fits(32) => INT_NEGATIVE_4,
        _ if i < 0 => INT_NEGATIVE_8,
        _ if fits(8) => INT_POSITIVE_1,
        _ if fits(16) => INT_POSITIVE_2,
        _ if fits(32) => INT_POSITIVE_4,
        _ => INT_POSITIVE_8,
    }
}

/// Payload bytes after an integer tag (callers pass only integer tags).
fn int_width(tag: u8) -> usize {
    match tag {
        INT_NEGATIVE_8 | INT_POSITIVE_8 => 8,
        INT_NEGATIVE_4 | INT_POSITIVE_4 => 4,
        INT_NEGATIVE_2 | INT_POSITIVE_2 => 2,
        INT_NEGATIVE_1 | INT_POSITIVE_1 => 1,
        _ => 0,
    }
}

fn write_escaped(payload: &[u8], out: &mut Vec<u8>) {
    for &byte in payload {
        out.push(byte);
        if byte == TERMINATOR {
            out.push(ESCAPE_CONTINUE);
        }
    }
    out.push(TERMINATOR);
}

fn write_field_name(name: &str, out: &mut Vec<u8>) {
    if name.is_empty() {
        out.extend_from_slice(&[TERMINATOR, ESCAPE_CONTINUE]);
        return;
    }
    for &byte in name.as_bytes() {
        match byte {
            0x00 => out.extend_from_slice(&[NAME_ESCAPE, 0x01]),
            0x01 => out.extend_from_slice(&[NAME_ESCAPE, 0x02]),
            _ => out.push(byte),
        }
    }
    out.push(TERMINATOR);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect_byte(&mut self, what: &str) -> Result<u8> {
        self.next()
            .ok_or_else(|| self.error(format!("truncated {what}")))
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.error(format!("truncated {what}")));
        };
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::internal(
            tags::INVALID_SORT_KEY,
            format!(
                "Invalid index key: {what} at byte {} of {}",
                self.pos,
                self.bytes.len()
            ),
        )
    }

    /// Decodes the value whose tag was just read. `depth` counts the enclosing arrays and
    /// objects, bounding recursion on corrupt input.
    fn value(&mut self, tag: u8, depth: usize) -> Result<Value> {
        match tag {
            NULL => Ok(Value::Null),
            INT_NEGATIVE_8..=INT_POSITIVE_8 => self.int(tag).map(Value::Int64),
            FLOAT => {
                let bytes = self.take(8, "float64")?;
                let mut ordered = [0u8; 8];
                ordered.copy_from_slice(bytes);
                let ordered = u64::from_be_bytes(ordered);
                let bits = if ordered & FLOAT_SIGN_BIT != 0 {
                    ordered ^ FLOAT_SIGN_BIT
                } else {
                    !ordered
                };
                Ok(Value::Float64(f64::from_bits(bits)))
            }
            FALSE => Ok(Value::Boolean(false)),
            TRUE => Ok(Value::Boolean(true)),
            STRING => {
                let bytes = self.escaped("string")?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|_| self.error("string is not valid UTF-8"))
            }
            BYTES => self.escaped("bytes").map(Value::Bytes),
            ARRAY | OBJECT if depth >= MAX_VALUE_NESTING => Err(self.error(format_args!(
                "nesting deeper than the maximum {MAX_VALUE_NESTING}"
            ))),
            ARRAY => self.array(depth + 1),
            OBJECT => self.object(depth + 1),
            UNDEFINED => Err(self.error("undefined inside an array or object")),
            _ => Err(self.error(format_args!("unknown type tag 0x{tag:02X}"))),
        }
    }

    fn int(&mut self, tag: u8) -> Result<i64> {
        let width = int_width(tag);
        let payload = self.take(width, "int64")?;
        // Sign-extend from the payload's top bit; the zero tag has no payload.
        let negative = payload.first().is_some_and(|b| b & 0x80 != 0);
        let mut be = if negative { [0xFF; 8] } else { [0x00; 8] };
        be[8 - width..].copy_from_slice(payload);
        let i = i64::from_be_bytes(be);
        if int_tag(i) != tag {
            return Err(self.error(format_args!(
                "non-canonical int64 {i} under tag 0x{tag:02X}"
            )));
        }
        Ok(i)
    }

    /// String/bytes payload up to its terminator, unescaping `00 FF`.
    fn escaped(&mut self, what: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let byte = self.expect_byte(what)?;
            if byte != TERMINATOR {
                out.push(byte);
            } else if self.peek() == Some(ESCAPE_CONTINUE) {
                self.pos += 1;
                out.push(0x00);
            } else {
                return Ok(out);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        let mut items = Vec::new();
        loop {
            match self.expect_byte("array")? {
                TERMINATOR => return Ok(Value::Array(items)),
                tag => items.push(self.value(tag, depth)?),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        let mut fields = Object::new();
        while let Some(name) = self.field_name()? {
            // Field order is part of canonical form: encoders emit names sorted and unique.
            if fields
                .last_key_value()
                .is_some_and(|(last, _)| *last >= name)
            {
                return Err(self.error(format_args!("object field '{name}' out of order")));
            }
            let tag = self.expect_byte("object field value")?;
            let value = self.value(tag, depth)?;
            fields.insert(name, value);
        }
        Ok(Value::Object(fields))
    }

    /// The next field name, or `None` at the object's terminator.
    fn field_name(&mut self) -> Result<Option<String>> {
        if self.expect_byte("object")? == TERMINATOR {
            if self.peek() != Some(ESCAPE_CONTINUE) {
                return Ok(None);
            }
            self.pos += 1;
            return Ok(Some(String::new()));
        }
        self.pos -= 1;
        let mut name = Vec::new();
        loop {
            match self.expect_byte("field name")? {
                TERMINATOR => break,
                NAME_ESCAPE => match self.expect_byte("field name")? {
                    0x01 => name.push(0x00),
                    0x02 => name.push(0x01),
                    other => {
                        return Err(
                            self.error(format_args!("bad field-name escape 0x01 0x{other:02X}"))
                        );
                    }
                },
                byte => name.push(byte),
            }
        }
        String::from_utf8(name)
            .map(Some)
            .map_err(|_| self.error("field name is not valid UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &Value) -> Vec<u8> {
        sort_key(&[Some(value)])
    }

    #[test]
    fn int_encodings_match_the_tag_scheme() {
        let cases: &[(i64, &[u8])] = &[
            (i64::MIN, &[0x04, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            (
                -(1 << 31) - 1,
                &[0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF],
            ),
            (-(1 << 31), &[0x05, 0x80, 0, 0, 0]),
            (-32769, &[0x05, 0xFF, 0xFF, 0x7F, 0xFF]),
            (-32768, &[0x06, 0x80, 0x00]),
            (-129, &[0x06, 0xFF, 0x7F]),
            (-128, &[0x07, 0x80]),
            (-1, &[0x07, 0xFF]),
            (0, &[0x08]),
            (1, &[0x09, 0x01]),
            (127, &[0x09, 0x7F]),
            (128, &[0x0A, 0x00, 0x80]),
            (255, &[0x0A, 0x00, 0xFF]),
            (256, &[0x0A, 0x01, 0x00]),
            (32768, &[0x0B, 0x00, 0x00, 0x80, 0x00]),
            (
                i64::MAX,
                &[0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
        ];
        for window in cases.windows(2) {
            assert!(
                window[0].1 < window[1].1,
                "{} < {}",
                window[0].0,
                window[1].0
            );
        }
        for (i, expected) in cases {
            assert_eq!(key(&Value::Int64(*i)), *expected, "{i}");
            assert_eq!(
                decode_sort_key(expected).unwrap(),
                vec![Some(Value::Int64(*i))]
            );
        }
    }

    #[test]
    fn scalars_encode_as_the_table_says() {
        assert_eq!(sort_key(&[None]), [0x01]);
        assert_eq!(key(&Value::Null), [0x03]);
        assert_eq!(key(&Value::Boolean(false)), [0x0E]);
        assert_eq!(key(&Value::Boolean(true)), [0x0F]);
        assert_eq!(key(&Value::Float64(0.0)), [0x0D, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            key(&Value::Float64(-0.0)),
            [0x0D, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            key(&Value::Float64(1.0)),
            [0x0D, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            key(&Value::from("a\0b")),
            [0x10, b'a', 0x00, 0xFF, b'b', 0x00]
        );
        assert_eq!(
            key(&Value::Bytes(vec![0, 0xFF])),
            [0x11, 0x00, 0xFF, 0xFF, 0x00]
        );
        assert_eq!(key(&Value::Array(vec![Value::Null])), [0x12, 0x03, 0x00]);
    }

    #[test]
    fn object_encodings_and_the_empty_field_name() {
        let obj = |names: &[&str]| {
            Value::Object(names.iter().map(|n| (n.to_string(), Value::Null)).collect())
        };
        assert_eq!(key(&obj(&[])), [0x15, 0x00]);
        assert_eq!(key(&obj(&["a"])), [0x15, b'a', 0x00, 0x03, 0x00]);
        assert_eq!(key(&obj(&[""])), [0x15, 0x00, 0xFF, 0x03, 0x00]);
        assert_eq!(key(&obj(&["\0"])), [0x15, 0x01, 0x01, 0x00, 0x03, 0x00]);
        let ascending = [
            obj(&[]),
            obj(&[""]),
            obj(&["", "a"]),
            obj(&["\0"]),
            obj(&["\u{1}"]),
            obj(&["a"]),
        ];
        for pair in ascending.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(
                key(&pair[0]) < key(&pair[1]),
                "{:?} < {:?}",
                pair[0],
                pair[1]
            );
        }
        // An empty object followed by an object whose first field is empty, inside an
        // object: the inner terminator must not be mistaken for an empty name.
        let nested: Object = [("".to_string(), obj(&[])), ("b".to_string(), obj(&[""]))]
            .into_iter()
            .collect();
        let nested = Value::Object(nested);
        assert_eq!(decode_sort_key(&key(&nested)).unwrap(), vec![Some(nested)]);
    }

    #[test]
    fn decoding_rejects_malformed_keys() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x02], "unknown type tag 0x02"),
            (&[0x13], "unknown type tag 0x13"),
            (&[0xFF], "unknown type tag 0xFF"),
            (&[0x09, 0x80], "non-canonical int64"),
            (&[0x0A, 0x00, 0x05], "non-canonical int64"),
            (&[0x07, 0x05], "non-canonical int64"),
            (&[0x0C, 0x01], "truncated int64"),
            (&[0x0D, 0x80], "truncated float64"),
            (&[0x10, b'a'], "truncated string"),
            (&[0x10, 0xC3, 0x00], "not valid UTF-8"),
            (&[0x12, 0x03], "truncated array"),
            (&[0x12, 0x01, 0x00], "undefined inside"),
            (
                &[0x15, b'b', 0x00, 0x03, b'a', 0x00, 0x03, 0x00],
                "out of order",
            ),
            (
                &[0x15, b'a', 0x00, 0x03, b'a', 0x00, 0x03, 0x00],
                "out of order",
            ),
            (
                &[0x15, 0x01, 0x03, 0x00, 0x03, 0x00],
                "bad field-name escape",
            ),
            (&[0x15, b'a', 0x00], "truncated object field value"),
            (&[0x03, 0x00], "unknown type tag 0x00"),
        ];
        for (bytes, expected) in cases {
            let error = decode_sort_key(bytes).unwrap_err();
            assert_eq!(error.short, tags::INVALID_SORT_KEY);
            assert!(
                error.message.contains(expected),
                "{bytes:02X?}: {}",
                error.message
            );
        }
        let deep = [
            vec![ARRAY; MAX_VALUE_NESTING + 1],
            vec![TERMINATOR; MAX_VALUE_NESTING + 1],
        ]
        .concat();
        assert!(
            decode_sort_key(&deep)
                .unwrap_err()
                .message
                .contains("nesting")
        );
        let ok = [
            vec![ARRAY; MAX_VALUE_NESTING],
            vec![TERMINATOR; MAX_VALUE_NESTING],
        ]
        .concat();
        assert!(decode_sort_key(&ok).is_ok());
    }
}
