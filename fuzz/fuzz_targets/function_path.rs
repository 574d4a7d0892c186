//! Function paths (`hull_app::FunctionPath::parse`, `parse_url_path`): never panic; an
//! accepted path has a canonical `.js` module, and its canonical form parses to the same path.
#![no_main]

use hull_app::FunctionPath;
use libfuzzer_sys::fuzz_target;

fn check(path: &FunctionPath) {
    assert!(
        path.module().ends_with(".js"),
        "module {:?} is not canonical",
        path.module()
    );
    assert!(
        !path
            .module()
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    );
    let canonical = path.to_string();
    assert_eq!(
        &FunctionPath::parse(&canonical).expect("the canonical form parses"),
        path
    );
    let _ = (
        path.runtime_path(),
        path.display_name(),
        path.is_system(),
        path.is_dependency_chunk(),
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = hull_fuzz::text(data) else {
        return;
    };
    if let Ok(path) = FunctionPath::parse(text) {
        check(&path);
    }
    if let Ok(path) = FunctionPath::parse_url_path(text) {
        check(&path);
    }
});
