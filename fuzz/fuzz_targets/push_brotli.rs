//! Brotli push bodies (`hull_server::decoders::decompress_brotli`, the server's own function, at
//! the server's own limit): never panics and never returns more than the limit. Compressing
//! the input and decompressing it gives the input back; a limit below its length is refused.
//! What decompresses goes on to the push request parser.
#![no_main]

use hull_server::MAX_PUSH_BYTES;
use hull_server::decoders::decompress_brotli;
use libfuzzer_sys::fuzz_target;

/// Brotli quality for the round trip: fast, and any quality must decompress the same.
const QUALITY: u32 = 5;

fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: QUALITY as i32,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)
        .expect("compressing into a Vec never fails");
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(decompressed) = decompress_brotli(data, MAX_PUSH_BYTES) {
        assert!(decompressed.len() <= MAX_PUSH_BYTES);
        if let Ok(text) = std::str::from_utf8(&decompressed) {
            let _ = hull_js::PushRequest::parse(text);
        }
    }

    let compressed = compress(data);
    let decompressed =
        decompress_brotli(&compressed, data.len()).expect("our own Brotli stream decompresses");
    assert_eq!(decompressed, data, "Brotli round trip changed the body");
    if !data.is_empty() {
        assert!(
            decompress_brotli(&compressed, data.len() - 1).is_err(),
            "a body over the limit was accepted"
        );
    }
});
