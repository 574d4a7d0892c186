//! Per-transaction limits, with the values of upstream Convex (`crates/common/src/knobs.rs`,
//! convex-backend commit 94a42c3). Names follow Convex's knobs so they can be grepped against it.

/// Documents a single function execution may read (`TRANSACTION_MAX_READ_SIZE_ROWS`).
pub const TRANSACTION_MAX_READ_SIZE_ROWS: usize = 32_000;
/// Bytes of documents a single function execution may read (`TRANSACTION_MAX_READ_SIZE_BYTES`).
pub const TRANSACTION_MAX_READ_SIZE_BYTES: usize = 1 << 24;
/// Distinct index ranges a single function execution may read (`TRANSACTION_MAX_READ_SET_INTERVALS`).
pub const TRANSACTION_MAX_READ_SET_INTERVALS: usize = 4096;
/// Documents a single function execution may write (`TRANSACTION_MAX_NUM_USER_WRITES`).
pub const TRANSACTION_MAX_NUM_USER_WRITES: usize = 16_000;
/// Bytes of documents a single function execution may write (`TRANSACTION_MAX_USER_WRITE_SIZE_BYTES`).
pub const TRANSACTION_MAX_USER_WRITE_SIZE_BYTES: usize = 1 << 24;
/// Fields in one index, not counting the `_creationTime` and `_id` Convex appends (`MAX_INDEX_FIELDS_SIZE`).
pub const MAX_INDEX_FIELDS: usize = 16;
/// Indexes one table may have (`MAX_USER_INDEXES` per table in `crates/model/src/config/`).
pub const MAX_INDEXES_PER_TABLE: usize = 64;
/// Operators one serialized query may carry (`MAX_QUERY_OPERATORS` in `query.rs`).
pub const MAX_QUERY_OPERATORS: usize = 256;
/// Commits the committer folds into one durable write (group commit). Hull's own bound: large
/// enough that one fsync serves every waiting writer, small enough to bound one write's memory.
pub const COMMIT_GROUP_MAX: usize = 512;
/// Commit requests that may wait for the committer before callers block (backpressure).
pub const COMMIT_QUEUE_CAPACITY: usize = 4096;
/// How far back the in-memory write log reaches. A transaction that began earlier than this
/// cannot be validated and fails with a retryable error (Convex keeps 30 s to 5 min).
pub const WRITE_LOG_RETENTION_NANOS: u64 = 120 * 1_000_000_000;
/// Entries the write log keeps at most, whatever their age, so memory stays bounded.
pub const WRITE_LOG_MAX_COMMITS: usize = 100_000;
/// Rows an index backfill writes per batch.
pub const BACKFILL_BATCH_ROWS: usize = 1000;
/// Keys fetched from persistence per page while a query streams (pages double up to this).
pub const QUERY_PAGE_ROWS: usize = 128;
/// The first page of a query without a limit: most queries without `.take()` return a few
/// dozen documents, which this serves in one scan without reading far past a small result.
pub const QUERY_FIRST_PAGE_ROWS: usize = 32;

/// A page that read more documents than this recommends being split (`SplitRecommended`), so
/// that a reactive paginated query stays well inside the read limits as its pages grow.
pub const PAGE_SPLIT_RECOMMENDED_ROWS: usize = TRANSACTION_MAX_READ_SIZE_ROWS / 4;
/// The same for bytes read.
pub const PAGE_SPLIT_RECOMMENDED_BYTES: usize = TRANSACTION_MAX_READ_SIZE_BYTES / 4;

const _: () = assert!(TRANSACTION_MAX_NUM_USER_WRITES <= TRANSACTION_MAX_READ_SIZE_ROWS);
const _: () = assert!(QUERY_PAGE_ROWS > 0 && BACKFILL_BATCH_ROWS > 0);
