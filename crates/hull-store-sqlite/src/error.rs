//! Turning SQLite failures into [`hull_errors::Error`]s that name the file and the operation.

use std::fmt;
use std::path::Path;

use hull_errors::Error;

/// What an error message says about where it happened: the database file.
#[derive(Clone, Copy)]
pub(crate) struct StorageContext<'a> {
    path: &'a Path,
}

impl<'a> StorageContext<'a> {
    pub(crate) fn new(path: &'a Path) -> StorageContext<'a> {
        StorageContext { path }
    }
}

impl fmt::Display for StorageContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SQLite store at {}", self.path.display())
    }
}

/// An I/O or SQLite failure while doing `operation`.
///
/// SQLite's messages name tables, columns and constraints, never bound values, so document
/// contents cannot leak into the message.
pub(crate) fn storage_error(context: &StorageContext<'_>, operation: &str, err: rusqlite::Error) -> Error {
    Error::internal("StorageError", format!("{context}: {operation} failed: {err}"))
}

/// The stored data breaks an invariant the engine maintains (found while decoding a row).
pub(crate) fn corrupted(context: &StorageContext<'_>, what: impl fmt::Display) -> Error {
    Error::internal("StorageError", format!("{context}: the database is corrupted: {what}"))
}

/// A failed insert of a `what` ("document" or "index") row: a primary key conflict is the
/// caller's duplicate, reported with the same tag as the reference model; anything else is I/O.
pub(crate) fn duplicate_or_storage(context: &StorageContext<'_>, what: &str, err: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err
        && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    {
        return Error::internal(
            "DuplicateRow",
            format!("persistence: duplicate {what} row (the batch was not written)"),
        );
    }
    storage_error(context, &format!("inserting a {what} row"), err)
}
