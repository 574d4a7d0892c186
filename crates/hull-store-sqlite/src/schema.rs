//! The on-disk schema, its version, and the checks `open` makes before trusting a file.

use std::path::Path;

use hull_errors::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

use crate::error::{StorageContext, storage_error};

/// `PRAGMA application_id` of every Hull database: "HULL" in ASCII. Marks the file as ours, so
/// that pointing Hull at some other SQLite file fails instead of adding tables to it.
pub(crate) const APPLICATION_ID: i32 = 0x4855_4C4C;

/// `PRAGMA user_version`: the version of the layout below. Bump it, and teach [`ensure`] to
/// migrate, whenever the layout changes.
///
/// History: 1 — the initial layout.
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// The layout. `STRICT` makes SQLite refuse a value of the wrong type instead of storing it.
///
/// * `documents` is clustered on its primary key, the log order `(ts, table_number, id)`
///   (`WITHOUT ROWID`): a point read joins an index row to its revision in one B-tree descent
///   instead of two (key index, then rowid table), and a commit appends to one B-tree instead
///   of two. Large documents spill to overflow pages, which SQLite handles in either layout.
///   There is deliberately no `(table_number, id, ts)` index yet: every B-tree costs each
///   commit an insert, and nothing reads revisions by document id until retention does.
/// * `indexes` is clustered on `(index_id, key, ts)` (`WITHOUT ROWID`): a scan walks the primary
///   key itself. A NULL document is a tombstone.
/// * `globals` holds a few small JSON values.
const CREATE_SCHEMA: &str = "
    CREATE TABLE documents (
        ts INTEGER NOT NULL,
        table_number INTEGER NOT NULL,
        id BLOB NOT NULL,
        json TEXT,
        prev_ts INTEGER,
        PRIMARY KEY (ts, table_number, id)
    ) WITHOUT ROWID, STRICT;
    CREATE TABLE indexes (
        index_id INTEGER NOT NULL,
        key BLOB NOT NULL,
        ts INTEGER NOT NULL,
        table_number INTEGER,
        document_id BLOB,
        PRIMARY KEY (index_id, key, ts)
    ) WITHOUT ROWID, STRICT;
    CREATE TABLE globals (
        key TEXT NOT NULL PRIMARY KEY,
        json TEXT NOT NULL
    ) STRICT;
";

/// What the file's header says it is.
pub(crate) enum Identity {
    /// A new, empty database.
    Empty,
    /// A Hull database of the current version.
    Current,
}

/// Reads the header and refuses files that are not Hull databases of a known version.
pub(crate) fn identify(conn: &Connection, path: &Path) -> Result<Identity> {
    let context = StorageContext::new(path);
    let read = |pragma: &str| -> Result<i32> {
        conn.pragma_query_value(None, pragma, |row| row.get(0))
            .map_err(|err| storage_error(&context, "reading the database header", err))
    };
    let application_id = read("application_id")?;
    let version = read("user_version")?;
    match (application_id, version) {
        (APPLICATION_ID, SCHEMA_VERSION) => Ok(Identity::Current),
        (APPLICATION_ID, version) => Err(Error::internal(
            "UnsupportedStorageVersion",
            format!(
                "the database at {} has storage format version {version}, but this build of Hull \
                 reads version {SCHEMA_VERSION} only. Run the Hull release that wrote it, or a newer one.",
                path.display()
            ),
        )),
        (0, 0) => {
            let objects: i64 = conn
                .query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| row.get(0))
                .map_err(|err| storage_error(&context, "reading the database schema", err))?;
            if objects == 0 { Ok(Identity::Empty) } else { Err(not_hull(path)) }
        }
        _ => Err(not_hull(path)),
    }
}

fn not_hull(path: &Path) -> Error {
    Error::internal(
        "NotAHullDatabase",
        format!(
            "the file at {} is an SQLite database, but not one Hull created; \
             refusing to modify it. Point Hull at a new path or at an existing Hull database.",
            path.display()
        ),
    )
}

/// Creates the schema in a new database, atomically: a crash leaves either an empty file or
/// the whole schema with its version.
pub(crate) fn create(conn: &mut Connection, path: &Path) -> Result<()> {
    let context = StorageContext::new(path);
    let error = |err| storage_error(&context, "creating the schema", err);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    tx.execute_batch(CREATE_SCHEMA).map_err(error)?;
    // The header fields are written through the same transaction.
    tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(error)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(error)?;
    tx.commit().map_err(error)
}
