//! TLS to PostgreSQL: `sslmode=require` with the server's CA in `sslrootcert` connects
//! encrypted; without a trusted CA the certificate is refused; a plain URL still works.
//!
//! Needs `TEST_POSTGRES_URL` and `TEST_POSTGRES_CA` (scripts/test.sh sets both; the server
//! scripts/postgres.sh starts has a self-signed certificate for 127.0.0.1).
mod common;

use hull_store::{DocumentKey, DocumentRow, Persistence, Timestamp, WriteBatch};
use hull_store_postgres::PostgresPersistence;

fn ca() -> String {
    std::env::var("TEST_POSTGRES_CA").expect("TEST_POSTGRES_CA is not set: run ./scripts/test.sh, or export the path `scripts/postgres.sh ca` prints")
}

#[test]
fn required_tls_with_a_trusted_ca_is_encrypted() {
    let url = format!("{}?sslmode=require&sslrootcert={}", common::base_url(), ca());
    let store = PostgresPersistence::open(&url, &common::fresh_schema()).unwrap();
    assert!(store.connection_is_encrypted().unwrap());
    let key = DocumentKey { table: 10001, id: [1; 16] };
    store.write(&WriteBatch { documents: vec![DocumentRow { ts: Timestamp(1), key, value: Some("{}".into()), prev_ts: None }], ..Default::default() }).unwrap();
    assert_eq!(store.load_documents(None, Timestamp::MAX, 10).unwrap().len(), 1, "readers use TLS too");
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let url = format!("{}?sslmode=require", common::base_url());
    let error = PostgresPersistence::open(&url, &common::fresh_schema()).unwrap_err();
    assert!(error.message.starts_with("PostgreSQL: connecting failed"), "{}", error.message);
    let error = PostgresPersistence::open(&format!("{}?sslrootcert=/nonexistent.pem", common::base_url()), &common::fresh_schema()).unwrap_err();
    assert!(error.message.contains("could not read sslrootcert"), "{}", error.message);
}

#[test]
fn tls_is_used_when_offered_and_plain_urls_keep_working() {
    // sslmode=disable stays plain (for trusted networks); the default (prefer) uses TLS when
    // the server offers it, and like libpq never falls back after a failed verification.
    let store = PostgresPersistence::open(&format!("{}?sslmode=disable", common::base_url()), &common::fresh_schema()).unwrap();
    assert!(!store.connection_is_encrypted().unwrap());
    let trusted = PostgresPersistence::open(&format!("{}?sslrootcert={}", common::base_url(), ca()), &common::fresh_schema()).unwrap();
    assert!(trusted.connection_is_encrypted().unwrap(), "prefer uses TLS when the server offers it");
}
