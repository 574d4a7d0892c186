//! Server keys, tokens, scopes and rate limits: the rules the server enforces.

use hull_keys::{derive_token, verify_token, MintedKey, RateLimit, RateLimiter, Scope, ServerKey, KEY_PREFIX, MAX_TOKEN_TTL_SECONDS};

fn scope(patterns: &[&str]) -> Scope {
    Scope::parse(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn a_minted_key_verifies_against_its_public_key_only() {
    let minted = MintedKey::generate();
    assert!(minted.secret.starts_with(KEY_PREFIX));
    assert!(!minted.secret.contains(':'), "the clients split acting-as identities on ':'");
    let key = ServerKey::parse(&minted.secret).unwrap();
    assert_eq!(key.key_id(), minted.key_id);
    assert!(key.matches(&minted.public_key));
    let other = MintedKey::generate();
    assert!(!key.matches(&other.public_key));
    // What is stored reveals nothing usable: the public key is not the secret.
    assert!(!minted.secret.contains(&base64_url(&minted.public_key)));
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn malformed_keys_are_refused_alike() {
    let minted = MintedKey::generate();
    let mut extra = minted.secret.clone();
    extra.push('A');
    let truncated = &minted.secret[..minted.secret.len() - 3];
    let mut flipped = minted.secret.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [extra.as_str(), truncated, "hull_sk_", "hull_sk_!!!!", "convex-admin|abc", "", &minted.secret.to_uppercase(), &format!(" {}", minted.secret)] {
        let error = ServerKey::parse(bad).err().expect("refused");
        assert_eq!(error.message, "The provided server key is invalid for this deployment.", "{bad}");
    }
    // A flipped character may still parse (it is another seed) but never matches.
    if let Ok(key) = ServerKey::parse(&flipped) {
        assert!(!key.matches(&minted.public_key));
    }
}

#[test]
fn scopes_allow_exactly_their_patterns() {
    let s = scope(&["secrets:*", "users:getProfile", "admin/*"]);
    assert!(s.allows("secrets", "getSecretData"));
    assert!(s.allows("secrets.js", "anything"));
    assert!(s.allows("users", "getProfile"));
    assert!(!s.allows("users", "deleteUser"));
    assert!(!s.allows("secretsX", "get"), "a module pattern is not a prefix");
    assert!(s.allows("admin/reports", "run"));
    assert!(s.allows("admin/deep/nested", "run"));
    assert!(!s.allows("admin", "run"), "dir/* covers modules under the directory");
    assert!(!s.allows("administrator/x", "run"));
    let all = scope(&["*"]);
    assert!(all.allows("anything", "goes"));
    assert!(!all.allows("_system/cli/tables", "list"), "never _system functions");
    assert!(!all.allows("_system", "x"));
    assert!(!all.allows("_deps/abc", "x"));
    for bad in ["", "secrets", "secrets:", ":fn", "a:b:c", "../x:y", "dir//*", "x:fn-name", "/x:y"] {
        assert!(Scope::parse(&[bad.to_string()]).is_err(), "{bad}");
    }
    assert!(Scope::parse(&[]).is_err());
    assert_eq!(s.patterns(), vec!["secrets:*", "users:getProfile", "admin/*"]);
}

#[test]
fn listed_patterns_parse_back_to_the_same_scope() {
    // See: issue 12, part 3 (the `server_key` fuzz target's input
    // fuzz/corpus/server_key/regression-js-js-module): a key's patterns are stored as listed and
    // parsed again at startup, so `ule.js.js:*` (the file ule.js.js) must not come back as
    // `ule.js:*` (the file ule.js).
    let s = scope(&["ule.js.js:*", "a.js.js:f", "b.js:*", "dir.js/*"]);
    assert!(s.allows("ule.js.js", "x"));
    assert!(!s.allows("ule", "x"));
    let listed = s.patterns();
    assert_eq!(listed, vec!["ule.js.js:*", "a.js.js:f", "b:*", "dir.js/*"]);
    assert_eq!(Scope::parse(&listed).unwrap(), s);
}

#[test]
fn tokens_expire_and_verify_only_with_their_key() {
    let minted = MintedKey::generate();
    let key = ServerKey::parse(&minted.secret).unwrap();
    let lookup = |id| (id == minted.key_id).then_some(minted.public_key);
    let token = derive_token(&key, 1, None, 1_000).unwrap();
    assert!(!token.contains(':'));
    let claims = verify_token(&token, lookup, 1_000).unwrap();
    assert_eq!((claims.key_id, claims.expires_at, claims.allow), (minted.key_id, 1_001, None));
    // A token derived for 1 second fails after 2.
    assert_eq!(verify_token(&token, lookup, 1_002).unwrap_err().short, "ServerTokenExpired");
    // Revoked (unknown) key, another key's public key, tampering.
    assert_eq!(verify_token(&token, |_| None, 1_000).unwrap_err().short, "BadServerToken");
    let other = MintedKey::generate();
    assert!(verify_token(&token, |_| Some(other.public_key), 1_000).is_err());
    let (payload, signature) = token.split_once('.').unwrap();
    let forged_payload = base64_url(format!(r#"{{"v":1,"kid":"{}","iat":1000,"exp":999999}}"#, minted.key_id.to_hex()).as_bytes());
    let forged = format!("hull_st_{forged_payload}.{signature}");
    assert!(verify_token(&forged, lookup, 1_000).is_err(), "a longer expiry under the old signature");
    assert!(verify_token(&format!("{payload}.AAAA"), lookup, 1_000).is_err());
    assert!(verify_token("hull_st_garbage", lookup, 1_000).is_err());
    // Lifetimes are bounded at both ends.
    assert!(derive_token(&key, 0, None, 1_000).is_err());
    assert!(derive_token(&key, MAX_TOKEN_TTL_SECONDS + 1, None, 1_000).is_err());
    // Issued in the future beyond the skew.
    let future = derive_token(&key, 60, None, 10_000).unwrap();
    assert!(verify_token(&future, lookup, 1_000).is_err());
}

#[test]
fn a_token_scope_only_narrows() {
    let minted = MintedKey::generate();
    let key = ServerKey::parse(&minted.secret).unwrap();
    let key_scope = scope(&["secrets:*"]);
    let token = derive_token(&key, 60, Some(&["secrets:getSecretData".to_string(), "users:*".to_string()]), 0).unwrap();
    let claims = verify_token(&token, |_| Some(minted.public_key), 0).unwrap();
    let token_scope = Scope::parse(claims.allow.as_ref().unwrap()).unwrap();
    let allowed = |module: &str, function: &str| key_scope.allows(module, function) && token_scope.allows(module, function);
    assert!(allowed("secrets", "getSecretData"));
    assert!(!allowed("secrets", "other"), "narrowed by the token");
    assert!(!allowed("users", "deleteUser"), "the token cannot widen its key's scope");
    assert!(derive_token(&key, 60, Some(&["bad pattern".to_string()]), 0).is_err());
}

#[test]
fn rate_limits_hold_bursts_and_refill() {
    let limit = RateLimit::parse("5/s").unwrap();
    let mut bucket = RateLimiter::new(limit, 0.0);
    for _ in 0..5 {
        bucket.try_acquire(0.0).unwrap();
    }
    let retry = bucket.try_acquire(0.0).unwrap_err();
    assert!((retry - 0.2).abs() < 1e-9, "{retry}");
    bucket.try_acquire(0.2).unwrap();
    assert!(bucket.try_acquire(0.2).is_err());
    assert_eq!(RateLimit::parse("120/m").unwrap().per_second, 2.0);
    for bad in ["", "5", "5/d", "0/s", "-1/s", "1.5/s", "x/s", "1000000/s"] {
        assert!(RateLimit::parse(bad).is_err(), "{bad}");
    }
}
