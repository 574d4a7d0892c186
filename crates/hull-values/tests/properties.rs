//! Property tests: the three representations of a value (the `Value`, its Convex JSON and its
//! sort key) agree with each other, and no decoder panics on hostile input.

use std::cmp::Ordering;

use hull_values::{DocumentId, Object, Value, check_value, decode_sort_key, sort_key};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value as Json;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        any::<f64>(),
        // Every bit pattern, including NaN payloads and subnormals.
        any::<u64>().prop_map(f64::from_bits),
        (-3i8..3).prop_map(f64::from),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-1),
        Just(0),
        -300i64..300,
        prop::sample::select(vec![
            -129, -128, 127, 128, 255, 256, -32769, -32768, 32767, 32768
        ]),
        prop::sample::select(vec![
            i64::from(i32::MIN) - 1,
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            i64::from(i32::MAX) + 1
        ]),
        any::<i64>(),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        // Small alphabet, so distinct values often share prefixes and sometimes collide.
        "[a\0\u{1}\u{ff}é]{0,4}",
        any::<String>(),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(prop::sample::select(vec![0u8, 1, 0x7F, 0xFE, 0xFF]), 0..5),
        vec(any::<u8>(), 0..8)
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        int().prop_map(Value::Int64),
        float().prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Boolean),
        string().prop_map(Value::String),
        bytes().prop_map(Value::Bytes),
    ]
}

/// Values whose field names are drawn from `names`.
fn value_with_names(
    names: impl Strategy<Value = String> + Clone + 'static,
) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(names.clone(), inner, 0..4).prop_map(Value::Object),
        ]
    })
}

/// Valid field names, including the empty one; small alphabet so objects share names.
fn valid_name() -> impl Strategy<Value = String> + Clone {
    prop_oneof!["[ab_ ~]{0,3}", "([ -#%-~][ -~]{0,11})?"]
}

/// Any names at all, including ones the field-name rules reject: the sort-key encoding must
/// still be order-preserving and decodable for them.
fn any_name() -> impl Strategy<Value = String> + Clone {
    prop_oneof!["[\0\u{1}\u{2}a]{0,3}", valid_name(), any::<String>()]
}

fn valid_value() -> impl Strategy<Value = Value> {
    value_with_names(valid_name())
}

fn any_value() -> impl Strategy<Value = Value> {
    value_with_names(any_name())
}

/// Values from tiny domains, so that two independent draws are often equal or differ only
/// deep inside: the interesting case for comparisons.
fn small_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        (-2i64..=2).prop_map(Value::Int64),
        prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            -0.0,
            0.0,
            1.0,
            -1.0,
            f64::INFINITY
        ])
        .prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Boolean),
        "[a\0]{0,2}".prop_map(Value::String),
        vec(prop::sample::select(vec![0u8, 0xFF]), 0..3).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Value::Array),
            btree_map("[\0a]{0,2}", inner, 0..3).prop_map(Value::Object),
        ]
    })
}

fn one(value: &Value) -> Vec<u8> {
    sort_key(&[Some(value)])
}

fn tuple_key(tuple: &[Option<Value>]) -> Vec<u8> {
    sort_key(&tuple.iter().map(Option::as_ref).collect::<Vec<_>>())
}

