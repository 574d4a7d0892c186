//! Opening, reopening and ownership of a database file.

use std::path::Path;

use hull_store::{DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, Timestamp, WriteBatch};
use hull_store_sqlite::{Durability, SqlitePersistence};

fn document(n: u8) -> DocumentKey {
    DocumentKey { table: 10001, id: [n; 16] }
}

/// One commit at `ts`: document `n` (inserted or updated) and its index key `[n]`.
fn commit(ts: u64, n: u8, prev_ts: Option<u64>) -> WriteBatch {
    WriteBatch {
        documents: vec![DocumentRow {
            ts: Timestamp(ts),
            key: document(n),
            value: Some(format!(r#"{{"n":{n},"ts":{ts}}}"#)),
            prev_ts: prev_ts.map(Timestamp),
        }],
        index_rows: vec![IndexRow { index: IndexId(1), key: vec![n], ts: Timestamp(ts), document: Some(document(n)) }],
        globals: vec![("last".into(), ts.to_string())],
    }
}

fn values(store: &dyn Persistence, ts: Timestamp) -> Vec<String> {
    let page = store.index_scan(IndexId(1), ts, &KeyRange::all(), Order::Asc, 100).unwrap();
    assert_eq!(page.resume_after, None);
    page.entries.into_iter().map(|entry| entry.document.value.unwrap()).collect()
}

#[test]
fn reopened_store_reads_everything_written_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hull.sqlite3");
    let written = [commit(10, 1, None), commit(20, 2, None), commit(30, 1, Some(10))];
    {
        let store = SqlitePersistence::open(&path, Durability::Full).unwrap();
        for batch in &written {
            store.write(batch).unwrap();
        }
        assert_eq!(values(&store, Timestamp::MAX).len(), 2);
    }
    // The writer closed last and folded the WAL into the database.
    assert!(!dir.path().join("hull.sqlite3-wal").exists(), "the WAL outlived the store");
    let store = SqlitePersistence::open(&path, Durability::Full).unwrap();
    assert_eq!(store.max_ts().unwrap(), Some(Timestamp(30)));
    assert_eq!(store.get_global("last").unwrap().as_deref(), Some("30"));
    let log: Vec<DocumentRow> = written.iter().flat_map(|batch| batch.documents.clone()).collect();
    assert_eq!(store.load_documents(None, Timestamp::MAX, 100).unwrap(), log);
    assert_eq!(values(&store, Timestamp(20)), [r#"{"n":1,"ts":10}"#, r#"{"n":2,"ts":20}"#]);
    assert_eq!(values(&store, Timestamp::MAX), [r#"{"n":1,"ts":30}"#, r#"{"n":2,"ts":20}"#]);
    // Writing continues where the log left off.
    store.write(&commit(40, 3, None)).unwrap();
    assert_eq!(store.max_ts().unwrap(), Some(Timestamp(40)));
}

#[test]
fn second_open_fails_while_the_first_is_open_and_succeeds_after_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hull.sqlite3");
    let first = SqlitePersistence::open(&path, Durability::Full).unwrap();
    first.write(&commit(1, 1, None)).unwrap();
    // `flock` locks belong to the open file description, so a second open in the same process
    // conflicts just as another process would.
    let err = SqlitePersistence::open(&path, Durability::Full).expect_err("a second open must fail");
    assert_eq!(err.short, "DatabaseInUse");
    assert!(err.message.contains(&format!("the database at {} is already open in this process", path.display())), "{}", err.message);
    assert!(err.message.contains("hull.sqlite3.lock"), "{}", err.message);
    assert!(dir.path().join("hull.sqlite3.lock").exists());
    // The refused open changed nothing.
    assert_eq!(values(&first, Timestamp::MAX).len(), 1);
    drop(first);
    let second = SqlitePersistence::open(&path, Durability::Normal).unwrap();
    assert_eq!(second.max_ts().unwrap(), Some(Timestamp(1)));
}

fn open_error(path: &Path) -> hull_errors::Error {
    SqlitePersistence::open(path, Durability::Full).expect_err("open must fail")
}

#[test]
fn unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hull.sqlite3");
    drop(SqlitePersistence::open(&path, Durability::Full).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 2).unwrap();
    drop(conn);
    let err = open_error(&path);
    assert_eq!(err.short, "UnsupportedStorageVersion");
    assert!(err.message.contains("has storage format version 2, but this build of Hull reads version 1 only"), "{}", err.message);
}

#[test]
fn foreign_sqlite_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
    drop(conn);
    let err = open_error(&path);
    assert_eq!(err.short, "NotAHullDatabase");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
    assert_eq!(mode, "delete", "the foreign database was switched to WAL");
    let tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| row.get(0)).unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = open_error(&path);
    assert_eq!(err.short, "StorageError");
    assert!(err.message.contains("file is not a database"), "{}", err.message);
    assert!(err.message.contains(&path.display().to_string()), "{}", err.message);
}

#[test]
fn missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_error(&dir.path().join("no/such/dir/hull.sqlite3"));
    assert_eq!(err.short, "StorageError");
    assert!(err.message.contains("opening the lock file"), "{}", err.message);
}
