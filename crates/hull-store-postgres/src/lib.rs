//! `hull-store-postgres`: the PostgreSQL engine of the [`hull_store::Persistence`] trait.
//!
//! Users who outgrow one machine keep Hull's data in PostgreSQL (managed, replicated, backed
//! up by tools they trust). The layout is the same two relations as SQLite, in a schema of
//! their choosing: `documents` (the log, keyed by `(ts, table_number, id)`) and `indexes`
//! (multi-version index rows). PostgreSQL is only asked to store and order bytes; every
//! semantic lives in `hull-db`, which is why one conformance suite covers both engines.
//!
//! Key decisions:
//! * **Long keys.** A B-tree entry holds at most about 2.7 KB, but index keys can be longer
//!   (an index on a long string). Keys are stored as `key_prefix` (the first
//!   [`KEY_PREFIX_LEN`] bytes), `key_suffix` (the rest) and `key_sha256` (of the whole key);
//!   the primary key is `(index_id, key_prefix, key_sha256, ts)`. Keys sharing a full-length
//!   prefix order by hash in PostgreSQL, so a scan always reads such a group whole and sorts it
//!   by the full key in Rust. Keys shorter than the prefix (nearly all) are unaffected.
//! * **One writer.** Opening the store waits for the writer lock, a PostgreSQL advisory lock
//!   held by a dedicated session for as long as the store is open: a second Hull process
//!   pointed at the same schema waits as a standby, and takes over as soon as the first one's
//!   session ends (the process died, or the server cut it off). Taking over increments a
//!   counter in `leases`, the fencing token: every write checks it (`SELECT ... FOR SHARE` in the
//!   same transaction), so a primary that lost its lock but still runs cannot commit anything
//!   after the takeover (`LeaseLost`). Two processes can never both commit.
//! * **Synchronous.** Like the trait: the `postgres` client (tokio-postgres underneath) with a
//!   small pool of connections, each with its own statement cache.
#![deny(missing_docs)]

mod pool;
mod scan;
mod tls;

use std::collections::HashMap;

use hull_errors::{Error, Result};
use hull_store::{DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, ScanPage, Timestamp, WriteBatch};
use parking_lot::Mutex;
use postgres::error::SqlState;
use postgres::{Client, Statement};
use sha2::{Digest, Sha256};

pub use scan::KEY_PREFIX_LEN;

/// A connection with its prepared statements.
pub(crate) struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Connection {
    fn connect(target: &tls::ConnectTarget, schema: &str) -> Result<Connection> {
        let mut client = Client::connect(&target.url, target.tls.clone()).map_err(|e| storage("connecting", &e))?;
        client
            .batch_execute(&format!("SET search_path TO {schema}; SET statement_timeout TO 0;"))
            .map_err(|e| storage("selecting the schema", &e))?;
        Ok(Connection { client, statements: HashMap::new() })
    }

    /// The prepared statement for `sql`, preparing it on first use.
    pub(crate) fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).map_err(|e| storage("preparing a statement", &e))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

pub(crate) fn storage(what: &str, error: &postgres::Error) -> Error {
    // The message names the failing step and PostgreSQL's reason, never row contents.
    let mut reason = error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned());
    if reason.contains("TLS") {
        use std::error::Error as _;
        if let Some(source) = error.source() {
            reason = format!("{reason}: {source}");
        }
        reason.push_str(" (if the server's certificate comes from a private CA, add sslrootcert=PATH to the URL; sslmode=disable turns TLS off, for trusted networks only)");
    }
    Error::internal("StorageError", format!("PostgreSQL: {what} failed: {reason}"))
}

fn lease_lost() -> Error {
    Error::new(
        hull_errors::Code::Unavailable,
        "LeaseLost",
        "Another Hull process took over this database (its lease is newer); this process may no longer write. Stop it, or restart it to become a standby.",
    )
}

/// The PostgreSQL store of one deployment: one schema of one database.
pub struct PostgresPersistence {
    url: String,
    schema: String,
    readers: pool::Pool,
    writer: Mutex<Connection>,
    lease: i64,
    /// Holds the advisory writer lock for the life of the store; its end releases the lock.
    _lock_session: Mutex<Client>,
}

