//! `hull-store`: the persistence boundary.
//!
//! Hull stores a deployment as two append-only relations, exactly as upstream Convex does:
//! a **document log** (one [`DocumentRow`] per revision, keyed by commit timestamp) and
//! **multi-version index rows** (one [`IndexRow`] per change of an index key, tombstones for
//! keys that stop pointing at a document). A read at snapshot `ts` sees, for each index key,
//! the newest row with `row.ts <= ts`, unless that row is a tombstone.
//!
//! Key decision: an engine behind [`Persistence`] is a dumb, ordered, multi-version key-value
//! store. It knows nothing about values, tables, schemas, transactions or conflicts; all of that
//! lives in `hull-db`. The trait is small (a handful of methods) and synchronous, so that the
//! SQLite and PostgreSQL engines cannot diverge semantically and one conformance suite
//! ([`testkit`], feature `testkit`) proves each of them against [`MemoryPersistence`], the
//! reference model.
//!
//! Architecture invariant: this crate knows nothing about Convex values or JSON: keys are
//! opaque byte strings ordered bytewise, documents are opaque text.
#![deny(missing_docs)]

mod memory;
mod types;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use memory::MemoryPersistence;
pub use types::*;

use hull_errors::Result;

/// An ordered, multi-version store of document revisions and index rows.
///
/// Implementations must be safe to call from many threads; `hull-db` calls [`Persistence::write`]
/// from its single committer thread only, and reads from any thread.
pub trait Persistence: Send + Sync + 'static {
    /// Atomically and durably writes one batch (the rows of one or more commits, plus globals).
    ///
    /// Either every row is stored or none is. Returns only once the batch is durable (as durable
    /// as the engine is configured to be). Writing a document row whose `(ts, table, id)` or an
    /// index row whose `(index, key, ts)` already exists is an error and writes nothing.
    fn write(&self, batch: &WriteBatch) -> Result<()>;

    /// Writes index rows computed by an index backfill. Unlike [`Persistence::write`], a row
    /// whose `(index, key, ts)` already exists is skipped, so a backfill can be resumed or
    /// can race the committer without harm. Atomic and durable like `write`.
    fn write_index_backfill(&self, rows: &[IndexRow]) -> Result<()>;

    /// Reads one page of the index `index` as of snapshot `ts`, within `range`, in `order`.
    ///
    /// For each key in the range, the newest row with `row.ts <= ts` is taken; keys whose
    /// newest row is a tombstone are skipped. At most `limit` entries are returned (`limit > 0`).
    /// [`ScanPage::resume_after`] is `None` when the range holds nothing more; otherwise it is
    /// the last key examined, and the caller continues with [`KeyRange::after`]. A page may hold
    /// fewer than `limit` entries even when the range is not exhausted.
    fn index_scan(
        &self,
        index: IndexId,
        ts: Timestamp,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<ScanPage>;

    /// Every document revision with `ts` in `(after, up_to]`, ordered by `(ts, table, id)`,
    /// at most `limit` rows. Used at startup, by export and by the model checks.
    fn load_documents(
        &self,
        after: Option<Timestamp>,
        up_to: Timestamp,
        limit: usize,
    ) -> Result<Vec<DocumentRow>>;

    /// The greatest `ts` of any document row, or `None` for an empty store.
    fn max_ts(&self) -> Result<Option<Timestamp>>;

    /// Reads a small named global (JSON text, written through [`WriteBatch::globals`]).
    fn get_global(&self, key: &str) -> Result<Option<String>>;
}
