//! `hull-store-sqlite`: the SQLite engine behind [`hull_store::Persistence`].
//!
//! It owns one SQLite file (plus its `-wal`/`-shm` files and a `<path>.lock` file) holding a
//! deployment's document log, multi-version index rows and globals, laid out as
//! `hull-store` describes: `documents(ts, table_number, id, json, prev_ts)` keyed by
//! `(ts, table_number, id)`, `indexes(index_id, key, ts, table_number, document_id)` keyed by
//! `(index_id, key, ts)` (`WITHOUT ROWID`, NULL document = tombstone), and `globals(key, json)`.
//! The engine is as dumb as the trait asks: it never parses the JSON it stores.
//!
//! Key decisions, and why:
//!
//! * **One process owns the file.** [`SqlitePersistence::open`] takes an exclusive advisory
//!   lock on `<path>.lock` (`flock` through [`std::fs::File::try_lock`]) before touching the
//!   database, so a second Hull — or a second `open` in the same process, since the lock is per
//!   open file — fails at once with "in use by another Hull process" instead of two committers
//!   interleaving timestamps. SQLite's own locking would let them both write.
//! * **WAL mode, one writer, a few readers.** The committer is the only writer anyway, so
//!   writes go through one connection behind a mutex; reads use a small pool of read-only
//!   connections, which WAL lets run concurrently with the writer.
//! * **Durable acknowledgements by default.** [`Durability::Full`] runs `synchronous=FULL`, so
//!   a `write` that returned `Ok` survives power loss; [`Durability::Normal`] is an opt-in that
//!   can lose the last commits on power loss (never on a process crash) in exchange for fewer
//!   fsyncs.
//! * **Timestamps are stored as they are.** SQLite integers are `i64`; Hull timestamps are
//!   nanoseconds (about 2^60 today), so every stored timestamp is a non-negative `i64` and SQL
//!   ordering equals `u64` ordering. Writes of timestamps at or above 2^63 are refused with a
//!   clear error; read snapshots above `i64::MAX` (such as `Timestamp::MAX`) are clamped, which
//!   changes nothing since no stored row can be newer.
//! * **Index scans page in SQL and never sort.** A scan is one `GROUP BY key` query with
//!   `MAX(ts)` over the primary key, relying on SQLite's documented rule that bare columns of a
//!   single-`max()` aggregate come from the row holding the maximum. The query walks the
//!   primary key forwards or backwards (no temporary B-tree in either direction; a unit test
//!   checks the plans), and its `LIMIT` bounds the keys one call may examine. Tombstones are
//!   skipped in Rust, so a page is full unless the range ends or a long run of tombstones
//!   exhausts the per-call budget. The grouped query reads every version of a key at or below
//!   the snapshot; retention is what keeps that short. Each visible entry's revision is then one
//!   primary-key seek into `documents` (joining inside the grouped query would join every
//!   version). Point reads (`db.get`, a range holding exactly one key) take a separate query,
//!   one seek joined with its revision, because they are the hot path.
//! * **Plans are fixed when a statement is prepared.** Every statement is prepared once per
//!   connection (`prepare_cached`), and every connection enables SQLite's query planner
//!   stability guarantee: without it, the bundled SQLite (built with `STAT4`) re-parses and
//!   re-plans a cached statement whenever new values are bound to parameters the planner
//!   looked at (such as a `LIMIT`), which made point reads several times slower.
//! * **Errors, never panics, on I/O.** Every SQLite failure becomes a `StorageError` naming the
//!   operation; a duplicate row is a `DuplicateRow`, as in the reference model. Messages never
//!   contain document contents.
#![deny(missing_docs)]

mod error;
mod lock;
mod pool;
mod scan;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hull_errors::Result;
use hull_store::{
    DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, ScanPage, Timestamp,
    WriteBatch,
};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::error::{StorageContext, duplicate_or_storage, storage_error};

/// How long a connection waits for a lock held by another connection of this process (a
/// checkpoint, WAL recovery) before reporting a busy error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How far a write must reach the disk before [`Persistence::write`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, so an acknowledged write survives
    /// power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is fsynced only at checkpoints. Survives a process crash;
    /// power loss may roll back the most recent acknowledged commits (never corrupts).
    Normal,
}

