//! The scheduled-function data model: the `_scheduled_functions` system table and the
//! transactional operations `ctx.scheduler.runAfter`/`runAt`/`cancel` perform on it.
//!
//! Hull stores each job directly in the shape user code reads through
//! `ctx.db.system.query("_scheduled_functions")` (convex `server/schema.ts`'s system schema:
//! `{name, args, scheduledTime, completedTime?, state: {kind, error?}}`), so no virtual-table
//! mapping is needed. The executor (`hull-app`'s scheduler loop) finds due jobs through the
//! index [`BY_STATE_AND_TIME`] (`state.kind`, then `scheduledTime`).
//!
//! Scheduling from a mutation inserts the job in the mutation's own transaction: the job
//! exists iff the mutation commits. Actions schedule in a small transaction of their own.

use std::cell::Cell;

use hull_db::{Document, Query, QueryStream, Transaction};
use hull_errors::{Error, Result};
use hull_values::{DocumentId, Object, Value};

/// The system table of scheduled functions (upstream's developer-visible name).
pub const SCHEDULED_FUNCTIONS_TABLE: &str = "_scheduled_functions";

/// The index the executor scans: `state.kind`, then `scheduledTime` (then `_creationTime`,
/// `_id`), so "pending jobs in due order" and "jobs in progress" are each one range.
pub const BY_STATE_AND_TIME: &str = "by_state_and_time";

/// The index garbage collection reads: finished jobs by `completedTime`.
pub const BY_COMPLETED_TIME: &str = "by_completed_time";

/// Functions one transaction may schedule. Convex knob `TRANSACTION_MAX_NUM_SCHEDULED` = 1000
/// (`crates/common/src/knobs.rs`).
pub const TRANSACTION_MAX_NUM_SCHEDULED: usize = 1000;

/// Total size of the arguments of the functions one transaction schedules. Convex knob
/// `TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES` = 8 MiB.
pub const TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES: usize = 1 << 23;

/// How far from now a job may be scheduled, either way: five years (the convex library's
/// `runAt` documentation: "can't be more than five years in the past or more than five years
/// in the future").
pub const SCHEDULE_MAX_DISTANCE_MS: f64 = 5.0 * 365.25 * 24.0 * 3600.0 * 1000.0;

/// What a failed action whose outcome was lost (Hull stopped while it ran) is marked with;
/// the action is never re-run (at most once). Upstream's text.
pub const TRANSIENT_ACTION_ERROR: &str = "Transient error while executing action";

/// A job's state, as `state.kind` spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its time.
    Pending,
    /// An action that started (mutations never show this state: they run and complete in
    /// one transaction).
    InProgress,
    /// Ran and succeeded.
    Success,
    /// Ran and failed, with the error message.
    Failed(String),
    /// Canceled before it completed.
    Canceled,
}

impl JobState {
    /// `state.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::InProgress => "inProgress",
            JobState::Success => "success",
            JobState::Failed(_) => "failed",
            JobState::Canceled => "canceled",
        }
    }

    /// Whether the job is finished for good.
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobState::Success | JobState::Failed(_) | JobState::Canceled)
    }

    fn to_value(&self) -> Value {
        let mut state = Object::from([("kind".to_owned(), Value::String(self.kind().to_owned()))]);
        if let JobState::Failed(error) = self {
            state.insert("error".to_owned(), Value::String(error.clone()));
        }
        Value::Object(state)
    }

    fn from_value(value: &Value) -> Option<JobState> {
        let Value::Object(state) = value else { return None };
        Some(match state.get("kind")?.as_str()? {
            "pending" => JobState::Pending,
            "inProgress" => JobState::InProgress,
            "success" => JobState::Success,
            "failed" => JobState::Failed(state.get("error").and_then(Value::as_str).unwrap_or_default().to_owned()),
            "canceled" => JobState::Canceled,
            _ => return None,
        })
    }
}

/// One scheduled function.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledJob {
    /// Its document id in [`SCHEDULED_FUNCTIONS_TABLE`].
    pub id: DocumentId,
    /// The function, as upstream names it: `dir/module.js:export`.
    pub name: String,
    /// The arguments object.
    pub args: Value,
    /// When it is due, ms since the epoch (as asked: may be in the past).
    pub scheduled_time: f64,
    /// When it reached a terminal state, ms since the epoch.
    pub completed_time: Option<f64>,
    /// Where it stands.
    pub state: JobState,
}

impl ScheduledJob {
    /// The function's runtime path, `dir/module:export`.
    pub fn runtime_path(&self) -> String {
        match self.name.split_once(':') {
            Some((module, export)) => format!("{}:{export}", module.strip_suffix(".js").unwrap_or(module)),
            None => self.name.clone(),
        }
    }

