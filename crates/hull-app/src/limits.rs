//! Bounds on the application's loops and queues, with Convex's values where Convex has one.

/// JavaScript worker threads per deployment. Each owns one QuickJS runtime (`!Send`) and runs
/// one function at a time; two keep a long action from blocking every query on a two-core
/// machine without oversubscribing it. Hull's own knob (Convex sizes its isolate pool by cores).
pub const JS_WORKER_COUNT: usize = 2;

/// Calls waiting for or running on one worker before new calls are refused as overloaded, so a
/// burst cannot queue unbounded work behind a slow function.
pub const WORKER_QUEUE_CALLS_MAX: usize = 64;

/// How often a mutation is re-run after an optimistic-concurrency conflict before the conflict
/// reaches the caller. Convex: `UDF_EXECUTOR_OCC_MAX_RETRIES = 4` (`crates/common/src/knobs.rs`).
pub const UDF_EXECUTOR_OCC_MAX_RETRIES: usize = 4;

/// Retries of the deploy transaction on conflicts (it reads the whole `_modules` table and the
/// catalog, so a concurrent write to a table the schema checks can conflict with it).
pub const DEPLOY_OCC_MAX_RETRIES: usize = 4;

/// Modules in one deployment. Convex has no fixed count; this bounds a push's work and the
/// startup scan of `_modules` (every module is one document).
pub const MODULES_MAX: usize = 10_000;

/// Prepared pushes (`start_push` without `finish_push` yet) kept at once; the oldest is
/// forgotten first, and its `finish_push` then fails with `RaceDetected`. A real push also
/// supersedes every earlier real one, so this bounds mostly dry runs. Each entry holds one
/// push's module sources (at most the server's push body limit), so the bound also caps their
/// memory. Hull's own knob (upstream keeps prepared pushes as durable pending schemas and
/// source packages instead).
pub const PENDING_PUSHES_MAX: usize = 4;

/// Function executions kept for log streaming (`npx convex logs`, `dev`); older ones are
/// forgotten, so a client polling less often than this many calls misses some. Hull's own
/// knob (upstream keeps a time-bounded in-memory log of its own).
pub const FUNCTION_LOG_ENTRIES_MAX: usize = 1024;

/// Length of the random request id shown in error messages (`[Request ID: <16 hex>]`), in hex
/// digits, as Convex's (`crates/common/src/http/mod.rs`).
pub const REQUEST_ID_HEX_LEN: usize = 16;

const _: () = assert!(JS_WORKER_COUNT >= 1);
const _: () = assert!(PENDING_PUSHES_MAX >= 2, "a dry run must be able to wait next to the pending real push");
const _: () = assert!(REQUEST_ID_HEX_LEN.is_multiple_of(2));

/// Longest environment variable name, in bytes. Convex: names "cannot be more than 256
/// characters long" (`crates/common/src/types/environment_variables.rs`, and the dashboard docs).
pub const ENV_VAR_NAME_MAX_LENGTH: usize = 256;

/// Largest environment variable value, in bytes: 8 KiB, as Convex's
/// (`crates/common/src/types/environment_variables.rs`).
pub const ENV_VAR_VALUE_MAX_SIZE: usize = 8 * 1024;

/// Environment variables per deployment. Convex knob `ENV_VAR_LIMIT` = 512
/// (`crates/common/src/knobs.rs`).
pub const ENV_VAR_LIMIT: usize = 512;

/// Total bytes of every environment variable's name plus value. Convex knob
/// `ENV_VAR_TOTAL_SIZE_LIMIT` = 512 KiB (`crates/common/src/knobs.rs`).
pub const ENV_VAR_TOTAL_SIZE_LIMIT: usize = 512 * 1024;

/// Retries of an environment variable update on conflicts (it reads the whole table).
pub const ENV_VAR_UPDATE_OCC_MAX_RETRIES: usize = 4;

const _: () = assert!(ENV_VAR_LIMIT * ENV_VAR_VALUE_MAX_SIZE >= ENV_VAR_TOTAL_SIZE_LIMIT, "the total limit is the binding one");

/// Bytes of query results the shared subscription cache keeps (estimated by value size).
/// Convex knob `UDF_CACHE_MAX_SIZE` = 100 MiB (`crates/common/src/knobs.rs`).
pub const QUERY_CACHE_MAX_BYTES: usize = 100 * 1024 * 1024;

/// Entries the shared subscription cache keeps, whatever their size, so many tiny results
/// cannot grow its bookkeeping without bound. Hull's own knob.
pub const QUERY_CACHE_MAX_ENTRIES: usize = 10_000;

/// How long a subscription query waits for an identical one already running before it runs
/// its own (a safety net: a query has its own time limit and normally finishes well before).
pub const QUERY_CACHE_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);
/// Scheduled jobs running at once. Convex knob `SCHEDULED_JOB_EXECUTION_PARALLELISM` = 10
/// (`crates/common/src/knobs.rs`); more due jobs wait for one to finish.
pub const SCHEDULED_JOB_EXECUTION_PARALLELISM: usize = 10;

/// First backoff after a scheduled job hit a conflict or a system error; doubled per retry.
/// Convex knob `SCHEDULED_JOB_INITIAL_BACKOFF_MS` = 10.
pub const SCHEDULED_JOB_INITIAL_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// Longest backoff of a retried scheduled job. Convex knob `SCHEDULED_JOB_MAX_BACKOFF_SECS` =
/// 2 hours.
pub const SCHEDULED_JOB_MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

/// How long finished scheduled jobs stay readable in `_scheduled_functions` before they are
/// deleted. Convex knob `SCHEDULED_JOB_RETENTION` = 1 week.
pub const SCHEDULED_JOB_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 60 * 60);

/// Finished jobs deleted per transaction. Convex knob
/// `SCHEDULED_JOB_GARBAGE_COLLECTION_BATCH_SIZE` = 1000.
pub const SCHEDULED_JOB_GARBAGE_COLLECTION_BATCH_SIZE: usize = 1000;

/// How often the scheduler loop looks for expired jobs (Hull's own: upstream runs a separate
/// collector task). Each look deletes full batches until one comes back short.
pub const SCHEDULED_JOB_GARBAGE_COLLECTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Retries of the scheduler's own small transactions (a job's state change, enqueueing due
/// crons) on conflicts before the attempt is given up and retried with backoff.
pub const SCHEDULER_OCC_MAX_RETRIES: usize = 8;

/// How long a sync-socket mutation's recorded result stays in `_session_requests`, answering a
/// resend of the same `(sessionId, requestId)` instead of a second run. A client resends only
/// the mutations it has no answer for when it reconnects, so this bounds how long a client may
/// stay away (a laptop asleep, a server down) and still get exactly-once; afterwards a resend
/// would run again. Upstream collects the table after a configurable window, by default two
/// weeks (engine design notes §2.4); Hull keeps the same.
pub const SESSION_REQUEST_RETENTION: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 60 * 60);

/// How often, at most, recording a mutation result starts a sweep of expired records. Hull's
/// own: records only need to go eventually, and a sweep reads just the expired part.
pub const SESSION_REQUEST_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Expired records deleted per sweep transaction (like
/// [`SCHEDULED_JOB_GARBAGE_COLLECTION_BATCH_SIZE`]); a sweep goes on until a batch comes back
/// short.
pub const SESSION_REQUEST_SWEEP_BATCH_SIZE: usize = 1000;
