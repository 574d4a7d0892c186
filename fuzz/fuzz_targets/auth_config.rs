//! Auth provider configs (`hull_auth::AuthConfig::from_json`, the pushed `auth.config.js`
//! export, including `customJwt` key sets inline in `data:` URIs): never panics; an accepted
//! config's stored form (`to_app_auth_json`) reads back as the same config.
#![no_main]

use hull_auth::AuthConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = AuthConfig::from_providers_json(&json);
    let Ok(config) = AuthConfig::from_json(&json) else {
        return;
    };
    let stored = config.to_app_auth_json();
    let reread = AuthConfig::from_providers_json(&stored).expect("a stored auth config reads back");
    assert_eq!(reread, config, "auth config round trip changed the config");
});
