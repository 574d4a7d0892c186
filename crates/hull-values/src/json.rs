//! Convex JSON (`convex_encoded_json`, wire spec §2.1): the encoding values have in HTTP
//! bodies, WebSocket messages and the document log.
//!
//! | value | JSON |
//! |---|---|
//! | Float64, finite and not `-0` | a JSON number |
//! | Float64 NaN, ±inf, `-0` | `{"$float": base64(8 bytes little-endian)}` |
//! | Int64 | `{"$integer": base64(8 bytes two's complement little-endian)}` |
//! | Bytes | `{"$bytes": base64(bytes)}` |
//! | others | the obvious JSON |
//!
//! Every JSON number decodes to Float64: integers only ever arrive as `$integer`.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hull_errors::{Error, Result};
use serde_json::Value as Json;

use crate::limits::{MAX_VALUE_NESTING, MAX_VALUE_SIZE};
use crate::tags;
use crate::validation::{
    check_array_len, check_field_name, check_object_len, value_too_large, value_too_nested,
};
use crate::value::{Object, Value};

const BYTES_KEY: &str = "$bytes";
const INTEGER_KEY: &str = "$integer";
const FLOAT_KEY: &str = "$float";

/// Decoding accepts base64 with or without `=` padding, in the standard or the URL-safe
/// alphabet: the JS client's decoder accepts all of these, and being strict would only
/// reject values Convex accepts. Encoding always uses standard, padded base64.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Value {
    /// Decodes Convex JSON and checks the generic limits (field names, array length, object
    /// field count, nesting at most [`MAX_VALUE_NESTING`], size at most [`MAX_VALUE_SIZE`]),
    /// so everything it returns passes [`check_value`](crate::check_value).
    ///
    /// A single-key object `{"$bytes"|"$integer"|"$float": string}` is the special form;
    /// `$integer` and `$float` must hold exactly 8 bytes, and a `$float` holding a normal or
    /// subnormal number is rejected because it should have been a plain number. Any other
    /// `$`-prefixed key is an invalid field name.
    pub fn from_json(json: &Json) -> Result<Value> {
        let value = decode(json, json, 0)?;
        let size = value.size();
        if size > MAX_VALUE_SIZE {
            return Err(value_too_large(size));
        }
        Ok(value)
    }

    /// Encodes as Convex JSON (standard base64 with padding; object keys in byte order).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Int64(i) => special(INTEGER_KEY, STANDARD.encode(i.to_le_bytes())),
            Value::Float64(f) => encode_float(*f),
            Value::Boolean(b) => Json::Bool(*b),
            Value::String(s) => Json::String(s.clone()),
            Value::Bytes(b) => special(BYTES_KEY, STANDARD.encode(b)),
            Value::Array(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(name, value)| (name.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }
}

fn encode_float(f: f64) -> Json {
    // Plain JSON numbers cannot carry NaN, the infinities or the sign of zero.
    let plain = f.is_finite() && !(f == 0.0 && f.is_sign_negative());
    match serde_json::Number::from_f64(f) {
        Some(number) if plain => Json::Number(number),
        _ => special(FLOAT_KEY, STANDARD.encode(f.to_le_bytes())),
    }
}

fn special(key: &str, base64: String) -> Json {
    let mut map = serde_json::Map::new();
    map.insert(key.to_string(), Json::String(base64));
    Json::Object(map)
}

/// `depth` is the number of arrays/objects enclosing `json`; `root` is kept only to report
/// the full nesting when the limit is hit.
fn decode(json: &Json, root: &Json, depth: usize) -> Result<Value> {
    match json {
        Json::Null => Ok(Value::Null),
        Json::Bool(b) => Ok(Value::Boolean(*b)),
        // Without serde_json's `arbitrary_precision` every number converts; the error arm is
        // for robustness, not an expected path.
        Json::Number(n) => n.as_f64().map(Value::Float64).ok_or_else(|| {
            Error::bad_request(
                tags::INVALID_CONVEX_JSON,
                format!("Number {n} is not a float64"),
            )
        }),
        Json::String(s) => Ok(Value::String(s.clone())),
        Json::Array(items) => {
            // Checked before descending, so hostile input cannot recurse past the limit.
            if depth >= MAX_VALUE_NESTING {
                return Err(value_too_nested(json_nesting(root)));
            }
            check_array_len(items.len())?;
            let items = items.iter().map(|item| decode(item, root, depth + 1));
            Ok(Value::Array(items.collect::<Result<_>>()?))
        }
        Json::Object(map) => {
            if let Some((key, payload)) = single_special_entry(map) {
                return decode_special(key, payload);
            }
            if depth >= MAX_VALUE_NESTING {
                return Err(value_too_nested(json_nesting(root)));
            }
            check_object_len(map.len())?;
            let mut fields = Object::new();
            for (name, value) in map {
                check_field_name(name)?;
                fields.insert(name.clone(), decode(value, root, depth + 1)?);
            }
            Ok(Value::Object(fields))
        }
    }
}

