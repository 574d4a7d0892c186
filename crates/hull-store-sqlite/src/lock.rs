//! Single-process ownership of a database: an exclusive `flock` on `<path>.lock`.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use hull_errors::{Error, Result};

/// Held while a [`crate::SqlitePersistence`] is open; the lock goes with the file descriptor.
///
/// `flock` locks belong to an open file description, so the lock is also exclusive between two
/// opens in one process, and the kernel releases it when the owner dies, however it dies. The
/// lock file is never deleted: unlinking it would let a later opener lock a fresh inode while a
/// racing one still holds the old.
pub(crate) struct OwnerLock {
    _file: File,
}

/// `<path>.lock`, next to the database.
pub(crate) fn lock_path(database: &Path) -> PathBuf {
    let mut name = OsString::from(database.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

impl OwnerLock {
    pub(crate) fn acquire(database: &Path) -> Result<OwnerLock> {
        let path = lock_path(database);
        let io_error = |operation: &str, err: std::io::Error| {
            Error::internal(
                "StorageError",
                format!("SQLite store at {}: {operation} {} failed: {err}", database.display(), path.display()),
            )
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|err| io_error("opening the lock file", err))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(in_use(database, &path, &mut file)),
            Err(TryLockError::Error(err)) => return Err(io_error("locking", err)),
        }
        // Record the owner for the error message a later opener prints; best effort only.
        let _ = file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(OwnerLock { _file: file })
    }
}

fn in_use(database: &Path, lock: &Path, file: &mut File) -> Error {
    let mut owner = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut owner));
    let who = match owner.trim().parse::<u32>() {
        Ok(pid) if pid == std::process::id() => "already open in this process".to_string(),
        Ok(pid) => format!("in use by another Hull process (pid {pid})"),
        Err(_) => "in use by another Hull process".to_string(),
    };
    Error::internal(
        "DatabaseInUse",
        format!(
            "the database at {} is {who}: its lock file {} is held. \
             Stop the other process, or point this one at a different database.",
            database.display(),
            lock.display()
        ),
    )
}
