//! One writer at a time: a second process waits as a standby while the first holds the writer
//! lock, takes over when the first one's session ends, and a primary that lost its lock while
//! still running cannot commit anything after the takeover.
mod common;

use std::time::Duration;

use hull_store::{DocumentKey, DocumentRow, Persistence, Timestamp, WriteBatch};
use hull_store_postgres::PostgresPersistence;

fn batch(ts: u64) -> WriteBatch {
    WriteBatch {
        documents: vec![DocumentRow { ts: Timestamp(ts), key: DocumentKey { table: 10001, id: [ts as u8; 16] }, value: Some("{}".into()), prev_ts: None }],
        ..Default::default()
    }
}

/// Ends the PostgreSQL sessions holding `schema`'s writer lock, as a network partition would.
fn cut_off_lock_holder(schema: &str) {
    let mut admin = postgres::Client::connect(&format!("{}?sslmode=disable", common::base_url()), postgres::NoTls).unwrap();
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = x'48554C4C'::int::oid AND objid = hashtext($1)::oid AND granted",
            &[&schema],
        )
        .unwrap();
    assert_eq!(ended.len(), 1, "exactly one session holds the writer lock");
}

#[test]
fn a_second_opener_waits_then_fences_a_cut_off_primary() {
    let schema = common::fresh_schema();
    let first = PostgresPersistence::open(&common::url(), &schema).unwrap();
    first.write(&batch(1)).unwrap();

    let told = std::sync::atomic::AtomicBool::new(false);
    let error = PostgresPersistence::open_waiting(&common::url(), &schema, Some(Duration::from_millis(300)), &|| {
        told.store(true, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap_err();
    assert_eq!(error.short, "LeaseHeld", "{}", error.message);
    assert!(told.load(std::sync::atomic::Ordering::Relaxed), "the standby says it is waiting");

    // The primary is cut off but keeps running; the standby takes over.
    cut_off_lock_holder(&schema);
    let second = PostgresPersistence::open_waiting(&common::url(), &schema, Some(Duration::from_secs(10)), &|| {}).unwrap();
    assert!(second.lease() > first.lease());
    let error = first.write(&batch(2)).unwrap_err();
    assert_eq!(error.short, "LeaseLost", "{}", error.message);
    second.write(&batch(3)).unwrap();
    let log = second.load_documents(None, Timestamp::MAX, 10).unwrap();
    assert_eq!(log.iter().map(|row| row.ts.0).collect::<Vec<_>>(), vec![1, 3], "the fenced write left nothing");
}

#[test]
fn closing_the_store_releases_the_writer_lock() {
    let schema = common::fresh_schema();
    let first = PostgresPersistence::open(&common::url(), &schema).unwrap();
    drop(first);
    PostgresPersistence::open_waiting(&common::url(), &schema, Some(Duration::from_secs(5)), &|| {}).unwrap();
}

#[test]
fn bad_schema_names_are_refused() {
    for bad in ["", "Upper", "1starts_with_digit", "semi;colon", "a-b", &"x".repeat(64)] {
        let error = PostgresPersistence::open(&common::url(), bad).unwrap_err();
        assert_eq!(error.short, "InvalidSchemaName", "{bad}");
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let error = PostgresPersistence::open("postgres://postgres@127.0.0.1:1/postgres", "hull_x").unwrap_err();
    assert!(error.message.starts_with("PostgreSQL: connecting failed"), "{}", error.message);
}
