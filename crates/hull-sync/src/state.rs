//! The version bookkeeping of one socket (wire spec 6.5).
//!
//! The client checks that every Transition starts exactly where the previous one ended, and
//! numbers its own query-set and identity changes. This module holds the "received" side: the
//! queries the client asked for and the versions it has reached, and refuses changes that do
//! not chain (which the server answers with a FatalError).

use std::collections::BTreeMap;

use crate::protocol::{ProtocolError, QueryModification};

/// A subscribed query, as the client asked for it.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySpec {
    /// The function path as spelled by the client.
    pub udf_path: String,
    /// The arguments (one Convex-JSON object in an array).
    pub args: Vec<serde_json::Value>,
    /// The journal the client sent back, if any.
    pub journal: Option<String>,
    /// A component path (admin only).
    pub component_path: Option<String>,
}

/// The most queries one socket may subscribe to at once; one more is refused with "Too many
/// queries on one connection" (a FatalError). Hull's own bound: neither the reference notes nor
/// the 1.48 client source name an upstream number, and a browser tab rarely has more than a few
/// hundred. Each query holds a subscription and its last result on the server.
pub const MAX_QUERIES_PER_SOCKET: usize = 10_000;

/// The client's query set and versions, as received.
#[derive(Clone, Debug, Default)]
pub struct ReceivedState {
    query_set_version: u32,
    identity_version: u32,
    queries: BTreeMap<u32, QuerySpec>,
}

/// What a ModifyQuerySet changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuerySetChange {
    /// Queries added (to run).
    pub added: Vec<u32>,
    /// Queries removed (to answer with QueryRemoved).
    pub removed: Vec<u32>,
}

fn error(message: String) -> ProtocolError {
    ProtocolError { message }
}

impl ReceivedState {
    /// The query-set version received so far.
    pub fn query_set_version(&self) -> u32 {
        self.query_set_version
    }

    /// The identity version received so far.
    pub fn identity_version(&self) -> u32 {
        self.identity_version
    }

    /// The subscribed queries.
    pub fn queries(&self) -> &BTreeMap<u32, QuerySpec> {
        &self.queries
    }

    /// Applies a ModifyQuerySet, all or nothing.
    pub fn modify_query_set(&mut self, base_version: u32, new_version: u32, modifications: Vec<QueryModification>) -> Result<QuerySetChange, ProtocolError> {
        if base_version != self.query_set_version {
            return Err(error(format!(
                "BaseVersionMismatch: ModifyQuerySet has base version {base_version}, but the server is at query set version {}",
                self.query_set_version
            )));
        }
        if new_version <= base_version {
            return Err(error(format!("ModifyQuerySet new version {new_version} is not greater than its base version {base_version}")));
        }
        let mut queries = self.queries.clone();
        let mut change = QuerySetChange::default();
        for modification in modifications {
            match modification {
                QueryModification::Add { query_id, udf_path, args, journal, component_path } => {
                    if queries.contains_key(&query_id) {
                        return Err(error(format!("Duplicate query id {query_id}")));
                    }
                    queries.insert(query_id, QuerySpec { udf_path, args, journal: journal.flatten(), component_path });
                    change.added.push(query_id);
                }
                QueryModification::Remove { query_id } => {
                    if queries.remove(&query_id).is_none() {
                        return Err(error(format!("Unknown query id {query_id}")));
                    }
                    change.added.retain(|id| *id != query_id);
                    change.removed.push(query_id);
                }
            }
        }
        if queries.len() > MAX_QUERIES_PER_SOCKET {
            return Err(error(format!("Too many queries on one connection: {} (at most {MAX_QUERIES_PER_SOCKET})", queries.len())));
        }
        self.queries = queries;
        self.query_set_version = new_version;
        Ok(change)
    }

    /// Accepts an Authenticate with `base_version`; returns the new identity version.
    pub fn modify_identity(&mut self, base_version: u32) -> Result<u32, ProtocolError> {
        if base_version != self.identity_version {
            return Err(error(format!(
                "BaseVersionMismatch: Authenticate has base version {base_version}, but the server is at identity version {}",
                self.identity_version
            )));
        }
        self.identity_version += 1;
        Ok(self.identity_version)
    }
}
