//! Convex JSON (`hull_values::Value::from_json`): never panics; what it accepts passes
//! `check_value`, re-encodes to JSON that decodes to the same value (as a `serde_json::Value`
//! and as text), and round-trips through the index-key encoding.
#![no_main]

use hull_values::{Value, check_user_document, check_value, decode_sort_key, sort_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(value) = Value::from_json(&json) else {
        return;
    };
    check_value(&value).expect("from_json returned a value check_value refuses");
    if let Value::Object(fields) = &value {
        let _ = check_user_document(fields);
    }

    let encoded = value.to_json();
    let decoded = Value::from_json(&encoded).expect("to_json produced undecodable Convex JSON");
    assert_eq!(decoded, value, "Convex JSON round trip changed the value");
    let text = serde_json::to_string(&encoded).expect("serde_json writes any Value");
    let reparsed: serde_json::Value =
        serde_json::from_str(&text).expect("serde_json reads what it wrote");
    assert_eq!(
        Value::from_json(&reparsed).expect("text round trip"),
        value,
        "JSON text round trip changed the value"
    );

    let key = sort_key(&[Some(&value), None]);
    let components = decode_sort_key(&key).expect("sort_key produced an undecodable key");
    assert_eq!(
        components,
        vec![Some(value), None],
        "index-key round trip changed the value"
    );
});
