//! Index-key decoding (`hull_values::decode_sort_key`, keys read back from storage): never
//! panics, and is strict: every key it accepts is exactly the encoding of what it returns.
#![no_main]

use hull_values::{decode_sort_key, sort_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(components) = decode_sort_key(data) else {
        return;
    };
    let references: Vec<_> = components.iter().map(Option::as_ref).collect();
    assert_eq!(
        sort_key(&references),
        data,
        "decode_sort_key accepted a non-canonical key"
    );
});
