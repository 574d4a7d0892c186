//! A small pool of read-only connections.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use hull_errors::Result;
use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags};

use crate::error::{StorageContext, storage_error};

/// At most this many reads run at once; more wait for a connection. WAL lets each reader run
/// beside the writer; beyond a few, readers only compete for the machine's cores.
pub(crate) const READERS_MAX: usize = 4;

pub(crate) struct ReaderPool {
    path: PathBuf,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections that exist, idle or checked out (or being opened).
    open: usize,
}

impl ReaderPool {
    /// An empty pool; connections are opened on first use.
    pub(crate) fn new(path: &Path) -> ReaderPool {
        ReaderPool {
            path: path.to_path_buf(),
            state: Mutex::new(PoolState { idle: Vec::with_capacity(READERS_MAX), open: 0 }),
            returned: Condvar::new(),
        }
    }

    /// A connection for one read, returned to the pool when the guard drops.
    pub(crate) fn checkout(&self, context: &StorageContext<'_>) -> Result<Reader<'_>> {
        let mut state = self.state.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Reader { pool: self, conn: Some(conn) });
            }
            if state.open < READERS_MAX {
                state.open += 1;
                drop(state);
                return match self.open_reader() {
                    Ok(conn) => Ok(Reader { pool: self, conn: Some(conn) }),
                    Err(err) => {
                        self.state.lock().open -= 1;
                        self.returned.notify_one();
                        Err(storage_error(context, "opening a read connection", err))
                    }
                };
            }
            self.returned.wait(&mut state);
        }
    }

    fn open_reader(&self) -> rusqlite::Result<Connection> {
        // Read-only: a bug in a read path cannot write. The writer connection is always open,
        // so the -wal and -shm files a read-only WAL connection needs exist.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        crate::configure_connection(&conn)?;
        Ok(conn)
    }
}

/// A checked-out read connection.
pub(crate) struct Reader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.state.lock().idle.push(conn);
            self.pool.returned.notify_one();
        }
    }
}
