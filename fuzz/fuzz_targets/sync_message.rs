//! Sync protocol client messages (`hull_sync::protocol::ClientMessage::parse`): never panics,
//! and an accepted message serializes to text that parses back to the same message. Timestamps
//! (`decode_ts`) round-trip through `encode_ts`.
#![no_main]

use hull_sync::protocol::{ClientMessage, decode_ts, encode_ts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = hull_fuzz::text(data) else {
        return;
    };
    if let Ok(ts) = decode_ts(text) {
        assert_eq!(
            decode_ts(&encode_ts(ts)).expect("encode_ts output decodes"),
            ts
        );
    }
    let Ok(message) = ClientMessage::parse(text) else {
        return;
    };
    let encoded = serde_json::to_string(&message).expect("a parsed message serializes");
    let reparsed = ClientMessage::parse(&encoded).expect("a serialized message parses");
    assert_eq!(
        reparsed, message,
        "sync message round trip changed the message"
    );
});
