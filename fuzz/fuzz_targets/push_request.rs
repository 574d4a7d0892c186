//! Push requests (`hull_js::PushRequest::parse`, the JSON body of `start_push` /
//! `npx convex deploy --write-push-request`): never panics; the modules build a `ModuleMap`,
//! their source maps parse and answer lookups, and import specifiers resolve, all without
//! panicking.
#![no_main]

use hull_js::modules::resolve_specifier;
use hull_js::sourcemap::SourceMap;
use hull_js::{ModuleMap, PushRequest};
use libfuzzer_sys::fuzz_target;

/// Bounds the pairwise specifier resolution per input.
const MODULES_RESOLVED_MAX: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some(text) = hull_fuzz::text(data) else {
        return;
    };
    let Ok(request) = PushRequest::parse(text) else {
        return;
    };
    for module in request.modules.iter().chain(request.schema.iter()) {
        if let Some(map) = module.source_map.as_deref().and_then(SourceMap::parse) {
            for (line, column) in [(0, 0), (1, 0), (1, 1), (u32::MAX, u32::MAX)] {
                let _ = map.lookup(line, column);
            }
        }
    }
    let paths: Vec<&str> = request
        .modules
        .iter()
        .take(MODULES_RESOLVED_MAX)
        .map(|m| m.path.as_str())
        .collect();
    for base in &paths {
        for specifier in &paths {
            let _ = resolve_specifier(base, specifier);
        }
    }
    let map = ModuleMap::new(request.modules);
    let _ = map.entry_paths().count();
});
