//! Fresh PostgreSQL stores for the tests: one new schema each, on the server named by
//! `TEST_POSTGRES_URL` (scripts/test.sh starts one with scripts/postgres.sh).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use hull_store_postgres::PostgresPersistence;

/// The test server's URL. Missing is a failure, not a skip: a suite that silently passes
/// without its database proves nothing.
pub fn url() -> String {
    std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: start a test server with `scripts/postgres.sh start` and export the URL it prints, or run ./scripts/test.sh",
    )
}

/// The server's URL without parameters (for tests that choose their own TLS settings).
pub fn base_url() -> String {
    url().split('?').next().unwrap().to_owned()
}

/// A schema name no other test (or earlier run) uses.
pub fn fresh_schema() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("hull_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos % 1_000_000_000)
}

/// A new, empty store.
pub fn fresh_store() -> PostgresPersistence {
    PostgresPersistence::open(&url(), &fresh_schema()).unwrap()
}