impl Durability {
    fn pragma_value(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// A [`Persistence`] engine over one SQLite database file, owned exclusively by this handle.
pub struct SqlitePersistence {
    path: PathBuf,
    /// Read-only connections for scans and lookups. Declared before the writer so that they
    /// close first: the last connection to close checkpoints the WAL into the database and
    /// removes it, which only the writer can do.
    readers: pool::ReaderPool,
    /// The only connection that writes: `write` and `write_index_backfill` serialize on it.
    writer: Mutex<Connection>,
    /// Held for the life of the handle; declared last so it is released after the connections
    /// have closed.
    _owner: lock::OwnerLock,
}

impl std::fmt::Debug for SqlitePersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlitePersistence").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqlitePersistence {
    /// Opens the database at `path`, creating the file and its schema when it does not exist.
    ///
    /// Fails when another handle (in this or another process) has the database open, when the
    /// file is not a Hull database, or when its schema version is not one this build knows.
    pub fn open(path: &Path, durability: Durability) -> Result<SqlitePersistence> {
        let owner = lock::OwnerLock::acquire(path)?;
        let context = StorageContext::new(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut writer = Connection::open_with_flags(path, flags)
            .map_err(|err| storage_error(&context, "opening the database", err))?;
        configure_connection(&writer)
            .map_err(|err| storage_error(&context, "configuring the write connection", err))?;
        // Identify the file before changing anything in it (such as its journal mode).
        let identity = schema::identify(&writer, path)?;
        configure_writer(&writer, durability, &context)?;
        if let schema::Identity::Empty = identity {
            schema::create(&mut writer, path)?;
        }
        Ok(SqlitePersistence {
            path: path.to_path_buf(),
            readers: pool::ReaderPool::new(path),
            writer: Mutex::new(writer),
            _owner: owner,
        })
    }

    /// The database file this handle owns.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn context(&self) -> StorageContext<'_> {
        StorageContext::new(&self.path)
    }
}

/// WAL pages after which a commit checkpoints the WAL into the database file (SQLite's default
/// is 1000). Group commits write many pages at once; a larger WAL lets a hot page written by
/// many commits be copied once per checkpoint, and makes the checkpoint (which runs inside the
/// commit that crosses the threshold) rarer. It also bounds the WAL to about 40 MiB. Measured
/// with hull-bench: 64 concurrent single-insert clients went from about 19k to 23k commits/s;
/// a background checkpointer thread did as well there, but halved single-client commits,
/// because its fsyncs of the database file queued behind and ahead of the WAL's.
pub const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Page cache per connection, in KiB (SQLite's default is 2 MiB). Point reads of a working
/// set larger than the default spent a fifth of their time copying pages from the kernel.
pub const CACHE_SIZE_KIB: i64 = 32 * 1024;

/// Settings every connection gets.
fn configure_connection(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A negative cache_size is in KiB.
    conn.pragma_update(None, "cache_size", -CACHE_SIZE_KIB)?;
    // The query planner stability guarantee: a statement keeps the plan it was prepared with.
    // Without it, SQLite re-prepares (re-parses and re-plans) a cached statement whenever a new
    // value is bound to a parameter the planner looked at (a LIMIT, a range bound), which made
    // every point read pay for a parse. It also makes the plans checked in the tests the plans
    // that run.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn configure_writer(conn: &Connection, durability: Durability, context: &StorageContext<'_>) -> Result<()> {
    let error = |err| storage_error(context, "configuring the write connection", err);
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // E.g. a file system without shared-memory support; refusing is better than silently
        // running with a rollback journal, which blocks readers during commits.
        return Err(hull_errors::Error::internal(
            "StorageError",
            format!("{context}: the database could not be switched to WAL mode (journal_mode is {mode})"),
        ));
    }
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(error)?;
    conn.pragma_update(None, "synchronous", durability.pragma_value()).map_err(error)
}

/// A timestamp as stored: refuses values SQLite's signed integers cannot order correctly.
fn stored_ts(ts: Timestamp) -> Result<i64> {
    i64::try_from(ts.0).map_err(|_| {
        hull_errors::Error::internal(
            "TimestampOutOfRange",
            format!("timestamp {ts} cannot be stored: the SQLite store holds timestamps below 2^63"),
        )
    })
}

/// A read bound as stored: anything above the largest storable timestamp sees everything.
fn snapshot_ts(ts: Timestamp) -> i64 {
    i64::try_from(ts.0).unwrap_or(i64::MAX)
}

/// A `usize` count as an SQL `LIMIT` (where a negative value would mean "no limit").
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn check_batch_timestamps(batch: &WriteBatch) -> Result<()> {
    for row in &batch.documents {
        stored_ts(row.ts)?;
        if let Some(prev_ts) = row.prev_ts {
            stored_ts(prev_ts)?;
        }
    }
    for row in &batch.index_rows {
        stored_ts(row.ts)?;
    }
    Ok(())
}

fn insert_index_rows(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    rows: &[IndexRow],
    context: &StorageContext<'_>,
) -> Result<()> {
    let mut insert = tx
        .prepare_cached(sql)
        .map_err(|err| storage_error(context, "preparing an index row insert", err))?;
    for row in rows {
        let (table, id) = match &row.document {
            Some(DocumentKey { table, id }) => (Some(*table), Some(&id[..])),
            None => (None, None),
        };
        insert
            .execute(params![row.index.0, row.key, stored_ts(row.ts)?, table, id])
            .map_err(|err| duplicate_or_storage(context, "index", err))?;
    }
    Ok(())
}

const INSERT_DOCUMENT: &str =
    "INSERT INTO documents (ts, table_number, id, json, prev_ts) VALUES (?1, ?2, ?3, ?4, ?5)";
const INSERT_INDEX_ROW: &str =
    "INSERT INTO indexes (index_id, key, ts, table_number, document_id) VALUES (?1, ?2, ?3, ?4, ?5)";
const INSERT_INDEX_ROW_OR_IGNORE: &str = "INSERT OR IGNORE INTO indexes \
     (index_id, key, ts, table_number, document_id) VALUES (?1, ?2, ?3, ?4, ?5)";
const UPSERT_GLOBAL: &str = "INSERT INTO globals (key, json) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET json = excluded.json";
const LOAD_DOCUMENTS: &str = "SELECT ts, table_number, id, json, prev_ts FROM documents \
     WHERE ts > ?1 AND ts <= ?2 ORDER BY ts, table_number, id LIMIT ?3";
const MAX_TS: &str = "SELECT MAX(ts) FROM documents";
const GET_GLOBAL: &str = "SELECT json FROM globals WHERE key = ?1";

impl Persistence for SqlitePersistence {
    fn write(&self, batch: &WriteBatch) -> Result<()> {
        check_batch_timestamps(batch)?;
        let context = self.context();
        let mut writer = self.writer.lock();
        // IMMEDIATE takes the write lock up front. Dropping `tx` without `commit` (any `?`
        // below) rolls the whole batch back.
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| storage_error(&context, "beginning a write transaction", err))?;
        {
            let mut insert = tx
                .prepare_cached(INSERT_DOCUMENT)
                .map_err(|err| storage_error(&context, "preparing a document insert", err))?;
            for row in &batch.documents {
                let prev_ts = row.prev_ts.map(stored_ts).transpose()?;
                insert
                    .execute(params![
                        stored_ts(row.ts)?,
                        row.key.table,
                        &row.key.id[..],
                        row.value,
                        prev_ts
                    ])
                    .map_err(|err| duplicate_or_storage(&context, "document", err))?;
            }
        }
        insert_index_rows(&tx, INSERT_INDEX_ROW, &batch.index_rows, &context)?;
        {
            let mut upsert = tx
                .prepare_cached(UPSERT_GLOBAL)
                .map_err(|err| storage_error(&context, "preparing a global upsert", err))?;
            for (key, json) in &batch.globals {
                upsert
                    .execute(params![key, json])
                    .map_err(|err| storage_error(&context, "writing a global", err))?;
            }
        }
        tx.commit().map_err(|err| storage_error(&context, "committing a write", err))
    }

