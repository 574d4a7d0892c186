//! One writer at a time: a second opener takes the lease, and the first can no longer commit.
mod common;

use hull_store::{DocumentKey, DocumentRow, Persistence, Timestamp, WriteBatch};
use hull_store_postgres::PostgresPersistence;

fn batch(ts: u64) -> WriteBatch {
    WriteBatch {
        documents: vec![DocumentRow { ts: Timestamp(ts), key: DocumentKey { table: 10001, id: [ts as u8; 16] }, value: Some("{}".into()), prev_ts: None }],
        ..Default::default()
    }
}

#[test]
fn a_newer_opener_fences_the_older_one() {
    let schema = common::fresh_schema();
    let first = PostgresPersistence::open(&common::url(), &schema).unwrap();
    first.write(&batch(1)).unwrap();
    let second = PostgresPersistence::open(&common::url(), &schema).unwrap();
    assert!(second.lease() > first.lease());
    let error = first.write(&batch(2)).unwrap_err();
    assert_eq!(error.short, "LeaseLost", "{}", error.message);
    assert!(first.write_index_backfill(&[]).is_ok(), "an empty backfill writes nothing");
    second.write(&batch(3)).unwrap();
    // The fenced write left nothing behind; the old holder still reads.
    let log = first.load_documents(None, Timestamp::MAX, 10).unwrap();
    assert_eq!(log.iter().map(|row| row.ts.0).collect::<Vec<_>>(), vec![1, 3]);
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
