//! A small pool of reader connections.

use std::ops::{Deref, DerefMut};

use hull_errors::Result;
use parking_lot::{Condvar, Mutex};

use crate::Connection;

/// At most this many reads run at once; more wait. Hull reads from a few worker threads.
pub(crate) const READERS_MAX: usize = 4;

pub(crate) struct Pool {
    target: crate::tls::ConnectTarget,
    schema: String,
    state: Mutex<(Vec<Connection>, usize)>,
    returned: Condvar,
}

impl Pool {
    pub(crate) fn new(target: crate::tls::ConnectTarget, schema: &str) -> Pool {
        Pool { target, schema: schema.to_owned(), state: Mutex::new((Vec::new(), 0)), returned: Condvar::new() }
    }

    pub(crate) fn checkout(&self) -> Result<Reader<'_>> {
        let mut state = self.state.lock();
        loop {
            if let Some(connection) = state.0.pop() {
                return Ok(Reader { pool: self, connection: Some(connection) });
            }
            if state.1 < READERS_MAX {
                state.1 += 1;
                drop(state);
                return match Connection::connect(&self.target, &self.schema) {
                    Ok(connection) => Ok(Reader { pool: self, connection: Some(connection) }),
                    Err(error) => {
                        self.state.lock().1 -= 1;
                        self.returned.notify_one();
                        Err(error)
                    }
                };
            }
            self.returned.wait(&mut state);
        }
    }
}

pub(crate) struct Reader<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("held until drop")
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("held until drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut state = self.pool.state.lock();
            if connection.client.is_closed() {
                state.1 -= 1; // a broken connection is dropped, not reused
            } else {
                state.0.push(connection);
            }
            drop(state);
            self.pool.returned.notify_one();
        }
    }
}
