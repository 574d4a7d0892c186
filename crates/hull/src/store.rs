//! Which store a command uses: the embedded SQLite file in the data directory (the default) or
//! a PostgreSQL schema (`--db postgres://user@host/db?schema=NAME`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hull_errors::{Error, Result};
use hull_store::Persistence;
use hull_store_sqlite::{Durability, SqlitePersistence};

/// The SQLite store's file name inside the data directory.
pub const DATABASE_FILE_NAME: &str = "db.sqlite3";
/// The PostgreSQL schema used when the URL names none.
pub const DEFAULT_POSTGRES_SCHEMA: &str = "hull";

/// Where a deployment's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A schema of a PostgreSQL database.
    Postgres {
        /// The connection URL, without Hull's own `schema` parameter (may hold a password).
        url: String,
        /// The schema.
        schema: String,
    },
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "SQLite {}", path.display()),
            // Never the URL: it may carry a password.
            StoreLocation::Postgres { schema, .. } => write!(f, "PostgreSQL schema {schema}"),
        }
    }
}

impl StoreLocation {
    /// `--db` as given (none: SQLite in `data_dir`).
    pub fn parse(db: Option<&str>, data_dir: &Path) -> Result<StoreLocation> {
        let Some(db) = db else { return Ok(StoreLocation::Sqlite(data_dir.join(DATABASE_FILE_NAME))) };
        if let Some(path) = db.strip_prefix("sqlite:") {
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            let (base, query) = db.split_once('?').unwrap_or((db, ""));
            let mut schema = DEFAULT_POSTGRES_SCHEMA.to_owned();
            let mut rest = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("schema", value)) => schema = value.to_owned(),
                    _ => rest.push(pair),
                }
            }
            let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
            return Ok(StoreLocation::Postgres { url, schema });
        }
        Err(Error::bad_request(
            "InvalidDatabaseUrl",
            "--db must be postgres://user@host/database[?schema=NAME] or sqlite:PATH (the default is the SQLite file in --data-dir)",
        ))
    }

    /// Opens the store, taking its writer lock. For PostgreSQL this waits while another Hull
    /// process is the writer (a standby), calling `waiting` once when it starts waiting.
    pub fn open(&self, waiting: &dyn Fn()) -> Result<Arc<dyn Persistence>> {
        match self {
            StoreLocation::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|err| {
                        Error::internal("DataDirectoryError", format!("could not create the data directory {}: {err}", parent.display()))
                    })?;
                }
                Ok(Arc::new(SqlitePersistence::open(path, Durability::Full)?))
            }
            StoreLocation::Postgres { url, schema } => {
                Ok(Arc::new(hull_store_postgres::PostgresPersistence::open_waiting(url, schema, None, waiting)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_store() {
        let dir = Path::new("/data");
        assert_eq!(StoreLocation::parse(None, dir).unwrap(), StoreLocation::Sqlite(PathBuf::from("/data/db.sqlite3")));
        assert_eq!(StoreLocation::parse(Some("sqlite:/x/y.db"), dir).unwrap(), StoreLocation::Sqlite(PathBuf::from("/x/y.db")));
        assert_eq!(
            StoreLocation::parse(Some("postgres://u:secret@h/db?schema=app&sslmode=disable"), dir).unwrap(),
            StoreLocation::Postgres { url: "postgres://u:secret@h/db?sslmode=disable".into(), schema: "app".into() }
        );
        assert_eq!(
            StoreLocation::parse(Some("postgresql://h/db"), dir).unwrap(),
            StoreLocation::Postgres { url: "postgresql://h/db".into(), schema: "hull".into() }
        );
        assert_eq!(StoreLocation::parse(Some("mysql://h/db"), dir).unwrap_err().short, "InvalidDatabaseUrl");
        let debug = format!("{:?}", StoreLocation::parse(Some("postgres://u:secret@h/db"), dir).unwrap());
        assert!(!debug.contains("secret"), "{debug}");
    }
}
