//! An HTTP action request, as the site port receives it: `METHOD /path?query`, header lines,
//! a blank line, then the body. Built into the action's request as the server builds it
//! (`hull_server::decoders::http_action_request`) and served by the real runtime with the
//! hull-js `basic` fixture's `http.js` router, whose handlers parse the URL, the query string
//! and JSON or text bodies, and whose `Authorization: Bearer` header goes through Hull's server
//! key, token and JWT checks. Never panics, and never fails as a system error: whatever the
//! request, the answer is a response or the handler's own error.
#![no_main]

use std::sync::{Arc, OnceLock};

use hull_app::{AppConfig, Application, InstanceSecret, RequestOrigin};
use hull_server::decoders::http_action_request;
use libfuzzer_sys::fuzz_target;

/// Bounds the work per input (the server takes up to 20 MiB; size adds nothing here).
const BODY_BYTES_MAX: usize = 64 * 1024;

fn application() -> &'static Application {
    static APPLICATION: OnceLock<Application> = OnceLock::new();
    APPLICATION.get_or_init(|| {
        let database = hull_db::Database::open(Arc::new(hull_store::MemoryPersistence::new())).unwrap();
        let secret = InstanceSecret::from_hex(&"ab".repeat(32)).unwrap();
        let application = Application::open(database, AppConfig::new("hull-fuzz", secret)).unwrap();
        application
            .deploy_push_request(include_str!("../../crates/hull-js/tests/fixtures/basic.push.json"))
            .expect("the basic fixture deploys");
        application
    })
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let Some(head) = hull_fuzz::text(head) else {
        return;
    };
    let mut lines = head.lines();
    let Some((method, target)) = lines.next().and_then(|line| line.split_once(' ')) else {
        return;
    };
    // What hyper would hand over: a valid method token and request target, valid headers.
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(target) = target.parse::<http::uri::PathAndQuery>() else {
        return;
    };
    if !target.as_str().starts_with('/') {
        return;
    }
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(name.trim().as_bytes()), http::HeaderValue::from_str(value.trim())) else {
            continue;
        };
        headers.append(name, value);
    }
    let body = (!matches!(method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS))
        .then(|| body[..body.len().min(BODY_BYTES_MAX)].to_vec());
    let request = http_action_request(&method, target.as_str(), &headers, body);
    let origin = RequestOrigin::from_headers(headers.keys().map(|name| name.as_str()), Some("127.0.0.1:9".to_owned()));
    if let Err(error) = application().run_http_action(request, &origin) {
        panic!("an HTTP action request failed as a system error: {} {}", error.short, error.message);
    }
});
