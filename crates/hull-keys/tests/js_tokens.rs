//! Tokens derived by the TypeScript helper (`packages/hull-server/token.js`, run by node) verify
//! with the Rust verifier, scope and expiry included: the two implementations agree on the
//! format. Node.js is required; without it this test fails, saying so.

use std::path::Path;
use std::process::Command;

use hull_keys::{verify_token, MintedKey};

fn derive_in_node(key: &str, ttl: u64, allow: Option<&[&str]>, now: u64) -> Result<String, String> {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packages/hull-server/token.js").canonicalize().unwrap();
    let options = serde_json::json!({"ttlSeconds": ttl, "allow": allow, "now": now});
    let script = format!(
        "import({module:?}).then(m => process.stdout.write(m.deriveToken(process.argv[1], JSON.parse(process.argv[2])))).catch(e => {{ process.stderr.write(String(e.message)); process.exit(1); }})",
        module = format!("file://{}", module.display()),
    );
    let output = Command::new("node")
        .args(["--input-type=module", "-e", &script, key, &options.to_string()])
        .output()
        .expect("node is required for this test (install Node.js 20)");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn tokens_derived_in_javascript_verify_in_rust() {
    let minted = MintedKey::generate();
    let lookup = |id| (id == minted.key_id).then_some(minted.public_key);
    let token = derive_in_node(&minted.secret, 60, None, 1_000).unwrap();
    assert!(token.starts_with("hull_st_") && !token.contains(':'), "{token}");
    let claims = verify_token(&token, lookup, 1_010).unwrap();
    assert_eq!((claims.key_id, claims.issued_at, claims.expires_at, claims.allow), (minted.key_id, 1_000, 1_060, None));
    assert_eq!(verify_token(&token, lookup, 1_061).unwrap_err().short, "ServerTokenExpired");

    let narrowed = derive_in_node(&minted.secret, 5, Some(&["secrets:getSecretData"]), 1_000).unwrap();
    let claims = verify_token(&narrowed, lookup, 1_001).unwrap();
    assert_eq!(claims.allow, Some(vec!["secrets:getSecretData".to_string()]));

    // Another key's token does not verify under this key.
    let other = MintedKey::generate();
    let foreign = derive_in_node(&other.secret, 60, None, 1_000).unwrap();
    assert!(verify_token(&foreign, |_| Some(minted.public_key), 1_000).is_err());

    // The helper refuses what the server would refuse, with a clear message.
    assert!(derive_in_node("convex-admin|abcdef", 60, None, 1_000).unwrap_err().contains("Not a Hull server key"));
    assert!(derive_in_node(&minted.secret, 7200, None, 1_000).unwrap_err().contains("between 1 and 3600"));
}