/// How often a standby checks whether the writer lock is free.
pub const LEASE_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The first key of Hull's advisory locks ("HULL"); the second is the hash of the schema name.
const ADVISORY_LOCK_CLASS: i32 = 0x4855_4C4C;

impl std::fmt::Debug for PostgresPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only the schema is shown.
        f.debug_struct("PostgresPersistence").field("schema", &self.schema).finish_non_exhaustive()
    }
}

const CREATE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS documents (
        ts BIGINT NOT NULL,
        table_number BIGINT NOT NULL,
        id BYTEA NOT NULL,
        json TEXT,
        prev_ts BIGINT,
        PRIMARY KEY (ts, table_number, id)
    );
    CREATE TABLE IF NOT EXISTS indexes (
        index_id BIGINT NOT NULL,
        key_prefix BYTEA NOT NULL,
        key_sha256 BYTEA NOT NULL,
        key_suffix BYTEA NOT NULL,
        ts BIGINT NOT NULL,
        table_number BIGINT,
        document_id BYTEA,
        PRIMARY KEY (index_id, key_prefix, key_sha256, ts)
    );
    CREATE TABLE IF NOT EXISTS globals (key TEXT PRIMARY KEY, json TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS leases (id INT PRIMARY KEY, holder BIGINT NOT NULL);
";

impl PostgresPersistence {
    /// Opens (creating if needed) the store in `schema` of the database at `url`, waiting as
    /// long as it takes for another Hull process to release the writer lock.
    pub fn open(url: &str, schema: &str) -> Result<PostgresPersistence> {
        PostgresPersistence::open_waiting(url, schema, None, &|| {})
    }

    /// Like [`PostgresPersistence::open`], but gives up with `LeaseHeld` after `wait` (if
    /// given), and calls `waiting` once when it finds the lock taken (to tell the operator).
    pub fn open_waiting(url: &str, schema: &str, wait: Option<std::time::Duration>, waiting: &dyn Fn()) -> Result<PostgresPersistence> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Error::bad_request(
                "InvalidSchemaName",
                format!("Invalid PostgreSQL schema name \"{schema}\": use lowercase letters, digits and underscores (at most 63)."),
            ));
        }
        let target = tls::ConnectTarget::parse(url)?;
        let mut lock_session = Client::connect(&target.url, target.tls.clone()).map_err(|e| storage("connecting", &e))?;
        // Serialize schema creation between processes starting at once.
        let mut create = lock_session.transaction().map_err(|e| storage("creating the schema", &e))?;
        create
            .batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({ADVISORY_LOCK_CLASS}, 0); CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}; {CREATE_SCHEMA}"
            ))
            .map_err(|e| storage("creating the schema", &e))?;
        create.commit().map_err(|e| storage("creating the schema", &e))?;
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        let mut told = false;
        loop {
            let acquired: bool = lock_session
                .query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&ADVISORY_LOCK_CLASS, &schema])
                .map_err(|e| storage("taking the writer lock", &e))?
                .get(0);
            if acquired {
                break;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Err(Error::new(
                    hull_errors::Code::Unavailable,
                    "LeaseHeld",
                    format!("Another Hull process is the writer of PostgreSQL schema \"{schema}\"; this one would have to wait for it to stop."),
                ));
            }
            if !told {
                waiting();
                told = true;
            }
            std::thread::sleep(LEASE_POLL_INTERVAL);
        }
        let mut writer = Connection::connect(&target, schema)?;
        let lease: i64 = writer
            .client
            .query_one(
                "INSERT INTO leases (id, holder) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET holder = leases.holder + 1 RETURNING holder",
                &[],
            )
            .map_err(|e| storage("taking the lease", &e))?
            .get(0);
        Ok(PostgresPersistence {
            url: url.to_owned(),
            schema: schema.to_owned(),
            readers: pool::Pool::new(target, schema),
            writer: Mutex::new(writer),
            lease,
            _lock_session: Mutex::new(lock_session),
        })
    }

    /// The schema this store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// This process's lease number (greater for later openers).
    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// True when the write connection is encrypted (for the operator's startup log).
    pub fn connection_is_encrypted(&self) -> Result<bool> {
        let mut writer = self.writer.lock();
        let row = writer
            .client
            .query_one("SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)", &[])
            .map_err(|e| storage("reading the connection's TLS state", &e))?;
        Ok(row.get(0))
    }

    /// The database URL (may contain credentials: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A timestamp as stored: PostgreSQL's BIGINT orders only values below 2^63.