fn tuple() -> impl Strategy<Value = Vec<Option<Value>>> {
    vec(prop::option::weighted(0.8, any_value()), 1..=3)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_round_trips_bit_exactly(value in valid_value()) {
        prop_assert!(check_value(&value).is_ok());
        let decoded = Value::from_json(&value.to_json()).unwrap();
        // `Eq` compares floats by bits, so this also checks NaN payloads and -0.
        prop_assert_eq!(&decoded, &value);
        // And through JSON text, as on the wire.
        let text = serde_json::to_string(&value.to_json()).unwrap();
        let reparsed: Json = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(Value::from_json(&reparsed).unwrap(), value);
    }

    #[test]
    fn sort_key_round_trips(value in any_value()) {
        let key = one(&value);
        prop_assert_eq!(decode_sort_key(&key).unwrap(), vec![Some(value)]);
    }

    #[test]
    fn sort_key_order_is_value_order(a in any_value(), b in any_value()) {
        prop_assert_eq!(a.cmp(&b), one(&a).cmp(&one(&b)), "{:?} vs {:?}", a, b);
        prop_assert_eq!(a == b, one(&a) == one(&b));
    }

    #[test]
    fn sort_key_order_is_value_order_for_similar_values(
        (a, b) in prop_oneof![
            (small_value(), small_value()),
            (vec(small_value(), 0..3), vec(small_value(), 0..3))
                .prop_map(|(a, b)| (Value::Array(a), Value::Array(b))),
            (btree_map("[\0a]{0,2}", small_value(), 0..3), btree_map("[\0a]{0,2}", small_value(), 0..3))
                .prop_map(|(a, b)| (Value::Object(a), Value::Object(b))),
        ]
    ) {
        prop_assert_eq!(a.cmp(&b), one(&a).cmp(&one(&b)), "{:?} vs {:?}", a, b);
    }

    #[test]
    fn order_is_reflexive_and_consistent(a in any_value()) {
        let b = a.clone();
        prop_assert_eq!(a.cmp(&b), Ordering::Equal);
        prop_assert_eq!(one(&a), one(&b));
    }

    #[test]
    fn tuple_key_order_is_tuple_order(a in tuple(), b in tuple()) {
        // `Option`'s order puts `None` (undefined) first, as the encoding does.
        prop_assert_eq!(a.cmp(&b), tuple_key(&a).cmp(&tuple_key(&b)), "{:?} vs {:?}", a, b);
        prop_assert_eq!(decode_sort_key(&tuple_key(&a)).unwrap(), a);
    }

    #[test]
    fn tuples_sharing_a_prefix_order_by_the_rest(prefix in any_value(), a in tuple(), b in tuple()) {
        let with_prefix = |rest: &[Option<Value>]| {
            let mut tuple = vec![Some(prefix.clone())];
            tuple.extend_from_slice(rest);
            tuple
        };
        let (a, b) = (with_prefix(&a), with_prefix(&b));
        prop_assert_eq!(a.cmp(&b), tuple_key(&a).cmp(&tuple_key(&b)));
    }

    #[test]
    fn sort_key_decoder_never_panics_and_is_canonical(bytes in arbitrary_key_bytes()) {
        if let Ok(values) = decode_sort_key(&bytes) {
            // Strictness: whatever decodes is exactly what the encoder would have written.
            prop_assert_eq!(tuple_key(&values), bytes);
        }
    }

    #[test]
    fn id_round_trips(table_number in 1u32.., internal_id in any::<[u8; 16]>()) {
        let id = DocumentId { table_number, internal_id };
        let text = id.encode();
        prop_assert!((31..=37).contains(&text.len()));
        prop_assert_eq!(DocumentId::decode(&text).unwrap(), id);
    }

    #[test]
    fn changing_any_one_character_invalidates_an_id(
        table_number in 1u32..,
        internal_id in any::<[u8; 16]>(),
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(b"0123456789abcdefghjkmnpqrstvwxyz".to_vec()),
    ) {
        let text = DocumentId { table_number, internal_id }.encode();
        let position = position.index(text.len());
        prop_assume!(text.as_bytes()[position] != replacement);
        let mut changed = text.into_bytes();
        changed[position] = replacement;
        let changed = String::from_utf8(changed).unwrap();
        prop_assert!(DocumentId::decode(&changed).is_err(), "{} decoded", changed);
    }

    #[test]
    fn id_decoder_never_panics(text in prop_oneof![
        any::<String>(),
        "[0-9a-z]{29,39}",
        "[0-9A-Zilou]{31,37}",
    ]) {
        if let Ok(id) = DocumentId::decode(&text) {
            prop_assert_eq!(id.encode(), text);
        }
    }

    #[test]
    fn json_decoder_never_panics(json in arbitrary_json()) {
        if let Ok(value) = Value::from_json(&json) {
            prop_assert!(check_value(&value).is_ok());
            prop_assert_eq!(Value::from_json(&value.to_json()).unwrap(), value);
        }
    }
}

/// Byte strings biased towards the encoding's tags and escape bytes, so the decoder gets
/// past the first byte often.
fn arbitrary_key_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop::sample::select(vec![
        0x00u8, 0x01, 0x02, 0x03, 0x04, 0x07, 0x08, 0x09, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12,
        0x13, 0x15, 0x61, 0x7F, 0x80, 0xC3, 0xA9, 0xFF,
    ]);
    prop_oneof![
        vec(any::<u8>(), 0..48),
        vec(interesting, 0..48),
        any_value().prop_flat_map(|value| {
            // Valid keys with one byte changed, truncated or extended.
            let key = one(&value);
            let len = key.len();
            (Just(key), 0..len, any::<u8>(), 0..3u8).prop_map(|(mut key, at, byte, how)| {
                match how {
                    0 => key[at] = byte,
                    1 => key.truncate(at),
                    _ => key.push(byte),
                }
                key
            })
        }),
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Json> {
    let base64ish = prop_oneof!["[A-Za-z0-9+/=_-]{0,16}", any::<String>()];
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(Json::Number),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<String>().prop_map(Json::String),
        (
            prop::sample::select(vec![
                "$integer",
                "$float",
                "$bytes",
                "$set",
                "$map",
                "$commitTs",
                "$foo"
            ]),
            base64ish
        )
            .prop_map(|(key, payload)| {
                let mut map = serde_json::Map::new();
                map.insert(key.to_string(), Json::String(payload));
                Json::Object(map)
            }),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Array),
            btree_map(prop_oneof!["[a-c$_]{0,2}", any::<String>()], inner, 0..6)
                .prop_map(|fields| Json::Object(fields.into_iter().collect())),
        ]
    })
}

#[test]
fn objects_with_any_names_are_ordered_by_their_keys() {
    // A regression-style spot check of the cases the name escape exists for.
    let obj = |name: &str| Value::Object(Object::from([(name.to_string(), Value::Null)]));
    let names = [
        "", "\0", "\0\0", "\0\u{1}", "\u{1}", "\u{1}\0", "\u{2}", "a",
    ];
    for pair in names.windows(2) {
        let (a, b) = (obj(pair[0]), obj(pair[1]));
        assert!(a < b);
        assert!(one(&a) < one(&b), "{:?} < {:?}", pair[0], pair[1]);
    }
}