    /// Parses a stored job; `None` for a document that is not one (never written by Hull).
    pub fn from_document(document: &Document) -> Option<ScheduledJob> {
        let object = document.object();
        let args = match object.get("args")? {
            Value::Array(items) if items.len() == 1 => items[0].clone(),
            _ => return None,
        };
        let completed_time = match object.get("completedTime") {
            Some(Value::Float64(t)) => Some(*t),
            _ => None,
        };
        let Value::Float64(scheduled_time) = object.get("scheduledTime")? else { return None };
        Some(ScheduledJob {
            id: document.id(),
            name: object.get("name")?.as_str()?.to_owned(),
            args,
            scheduled_time: *scheduled_time,
            completed_time,
            state: JobState::from_value(object.get("state")?)?,
        })
    }

    fn to_object(&self) -> Object {
        let mut object = Object::from([
            ("name".to_owned(), Value::String(self.name.clone())),
            ("args".to_owned(), Value::Array(vec![self.args.clone()])),
            ("scheduledTime".to_owned(), Value::Float64(self.scheduled_time)),
            ("state".to_owned(), self.state.to_value()),
        ]);
        if let Some(completed) = self.completed_time {
            object.insert("completedTime".to_owned(), Value::Float64(completed));
        }
        object
    }
}

/// Creates [`SCHEDULED_FUNCTIONS_TABLE`] and its index when they do not exist yet. Returns
/// whether it wrote anything.
pub fn ensure_table(tx: &mut Transaction) -> Result<bool> {
    let mut wrote = false;
    for (index, fields) in [(BY_STATE_AND_TIME, &["state.kind", "scheduledTime"][..]), (BY_COMPLETED_TIME, &["completedTime"][..])] {
        let table = tx.catalog().table_by_name(SCHEDULED_FUNCTIONS_TABLE).map(|t| t.number);
        if table.is_none_or(|number| tx.catalog().index_by_name(number, index).is_none()) {
            tx.create_index(SCHEDULED_FUNCTIONS_TABLE, index, &fields.iter().map(|f| f.to_string()).collect::<Vec<_>>())?;
            wrote = true;
        }
    }
    Ok(wrote)
}

/// Deletes up to `limit` jobs that finished before `cutoff_ms` (garbage collection of the
/// history, as upstream's retention); returns how many it deleted.
pub fn delete_completed_before(tx: &mut Transaction, cutoff_ms: f64, limit: usize) -> Result<usize> {
    if tx.catalog().table_by_name(SCHEDULED_FUNCTIONS_TABLE).is_none() {
        return Ok(0);
    }
    // Jobs without `completedTime` (pending, in progress) sort before null: not in the range.
    let query = Query::from_json(&serde_json::json!({
        "source": {
            "type": "IndexRange",
            "indexName": format!("{SCHEDULED_FUNCTIONS_TABLE}.{BY_COMPLETED_TIME}"),
            "range": [
                {"type": "Gt", "fieldPath": "completedTime", "value": null},
                {"type": "Lt", "fieldPath": "completedTime", "value": cutoff_ms},
            ],
            "order": "asc",
        },
        "operators": [{"limit": limit}],
    }))?;
    let mut stream = QueryStream::open(tx, query)?;
    let mut old = Vec::new();
    while let Some(document) = stream.next(tx)? {
        old.push(document.id());
    }
    for id in &old {
        tx.delete(*id)?;
    }
    Ok(old.len())
}

/// The function name a job stores for the runtime path `dir/module:export`.
pub fn job_name(runtime_path: &str) -> String {
    match runtime_path.split_once(':') {
        Some((module, export)) if !module.ends_with(".js") => format!("{module}.js:{export}"),
        _ => runtime_path.to_owned(),
    }
}

/// What one transaction scheduled so far, checked against Convex's per-transaction limits.
/// Shared by a mutation and the mutations it calls (one transaction, one budget).
#[derive(Debug, Default)]
pub struct ScheduledUsage {
    count: Cell<usize>,
    argument_bytes: Cell<usize>,
}

impl ScheduledUsage {
    /// Functions scheduled so far.
    pub fn count(&self) -> usize {
        self.count.get()
    }

    /// Bytes of their arguments.
    pub fn argument_bytes(&self) -> usize {
        self.argument_bytes.get()
    }

    /// Counts one more job with `args`, or fails with Convex's error when a limit is passed.
    pub fn charge(&self, args: &Value) -> Result<()> {
        if self.count.get() >= TRANSACTION_MAX_NUM_SCHEDULED {
            return Err(Error::bad_request(
                "TooManyFunctionsScheduled",
                format!("Too many functions scheduled by this mutation (limit: {TRANSACTION_MAX_NUM_SCHEDULED})"),
            ));
        }
        let bytes = self.argument_bytes.get() + args.size();
        if bytes > TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES {
            return Err(Error::bad_request(
                "ScheduledFunctionsArgumentsTooLarge",
                format!(
                    "Too large total size of the arguments of scheduled functions from this mutation (limit: \
                     {TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES} bytes)"
                ),
            ));
        }
        self.count.set(self.count.get() + 1);
        self.argument_bytes.set(bytes);
        Ok(())
    }
}

