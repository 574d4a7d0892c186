//! Source maps of pushed modules (`hull_js::sourcemap::SourceMap::parse`, read when a function's
//! stack trace is mapped back to the user's sources): never panics, and every position a lookup
//! returns is 1-based.
#![no_main]

use hull_js::sourcemap::SourceMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(map) = hull_fuzz::text(data).and_then(SourceMap::parse) else {
        return;
    };
    for line in [0, 1, 2, 3, u32::MAX] {
        for column in [0, 1, 2, 10, 100, u32::MAX] {
            if let Some((_, source_line, source_column)) = map.lookup(line, column) {
                assert!(source_line >= 1 && source_column >= 1);
            }
        }
    }
});
