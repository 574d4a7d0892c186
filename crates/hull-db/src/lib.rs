//! `hull-db`: the database engine.
//!
//! It turns a [`hull_store::Persistence`] (an ordered multi-version key-value store) into a
//! Convex database: tables and indexes described by system tables ([`catalog`]), documents with
//! `_id` and `_creationTime` ([`document`]), serializable transactions ([`Transaction`]) that
//! read at a snapshot and record the index intervals they read ([`reads`]), one committer thread
//! that validates those read sets against recent writes, assigns timestamps and group-commits
//! ([`committer`]), schema validation ([`schema`]), and the Convex query language with
//! pagination ([`query`]).
//!
//! Key decision: the engine is synchronous and thread-based. User functions run on worker
//! threads and call into the engine directly; only the committer is a dedicated thread. This
//! keeps the engine free of async runtimes and makes its tests plain `#[test]`s.
//!
//! Architecture invariants: this crate knows nothing about JavaScript, HTTP or the wire
//! protocols; the committer is the only writer of document rows; every value stored has passed
//! `hull_values` validation and, when a schema is active, the schema.
#![deny(missing_docs)]

pub mod catalog;
pub mod committer;
mod database;
pub mod document;
pub mod export;
pub mod limits;
pub mod query;
pub mod reads;
pub mod schema;
pub mod subscription;
mod transaction;
pub mod vector;
pub mod write_log;

pub use database::Database;
pub use document::{Document, FieldPath};
pub use query::{paginate, Page, PageRequest, Query, QueryStream};
pub use schema::Schema;
pub use subscription::Subscription;
pub use transaction::{PatchField, Savepoint, Transaction, Usage};
