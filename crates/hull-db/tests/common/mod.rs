//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use hull_db::Database;
use hull_store::{MemoryPersistence, Persistence};
use hull_store_sqlite::{Durability, SqlitePersistence};
use hull_values::{Object, Value};

/// The engines every engine test runs on: the reference model, SQLite and PostgreSQL.
pub fn engines() -> Vec<(&'static str, Arc<dyn Persistence>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlitePersistence::open(&dir.path().join("db.sqlite3"), Durability::Full).unwrap();
    vec![
        ("memory", Arc::new(MemoryPersistence::new()), None),
        ("sqlite", Arc::new(sqlite), Some(dir)),
        ("postgres", Arc::new(open_postgres(&fresh_postgres_schema())), None),
    ]
}

/// The PostgreSQL test server. Missing is a failure, not a skip: scripts/test.sh starts one.
pub fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: start a test server with `scripts/postgres.sh start` and export the URL it prints, or run ./scripts/test.sh",
    )
}

/// A schema name no other test uses.
pub fn fresh_postgres_schema() -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("hull_db_test_{}_{n}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Opens the PostgreSQL store in `schema` (taking its lease).
pub fn open_postgres(schema: &str) -> hull_store_postgres::PostgresPersistence {
    hull_store_postgres::PostgresPersistence::open(&postgres_url(), schema).unwrap()
}

/// Runs `check` once per engine with a fresh database.
pub fn on_each_engine(check: impl Fn(&str, Database)) {
    for (name, persistence, _dir) in engines() {
        check(name, Database::open(persistence).unwrap());
    }
}

/// Opens (or reopens) the SQLite database in `dir`.
pub fn open_sqlite(dir: &Path) -> Database {
    let persistence = SqlitePersistence::open(&dir.join("db.sqlite3"), Durability::Full).unwrap();
    Database::open(Arc::new(persistence)).unwrap()
}

/// Builds an object from `(name, value)` pairs.
pub fn object(fields: &[(&str, Value)]) -> Object {
    fields.iter().map(|(name, value)| (name.to_string(), value.clone())).collect()
}

pub fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

pub fn f(number: f64) -> Value {
    Value::Float64(number)
}

pub fn i(number: i64) -> Value {
    Value::Int64(number)
}

/// Parses a serialized query written as JSON text.
pub fn query(json: &str) -> hull_db::Query {
    hull_db::Query::from_json(&serde_json::from_str(json).unwrap()).unwrap()
}

/// Collects a query in a fresh read transaction.
pub fn collect(db: &Database, json: &str) -> Vec<hull_db::Document> {
    let mut tx = db.begin();
    collect_in(&mut tx, json)
}

pub fn collect_in(tx: &mut hull_db::Transaction, json: &str) -> Vec<hull_db::Document> {
    let mut stream = hull_db::QueryStream::open(tx, query(json)).unwrap();
    let mut out = Vec::new();
    while let Some(document) = stream.next(tx).unwrap() {
        out.push(document);
    }
    out
}

/// The values of `field` in `documents`.
pub fn field(documents: &[hull_db::Document], name: &str) -> Vec<Value> {
    documents.iter().map(|d| d.object().get(name).cloned().unwrap_or(Value::Null)).collect()
}
