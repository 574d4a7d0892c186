//! Server keys and their options (`hull_keys::ServerKey::parse`, `KeyId::from_hex`,
//! `Scope::parse`, `RateLimit::parse`): never panic; a parsed key matches its own public key;
//! a key id reads back from its hex; a scope's listed patterns parse to a scope that allows
//! exactly the same calls and never a `_system` one; a rate limit is within bounds and admits
//! a first call.
#![no_main]

use hull_app::FunctionPath;
use hull_keys::{KeyId, RateLimit, RateLimiter, Scope, ServerKey};
use libfuzzer_sys::fuzz_target;

/// Bounds the patterns of one scope.
const PATTERNS_MAX: usize = 32;

fn check_scope(lines: &[String]) {
    let Ok(scope) = Scope::parse(lines) else {
        return;
    };
    let listed = scope.patterns();
    let reread = Scope::parse(&listed).expect("a scope's listed patterns parse");
    assert_eq!(
        reread.patterns(),
        listed,
        "scope round trip changed the patterns"
    );
    let mut calls = vec![
        ("_system/cli".to_owned(), "x".to_owned()),
        ("_deps/a".to_owned(), "x".to_owned()),
    ];
    for line in lines {
        if let Ok(path) = FunctionPath::parse(line) {
            let runtime = path.runtime_path();
            let (module, function) = runtime.rsplit_once(':').expect("runtime paths hold a ':'");
            calls.push((module.to_owned(), function.to_owned()));
        }
    }
    for (module, function) in &calls {
        assert_eq!(
            scope.allows(module, function),
            reread.allows(module, function)
        );
    }
    assert!(
        !scope.allows("_system/cli", "x"),
        "a scope allowed a _system function"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = hull_fuzz::text(data) else {
        return;
    };
    if let Ok(key) = ServerKey::parse(text) {
        assert!(ServerKey::is_server_key(text));
        assert!(key.matches(&key.public_key()));
    }
    if let Some(id) = KeyId::from_hex(text) {
        assert_eq!(KeyId::from_hex(&id.to_hex()), Some(id));
    }
    if let Ok(limit) = RateLimit::parse(text) {
        assert!(limit.per_second > 0.0 && limit.per_second.is_finite());
        assert!(
            RateLimiter::new(limit, 0.0).try_acquire(0.0).is_ok(),
            "a full bucket refused a call"
        );
    }
    let lines: Vec<String> = text.lines().take(PATTERNS_MAX).map(str::to_owned).collect();
    check_scope(&lines);
});
