//! Convex JSON: the spec's golden encodings (wire spec §2.1) and what the decoder rejects.

use hull_values::{
    MAX_ARRAY_LEN, MAX_OBJECT_FIELDS, MAX_VALUE_NESTING, MAX_VALUE_SIZE, Value, tags,
};
use serde_json::{Value as Json, json};

/// Encodes `value`, checks the JSON is `expected`, and that it decodes back bit-exactly.
fn check_round_trip(value: Value, expected: Json) {
    assert_eq!(value.to_json(), expected, "{value:?}");
    assert_eq!(Value::from_json(&expected).unwrap(), value, "{expected}");
}

/// Decodes `json`, expecting an error with `tag` whose message contains `message`.
fn check_rejected(json: &Json, tag: &str, message: &str) {
    let error = Value::from_json(json).expect_err("must be rejected");
    assert_eq!(error.short, tag, "{}", error.message);
    assert!(
        error.message.contains(message),
        "{:?} lacks {message:?}",
        error.message
    );
}

#[test]
fn golden_encodings_from_the_spec() {
    check_round_trip(Value::Int64(1), json!({"$integer": "AQAAAAAAAAA="}));
    check_round_trip(Value::Int64(-1), json!({"$integer": "//////////8="}));
    check_round_trip(Value::Float64(f64::NAN), json!({"$float": "AAAAAAAA+H8="}));
    check_round_trip(
        Value::Float64(f64::INFINITY),
        json!({"$float": "AAAAAAAA8H8="}),
    );
    check_round_trip(
        Value::Float64(f64::NEG_INFINITY),
        json!({"$float": "AAAAAAAA8P8="}),
    );
    check_round_trip(Value::Float64(-0.0), json!({"$float": "AAAAAAAAAIA="}));
    check_round_trip(
        Value::Bytes(b"hello".to_vec()),
        json!({"$bytes": "aGVsbG8="}),
    );
}

#[test]
fn plain_json_maps_directly() {
    check_round_trip(Value::Null, json!(null));
    check_round_trip(Value::Boolean(true), json!(true));
    check_round_trip(Value::Float64(0.0), json!(0.0));
    check_round_trip(Value::Float64(1.5), json!(1.5));
    check_round_trip(Value::from("héllo\0"), json!("héllo\0"));
    let object = Value::Object([("".to_string(), Value::Array(vec![Value::Int64(0)]))].into());
    check_round_trip(object, json!({"": [{"$integer": "AAAAAAAAAAA="}]}));
}

#[test]
fn every_json_number_is_a_float64() {
    for text in ["1", "1.0", "-7", "18446744073709551615", "1e300"] {
        let json: Json = serde_json::from_str(text).unwrap();
        let value = Value::from_json(&json).unwrap();
        assert_eq!(value.type_name(), "float64", "{text}");
    }
}

#[test]
fn base64_is_decoded_leniently_but_encoded_canonically() {
    let unpadded = json!({"$bytes": "aGVsbG8"});
    assert_eq!(
        Value::from_json(&unpadded).unwrap(),
        Value::Bytes(b"hello".to_vec())
    );
    let url_safe = json!({"$bytes": "-_8="});
    assert_eq!(
        Value::from_json(&url_safe).unwrap(),
        Value::Bytes(vec![0xFB, 0xFF])
    );
    assert_eq!(
        Value::Bytes(vec![0xFB, 0xFF]).to_json(),
        json!({"$bytes": "+/8="})
    );
}

#[test]
fn malformed_special_forms_are_rejected() {
    let json = json!({"$integer": "AQAAAAAAAA=="});
    check_rejected(
        &json,
        tags::INVALID_CONVEX_JSON,
        "Received 7 bytes, expected 8 for $integer",
    );
    let json = json!({"$float": "AAAAAAAA8D8="});
    check_rejected(
        &json,
        tags::INVALID_CONVEX_JSON,
        "Float 1 should be encoded as a number",
    );
    // The smallest subnormal also has a plain JSON form.
    let json = json!({"$float": "AQAAAAAAAAA="});
    check_rejected(
        &json,
        tags::INVALID_CONVEX_JSON,
        "should be encoded as a number",
    );
    check_rejected(
        &json!({"$float": "AAAA"}),
        tags::INVALID_CONVEX_JSON,
        "expected 8 for $float",
    );
    check_rejected(
        &json!({"$integer": 5}),
        tags::INVALID_CONVEX_JSON,
        "Malformed $integer",
    );
    check_rejected(
        &json!({"$bytes": "!!"}),
        tags::INVALID_CONVEX_JSON,
        "invalid base64",
    );
    check_rejected(
        &json!({"$set": []}),
        tags::INVALID_CONVEX_JSON,
        "Set which is no longer supported",
    );
    check_rejected(
        &json!({"$map": []}),
        tags::INVALID_CONVEX_JSON,
        "Map which is no longer supported",
    );
    check_rejected(
        &json!({"$commitTs": null}),
        tags::INVALID_CONVEX_JSON,
        "commit timestamp",
    );
}