    fn write_index_backfill(&self, rows: &[IndexRow]) -> Result<()> {
        for row in rows {
            stored_ts(row.ts)?;
        }
        let context = self.context();
        let mut writer = self.writer.lock();
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| storage_error(&context, "beginning a backfill transaction", err))?;
        insert_index_rows(&tx, INSERT_INDEX_ROW_OR_IGNORE, rows, &context)?;
        tx.commit().map_err(|err| storage_error(&context, "committing a backfill", err))
    }

    fn index_scan(
        &self,
        index: IndexId,
        ts: Timestamp,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<ScanPage> {
        assert!(limit > 0, "index_scan limit must be positive");
        if range.is_empty() {
            return Ok(ScanPage::default());
        }
        let context = self.context();
        let reader = self.readers.checkout(&context)?;
        scan::index_scan(&reader, &context, index, snapshot_ts(ts), range, order, limit)
    }

    fn load_documents(
        &self,
        after: Option<Timestamp>,
        up_to: Timestamp,
        limit: usize,
    ) -> Result<Vec<DocumentRow>> {
        // Stored timestamps are non-negative, so -1 is "before everything"; nothing is stored
        // after a bound at or above 2^63.
        let after = match after {
            None => -1,
            Some(after) => match i64::try_from(after.0) {
                Ok(after) => after,
                Err(_) => return Ok(Vec::new()),
            },
        };
        let context = self.context();
        let reader = self.readers.checkout(&context)?;
        let mut select = reader
            .prepare_cached(LOAD_DOCUMENTS)
            .map_err(|err| storage_error(&context, "preparing a log read", err))?;
        let mut rows = select
            .query(params![after, snapshot_ts(up_to), sql_limit(limit)])
            .map_err(|err| storage_error(&context, "reading the document log", err))?;
        let mut documents = Vec::new();
        while let Some(row) = rows.next().map_err(|err| storage_error(&context, "reading the document log", err))? {
            documents.push(scan::document_row(row, &context)?);
        }
        Ok(documents)
    }

    fn max_ts(&self) -> Result<Option<Timestamp>> {
        let context = self.context();
        let reader = self.readers.checkout(&context)?;
        let max: Option<i64> = reader
            .prepare_cached(MAX_TS)
            .and_then(|mut select| select.query_row([], |row| row.get(0)))
            .map_err(|err| storage_error(&context, "reading the greatest timestamp", err))?;
        max.map(|ts| scan::timestamp(ts, &context)).transpose()
    }

    fn get_global(&self, key: &str) -> Result<Option<String>> {
        let context = self.context();
        let reader = self.readers.checkout(&context)?;
        let mut select = reader
            .prepare_cached(GET_GLOBAL)
            .map_err(|err| storage_error(&context, "preparing a global read", err))?;
        let mut rows =
            select.query(params![key]).map_err(|err| storage_error(&context, "reading a global", err))?;
        match rows.next().map_err(|err| storage_error(&context, "reading a global", err))? {
            Some(row) => row.get(0).map_err(|err| storage_error(&context, "reading a global", err)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_at_or_above_two_to_the_63_are_refused_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlitePersistence::open(&dir.path().join("db"), Durability::Normal).unwrap();
        let key = DocumentKey { table: 10001, id: [1; 16] };
        let batch = WriteBatch {
            documents: vec![DocumentRow {
                ts: Timestamp(1 << 63),
                key,
                value: Some("{}".into()),
                prev_ts: None,
            }],
            ..Default::default()
        };
        let err = store.write(&batch).unwrap_err();
        assert_eq!(err.short, "TimestampOutOfRange");
        assert!(err.message.contains("9223372036854775808"), "{}", err.message);
        let backfill = [IndexRow { index: IndexId(1), key: vec![], ts: Timestamp::MAX, document: None }];
        assert_eq!(store.write_index_backfill(&backfill).unwrap_err().short, "TimestampOutOfRange");
        assert_eq!(store.max_ts().unwrap(), None);
    }

    #[test]
    fn snapshots_above_i64_max_see_everything() {
        assert_eq!(snapshot_ts(Timestamp::MAX), i64::MAX);
        assert_eq!(snapshot_ts(Timestamp(1 << 63)), i64::MAX);
        assert_eq!(snapshot_ts(Timestamp(42)), 42);
        assert_eq!(sql_limit(usize::MAX), i64::MAX);
    }
}