/// The entry of a one-key object whose key names a special form (or a retired one, so it
/// gets a specific error rather than "invalid field name").
fn single_special_entry(map: &serde_json::Map<String, Json>) -> Option<(&str, &Json)> {
    if map.len() != 1 {
        return None;
    }
    let (key, payload) = map.iter().next()?;
    matches!(
        key.as_str(),
        BYTES_KEY | INTEGER_KEY | FLOAT_KEY | "$commitTs" | "$set" | "$map"
    )
    .then_some((key.as_str(), payload))
}

fn decode_special(key: &str, payload: &Json) -> Result<Value> {
    let retired = |message: &str| Err(Error::bad_request(tags::INVALID_CONVEX_JSON, message));
    match key {
        "$set" => return retired("Received a Set which is no longer supported as a Convex type."),
        "$map" => return retired("Received a Map which is no longer supported as a Convex type."),
        "$commitTs" => {
            return retired(
                "The commit timestamp placeholder ({\"$commitTs\": null}) only exists inside a \
                 running mutation and cannot be sent as a value.",
            );
        }
        _ => {}
    }
    let Json::String(encoded) = payload else {
        return Err(Error::bad_request(
            tags::INVALID_CONVEX_JSON,
            format!("Malformed {key} field: expected a base64 string, got {payload}"),
        ));
    };
    let bytes = decode_base64(key, encoded)?;
    match key {
        BYTES_KEY => Ok(Value::Bytes(bytes)),
        INTEGER_KEY => Ok(Value::Int64(i64::from_le_bytes(eight_bytes(key, &bytes)?))),
        _ => {
            let f = f64::from_le_bytes(eight_bytes(key, &bytes)?);
            // Normal and subnormal numbers have a plain JSON form, so a `$float` holding one
            // is a client bug worth surfacing (Convex rejects it too).
            if f.is_normal() || f.is_subnormal() {
                return Err(Error::bad_request(
                    tags::INVALID_CONVEX_JSON,
                    format!("Float {f} should be encoded as a number"),
                ));
            }
            Ok(Value::Float64(f))
        }
    }
}

fn decode_base64(key: &str, encoded: &str) -> Result<Vec<u8>> {
    LENIENT_STANDARD
        .decode(encoded)
        .or_else(|_| LENIENT_URL_SAFE.decode(encoded))
        .map_err(|error| {
            Error::bad_request(
                tags::INVALID_CONVEX_JSON,
                format!("Malformed {key} field: invalid base64 ({error})"),
            )
        })
}

fn eight_bytes(key: &str, bytes: &[u8]) -> Result<[u8; 8]> {
    bytes.try_into().map_err(|_| {
        Error::bad_request(
            tags::INVALID_CONVEX_JSON,
            format!("Received {} bytes, expected 8 for {key}", bytes.len()),
        )
    })
}

/// Nesting of the value `json` would decode to (special forms are scalars). Iterative, as it
/// runs exactly when the input is too deep to recurse over safely.
fn json_nesting(json: &Json) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(json, 0usize)];
    while let Some((json, depth)) = pending.pop() {
        match json {
            Json::Array(items) => {
                deepest = deepest.max(depth + 1);
                pending.extend(items.iter().map(|item| (item, depth + 1)));
            }
            Json::Object(map) if single_special_entry(map).is_none() => {
                deepest = deepest.max(depth + 1);
                pending.extend(map.values().map(|value| (value, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}