#[test]
fn positive_zero_in_a_float_form_is_accepted() {
    // Neither normal nor subnormal, so the spec's rule lets it through (the JS client would
    // refuse it; accepting is harmless because it decodes to the same value as `0`).
    assert_eq!(
        Value::from_json(&json!({"$float": "AAAAAAAAAAA="})).unwrap(),
        Value::Float64(0.0)
    );
}

#[test]
fn field_names_are_checked() {
    assert!(Value::from_json(&json!({"": 1, " ~": 2})).is_ok());
    check_rejected(
        &json!({"$foo": 1}),
        tags::INVALID_FIELD_NAME,
        "starts with a '$', which is reserved",
    );
    check_rejected(
        &json!({"$integer": "AQAAAAAAAAA=", "a": 1}),
        tags::INVALID_FIELD_NAME,
        "'$integer'",
    );
    check_rejected(
        &json!({"a": {"b\u{1}": 1}}),
        tags::INVALID_FIELD_NAME,
        "invalid character '\\u{1}'",
    );
    check_rejected(
        &json!({"é": 1}),
        tags::INVALID_FIELD_NAME,
        "non-control ASCII",
    );
    let long = "a".repeat(1025);
    check_rejected(
        &json!({long: 1}),
        tags::INVALID_FIELD_NAME,
        "too long (1025 > maximum length 1024)",
    );
    assert!(Value::from_json(&json!({"a".repeat(1024): 1})).is_ok());
}

fn nested_arrays(depth: usize) -> Json {
    (0..depth).fold(json!(1.0), |inner, _| json!([inner]))
}

#[test]
fn nesting_is_limited() {
    let deepest = Value::from_json(&nested_arrays(MAX_VALUE_NESTING)).unwrap();
    assert_eq!(deepest.nesting(), MAX_VALUE_NESTING);
    check_rejected(
        &nested_arrays(65),
        tags::TOO_NESTED,
        "nested 65 levels deep > maximum nesting 64",
    );
    // Far deeper than the decoder could recurse: rejected, not a stack overflow. (Dropping
    // serde_json's own tree, which drops recursively, is fine at this depth.)
    check_rejected(
        &nested_arrays(1000),
        tags::TOO_NESTED,
        "nested 1000 levels deep",
    );
    // Special forms are scalars and do not count.
    let mut json = json!({"$integer": "AQAAAAAAAAA="});
    for _ in 0..MAX_VALUE_NESTING {
        json = json!({"a": json});
    }
    assert!(Value::from_json(&json).is_ok());
}

#[test]
fn array_length_and_field_count_are_limited() {
    assert!(Value::from_json(&Json::Array(vec![json!(null); MAX_ARRAY_LEN])).is_ok());
    let json = Json::Array(vec![json!(null); 9000]);
    check_rejected(
        &json,
        tags::ARRAY_TOO_LONG,
        "Array length is too long (9000 > maximum length 8192)",
    );
    let fields = |n: usize| Json::Object((0..n).map(|i| (format!("f{i}"), json!(null))).collect());
    assert!(Value::from_json(&fields(MAX_OBJECT_FIELDS)).is_ok());
    check_rejected(
        &fields(1025),
        tags::TOO_MANY_FIELDS,
        "too many fields (1025 > maximum number 1024)",
    );
}

#[test]
fn size_is_limited() {
    // A string's size is its length + 2.
    let at_limit = Json::String("x".repeat(MAX_VALUE_SIZE - 2));
    assert_eq!(Value::from_json(&at_limit).unwrap().size(), MAX_VALUE_SIZE);
    let over = Json::String("x".repeat(MAX_VALUE_SIZE - 1));
    check_rejected(
        &over,
        tags::VALUE_TOO_LARGE,
        "(33554433 bytes > maximum size 33554432 bytes)",
    );
}