fn stored_ts(ts: Timestamp) -> Result<i64> {
    i64::try_from(ts.0).map_err(|_| {
        Error::internal("TimestampOutOfRange", format!("timestamp {ts} cannot be stored: PostgreSQL holds timestamps below 2^63"))
    })
}

/// A read bound: anything above the largest storable timestamp sees everything.
pub(crate) fn snapshot_ts(ts: Timestamp) -> i64 {
    i64::try_from(ts.0).unwrap_or(i64::MAX)
}

/// `(prefix, sha256, suffix)` of an index key.
pub(crate) fn split_key(key: &[u8]) -> (&[u8], Vec<u8>, &[u8]) {
    let cut = key.len().min(KEY_PREFIX_LEN);
    (&key[..cut], Sha256::digest(key).to_vec(), &key[cut..])
}

const INSERT_DOCUMENTS: &str = "INSERT INTO documents (ts, table_number, id, json, prev_ts) \
     SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::bytea[], $4::text[], $5::int8[])";
const INSERT_INDEX_ROWS: &str = "INSERT INTO indexes (index_id, key_prefix, key_sha256, key_suffix, ts, table_number, document_id) \
     SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[], $4::bytea[], $5::int8[], $6::int8[], $7::bytea[])";

fn insert_index_rows(tx: &mut postgres::Transaction<'_>, statement: &Statement, rows: &[IndexRow]) -> std::result::Result<u64, postgres::Error> {
    let mut index_ids = Vec::with_capacity(rows.len());
    let mut prefixes = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    let mut suffixes = Vec::with_capacity(rows.len());
    let mut timestamps = Vec::with_capacity(rows.len());
    let mut tables = Vec::with_capacity(rows.len());
    let mut documents = Vec::with_capacity(rows.len());
    for row in rows {
        let (prefix, hash, suffix) = split_key(&row.key);
        index_ids.push(i64::from(row.index.0));
        prefixes.push(prefix.to_vec());
        hashes.push(hash);
        suffixes.push(suffix.to_vec());
        timestamps.push(row.ts.0 as i64);
        tables.push(row.document.map(|d| i64::from(d.table)));
        documents.push(row.document.map(|d| d.id.to_vec()));
    }
    tx.execute(statement, &[&index_ids, &prefixes, &hashes, &suffixes, &timestamps, &tables, &documents])
}

fn write_error(what: &str, error: &postgres::Error) -> Error {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return Error::internal("DuplicateRow", format!("persistence: duplicate {what} row"));
    }
    storage(&format!("writing {what} rows"), error)
}

impl PostgresPersistence {
    fn check_timestamps(rows_ts: impl Iterator<Item = Timestamp>) -> Result<()> {
        for ts in rows_ts {
            stored_ts(ts)?;
        }
        Ok(())
    }