/// Checks a requested time (`ts` in seconds, as the library sends it) against `now_ms` and
/// returns it in ms.
pub fn check_time(ts_seconds: f64, now_ms: f64) -> Result<f64> {
    let ms = ts_seconds * 1000.0;
    if !ms.is_finite() || (ms - now_ms).abs() > SCHEDULE_MAX_DISTANCE_MS {
        return Err(Error::bad_request(
            "InvalidScheduledTime",
            format!(
                "The scheduled time {ts_seconds} (seconds since the epoch) is invalid: a function can't be scheduled more \
                 than five years in the past or more than five years in the future."
            ),
        ));
    }
    Ok(ms)
}

/// Inserts a pending job for `runtime_path` with `args` (an object), due at `scheduled_ms`.
pub fn insert_job(tx: &mut Transaction, runtime_path: &str, args: Value, scheduled_ms: f64) -> Result<DocumentId> {
    tx.insert_system_table(SCHEDULED_FUNCTIONS_TABLE, new_job(runtime_path, args, scheduled_ms, JobState::Pending, None))
}

/// A new job's fields.
fn new_job(runtime_path: &str, args: Value, scheduled_ms: f64, state: JobState, completed_ms: Option<f64>) -> Object {
    let job = ScheduledJob {
        // Not stored: the insert assigns the id.
        id: DocumentId { table_number: 0, internal_id: [0; 16] },
        name: job_name(runtime_path),
        args,
        scheduled_time: scheduled_ms,
        completed_time: completed_ms,
        state,
    };
    job.to_object()
}

/// [`insert_job`] for an action that itself runs as the job `parent`: once the parent was
/// canceled, what it schedules is inserted canceled (upstream: "any new functions it tries to
/// schedule will be canceled").
pub fn insert_child_job(
    tx: &mut Transaction,
    parent: Option<DocumentId>,
    runtime_path: &str,
    args: Value,
    scheduled_ms: f64,
    now_ms: f64,
) -> Result<DocumentId> {
    let parent_canceled = match parent {
        Some(parent) => read_job(tx, parent)?.is_some_and(|job| job.state == JobState::Canceled),
        None => false,
    };
    if !parent_canceled {
        return insert_job(tx, runtime_path, args, scheduled_ms);
    }
    let fields = new_job(runtime_path, args, scheduled_ms, JobState::Canceled, Some(now_ms));
    tx.insert_system_table(SCHEDULED_FUNCTIONS_TABLE, fields)
}

/// Reads the job `id` (`None`: no such job; an id of another table is an error).
pub fn read_job(tx: &mut Transaction, id: DocumentId) -> Result<Option<ScheduledJob>> {
    let table = tx.catalog().table_by_name(SCHEDULED_FUNCTIONS_TABLE).map(|t| t.number);
    if Some(id.table_number) != table {
        return Err(Error::bad_request(
            "InvalidScheduledFunctionId",
            format!("{} is not the ID of a scheduled function (a document of {SCHEDULED_FUNCTIONS_TABLE}).", id.encode()),
        ));
    }
    Ok(tx.get(id)?.as_ref().and_then(ScheduledJob::from_document))
}

/// Moves `job` to `state` in `tx` (a terminal state also sets `completedTime` to `now_ms`).
pub fn set_state(tx: &mut Transaction, job: &ScheduledJob, state: JobState, now_ms: f64) -> Result<()> {
    let mut updated = job.clone();
    if state.is_terminal() {
        updated.completed_time = Some(now_ms);
    }
    updated.state = state;
    tx.replace(job.id, updated.to_object())?;
    Ok(())
}

/// `ctx.scheduler.cancel(id)`: a pending or in-progress job becomes canceled; a finished one
/// stays as it is (as upstream: canceling a completed job is a no-op).
pub fn cancel_job(tx: &mut Transaction, id: DocumentId, now_ms: f64) -> Result<()> {
    let Some(job) = read_job(tx, id)? else { return Ok(()) };
    if matches!(job.state, JobState::Pending | JobState::InProgress) {
        set_state(tx, &job, JobState::Canceled, now_ms)?;
    }
    Ok(())
}

/// Opens a stream over the jobs whose `state.kind` is `kind`, earliest `scheduledTime` first.
/// Only the part of the range the caller consumes enters its read set.
pub fn jobs_in_state(tx: &mut Transaction, kind: &str) -> Result<Option<QueryStream>> {
    if tx.catalog().table_by_name(SCHEDULED_FUNCTIONS_TABLE).is_none() {
        return Ok(None);
    }
    let query = Query::from_json(&serde_json::json!({
        "source": {
            "type": "IndexRange",
            "indexName": format!("{SCHEDULED_FUNCTIONS_TABLE}.{BY_STATE_AND_TIME}"),
            "range": [{"type": "Eq", "fieldPath": "state.kind", "value": kind}],
            "order": "asc",
        },
        "operators": [],
    }))?;
    Ok(Some(QueryStream::open(tx, query)?))
}