    /// Runs `body` in a write transaction fenced by the lease.
    fn fenced_write(&self, body: impl FnOnce(&mut postgres::Transaction<'_>, &mut HashMap<String, Statement>) -> Result<()>) -> Result<()> {
        let mut writer = self.writer.lock();
        let Connection { client, statements } = &mut *writer;
        let mut tx = client.transaction().map_err(|e| storage("beginning a write", &e))?;
        // FOR SHARE holds the lease row until commit, so a takeover waits for this write and
        // every later write of this process sees the new holder.
        let holder: i64 = tx
            .query_one("SELECT holder FROM leases WHERE id = 1 FOR SHARE", &[])
            .map_err(|e| storage("checking the lease", &e))?
            .get(0);
        if holder != self.lease {
            return Err(lease_lost());
        }
        body(&mut tx, statements)?;
        tx.commit().map_err(|e| storage("committing a write", &e))
    }
}

fn prepared(tx: &mut postgres::Transaction<'_>, cache: &mut HashMap<String, Statement>, sql: &str) -> Result<Statement> {
    if let Some(statement) = cache.get(sql) {
        return Ok(statement.clone());
    }
    let statement = tx.prepare(sql).map_err(|e| storage("preparing a statement", &e))?;
    cache.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

impl Persistence for PostgresPersistence {
    fn write(&self, batch: &WriteBatch) -> Result<()> {
        PostgresPersistence::check_timestamps(
            batch.documents.iter().flat_map(|d| [Some(d.ts), d.prev_ts]).flatten().chain(batch.index_rows.iter().map(|r| r.ts)),
        )?;
        self.fenced_write(|tx, cache| {
            if !batch.documents.is_empty() {
                let statement = prepared(tx, cache, INSERT_DOCUMENTS)?;
                let timestamps: Vec<i64> = batch.documents.iter().map(|d| d.ts.0 as i64).collect();
                let tables: Vec<i64> = batch.documents.iter().map(|d| i64::from(d.key.table)).collect();
                let ids: Vec<Vec<u8>> = batch.documents.iter().map(|d| d.key.id.to_vec()).collect();
                let values: Vec<Option<&str>> = batch.documents.iter().map(|d| d.value.as_deref()).collect();
                let previous: Vec<Option<i64>> = batch.documents.iter().map(|d| d.prev_ts.map(|t| t.0 as i64)).collect();
                tx.execute(&statement, &[&timestamps, &tables, &ids, &values, &previous]).map_err(|e| write_error("document", &e))?;
            }
            if !batch.index_rows.is_empty() {
                let statement = prepared(tx, cache, INSERT_INDEX_ROWS)?;
                insert_index_rows(tx, &statement, &batch.index_rows).map_err(|e| write_error("index", &e))?;
            }
            for (key, json) in &batch.globals {
                let statement = prepared(tx, cache, "INSERT INTO globals (key, json) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET json = EXCLUDED.json")?;
                tx.execute(&statement, &[key, json]).map_err(|e| storage("writing a global", &e))?;
            }
            Ok(())
        })
    }

    fn write_index_backfill(&self, rows: &[IndexRow]) -> Result<()> {
        PostgresPersistence::check_timestamps(rows.iter().map(|r| r.ts))?;
        if rows.is_empty() {
            return Ok(());
        }
        self.fenced_write(|tx, cache| {
            let sql = format!("{INSERT_INDEX_ROWS} ON CONFLICT DO NOTHING");
            let statement = prepared(tx, cache, &sql)?;
            insert_index_rows(tx, &statement, rows).map_err(|e| write_error("backfill index", &e))?;
            Ok(())
        })
    }

    fn index_scan(&self, index: IndexId, ts: Timestamp, range: &KeyRange, order: Order, limit: usize) -> Result<ScanPage> {
        assert!(limit > 0, "index_scan limit must be positive");
        if range.is_empty() {
            return Ok(ScanPage::default());
        }
        let mut connection = self.readers.checkout()?;
        scan::index_scan(&mut connection, index, snapshot_ts(ts), range, order, limit)
    }

    fn load_documents(&self, after: Option<Timestamp>, up_to: Timestamp, limit: usize) -> Result<Vec<DocumentRow>> {
        let mut connection = self.readers.checkout()?;
        scan::load_documents(&mut connection, after.map_or(-1, snapshot_ts), snapshot_ts(up_to), limit)
    }

    fn max_ts(&self) -> Result<Option<Timestamp>> {
        let mut connection = self.readers.checkout()?;
        let statement = connection.statement("SELECT max(ts) FROM documents")?;
        let row = connection.client.query_one(&statement, &[]).map_err(|e| storage("reading max_ts", &e))?;
        Ok(row.get::<_, Option<i64>>(0).map(|ts| Timestamp(ts as u64)))
    }

    fn get_global(&self, key: &str) -> Result<Option<String>> {
        let mut connection = self.readers.checkout()?;
        let statement = connection.statement("SELECT json FROM globals WHERE key = $1")?;
        let rows = connection.client.query(&statement, &[&key]).map_err(|e| storage("reading a global", &e))?;
        Ok(rows.first().map(|row| row.get(0)))
    }
}
