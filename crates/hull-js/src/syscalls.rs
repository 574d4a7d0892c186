//! The database syscalls of queries and mutations, implemented on a [`hull_db::Transaction`].
//!
//! Every op takes and returns JSON text (the library `JSON.stringify`s the arguments and
//! `JSON.parse`s the result). A [`SyscallError::Developer`] becomes a JS exception (sync ops) or
//! a rejected promise (async ops) that user code may catch; a [`SyscallError::System`] ends the
//! request with a system error.

use std::collections::BTreeMap;

use hull_db::{PageRequest, PatchField, Query, QueryStream, Transaction};
use hull_errors::{Code, Error};
use hull_values::{DocumentId, Object, Value};
use serde_json::{Value as Json, json};

use crate::UdfType;

/// Why a syscall failed.
#[derive(Debug)]
pub enum SyscallError {
    /// The developer's fault (bad argument, not allowed here): catchable in JS.
    Developer(String),
    /// The system's fault (storage failed): the request ends.
    System(Error),
    /// A nested function's `ConvexError`: the message and its data (Convex JSON), rethrown
    /// by the library as a `ConvexError`.
    WithData(String, Json),
}

impl From<Error> for SyscallError {
    fn from(error: Error) -> SyscallError {
        match error.code {
            Code::Internal | Code::Unavailable => SyscallError::System(error),
            _ => SyscallError::Developer(error.message),
        }
    }
}

/// A syscall's JSON result.
pub type SyscallResult = Result<Json, SyscallError>;

/// What every function handle starts with (the convex library's `isFunctionHandle`).
pub const FUNCTION_HANDLE_PREFIX: &str = "function://";

/// `createFunctionHandle(ref)`: a string that `ctx.runQuery`/`runMutation`/`runAction` (and,
/// later, the scheduler) accept in place of the reference. It names the function by its path,
/// so it stays valid across deploys as long as the function exists; internal functions may be
/// addressed, as in Convex (a handle is how trusted code passes a callable around).
pub(crate) fn create_function_handle(args: &Json) -> Result<Json, SyscallError> {
    if args.get("reference").is_some() {
        return Err(dev("createFunctionHandle: component references are not supported (this deployment has no components)"));
    }
    let name = arg_str(args, "name", "1.0/createFunctionHandle")?;
    let (module, function) = name.split_once(':').unwrap_or((name, "default"));
    let module = module.strip_suffix(".js").unwrap_or(module);
    if module.is_empty() || function.is_empty() {
        return Err(dev(format!("createFunctionHandle: invalid function name {name:?}")));
    }
    Ok(Json::String(format!("{FUNCTION_HANDLE_PREFIX}{module}:{function}")))
}

/// The function path a handle made by [`create_function_handle`] addresses.
pub(crate) fn function_handle_path(handle: &str) -> Option<&str> {
    handle.strip_prefix(FUNCTION_HANDLE_PREFIX).filter(|path| path.contains(':') && !path.starts_with(':'))
}

/// The system table holding `audit()` records written by mutations.
pub const AUDIT_LOG_TABLE: &str = "_audit_log";

/// Replaces the `{"$var": name}` sentinels the library puts in an audit body by their values:
/// `now` is the mutation's time; `requestId`, `ip`, `userAgent` and `convexActor` are not
/// known to the runtime yet and become null.
fn resolve_audit_vars(value: &Json, now_ms: f64) -> Result<Json, SyscallError> {
    Ok(match value {
        Json::Object(map) if map.len() == 1 && map.contains_key("$var") => match map["$var"].as_str() {
            Some("now") => serde_json::json!(now_ms),
            Some("requestId" | "ip" | "userAgent" | "convexActor") => Json::Null,
            _ => return Err(dev(format!("Unknown audit var {}", map["$var"]))),
        },
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_audit_vars(v, now_ms)?)))
                .collect::<Result<_, SyscallError>>()?,
        ),
        Json::Array(items) => Json::Array(items.iter().map(|v| resolve_audit_vars(v, now_ms)).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

pub(crate) fn dev(message: impl Into<String>) -> SyscallError {
    SyscallError::Developer(message.into())
}

/// A registered query stream: parsed at `queryStream`, opened at the first `queryStreamNext`.
enum Stream {
    Registered(Query),
    Open(QueryStream),
}

/// Per-request syscall state: the function kind and its open queries.
pub struct SyscallState {
    kind: UdfType,
    /// The running function's path, `module:export`.
    function: String,
    /// Queries opened so far (`databaseQueries` in transaction metrics).
    queries_opened: usize,
    streams: BTreeMap<u32, Stream>,
    next_query_id: u32,
    paginated: bool,
    /// What `ctx.auth.getUserIdentity()` returns (`null`: not authenticated).
    identity: Json,
    /// The deployment's key for `ctx.auth.signJwt`.
    jwt_signer: Option<crate::jwt_sign::JwtSigner>,
    /// What the transaction scheduled so far (shared with the functions it calls).
    scheduled: std::rc::Rc<crate::scheduler::ScheduledUsage>,
    /// The `_scheduled_functions` id of the job this request runs for, if any.
    scheduled_job: Option<String>,
}

fn arg<'a>(args: &'a Json, name: &str, op: &str) -> Result<&'a Json, SyscallError> {
    args.get(name).ok_or_else(|| {
        dev(format!(
            "Invalid arguments for {op}: missing field `{name}`"
        ))
    })
}

fn arg_str<'a>(args: &'a Json, name: &str, op: &str) -> Result<&'a str, SyscallError> {
    arg(args, name, op)?.as_str().ok_or_else(|| {
        dev(format!(
            "Invalid arguments for {op}: `{name}` must be a string"
        ))
    })
}

fn parse_id(args: &Json, op: &str, method: &str) -> Result<DocumentId, SyscallError> {
    let id = arg_str(args, "id", op)?;
    DocumentId::decode(id).map_err(|e| {
        dev(format!(
            "Invalid argument `id` for `{method}`: {}",
            e.message
        ))
    })
}

/// The `id` of a write, which must not name a system document: user code reads
/// `_scheduled_functions` (and gets its ids), but only Hull changes it (`ctx.scheduler.cancel`
/// is the way to stop a job).
fn writable_id(tx: &Transaction, args: &Json, op: &str, method: &str) -> Result<DocumentId, SyscallError> {
    let id = parse_id(args, op, method)?;
    if id.table_number < hull_db::catalog::FIRST_USER_TABLE_NUMBER {
        let table = tx.catalog().table(id.table_number).map_or("a system table", |t| t.name.as_str());
        return Err(dev(format!(
            "`{method}` cannot change {}: it is a document of the read-only system table {table}.",
            id.encode()
        )));
    }
    Ok(id)
}

fn user_object(json: &Json, what: &str) -> Result<Object, SyscallError> {
    match Value::from_json(json)? {
        Value::Object(object) => Ok(object),
        other => Err(dev(format!(
            "{what} must be an object, got {}",
            other.type_name()
        ))),
    }
}

impl SyscallState {
    /// State for one request of kind `kind`.
    pub fn new(kind: UdfType, function: &str) -> SyscallState {
        SyscallState {
            kind,
            function: function.to_owned(),
            queries_opened: 0,
            streams: BTreeMap::new(),
            next_query_id: 0,
            paginated: false,
            identity: Json::Null,
            jwt_signer: None,
            scheduled: Default::default(),
            scheduled_job: None,
        }
    }

    /// Sets the transaction's scheduling usage and the job this request runs for.
    pub(crate) fn set_scheduling(&mut self, usage: std::rc::Rc<crate::scheduler::ScheduledUsage>, job: Option<String>) {
        self.scheduled = usage;
        self.scheduled_job = job;
    }

    /// The `_scheduled_functions` id of the job this request runs for.
    pub(crate) fn scheduled_job(&self) -> Option<&str> {
        self.scheduled_job.as_deref()
    }

    /// Sets what `ctx.auth.getUserIdentity()` returns.
    pub(crate) fn set_jwt_signer(&mut self, signer: Option<crate::jwt_sign::JwtSigner>) {
        self.jwt_signer = signer;
    }

    pub(crate) fn set_identity(&mut self, identity: Json) {
        self.identity = identity;
    }

    /// The kind of the function this state serves.
    pub fn kind(&self) -> UdfType {
        self.kind
    }

    fn metrics(&self, tx: &Transaction) -> Json {
        use hull_db::limits::*;
        let usage = tx.usage();
        let metric = |used: usize, limit: usize| json!({ "used": used, "remaining": limit.saturating_sub(used) });
        json!({
            "bytesRead": metric(usage.bytes_read, TRANSACTION_MAX_READ_SIZE_BYTES),
            "bytesWritten": metric(usage.bytes_written, TRANSACTION_MAX_USER_WRITE_SIZE_BYTES),
            "databaseQueries": metric(self.queries_opened, TRANSACTION_MAX_READ_SET_INTERVALS),
            "documentsRead": metric(usage.documents_read, TRANSACTION_MAX_READ_SIZE_ROWS),
            "documentsWritten": metric(usage.documents_written, TRANSACTION_MAX_NUM_USER_WRITES),
            "functionsScheduled": metric(self.scheduled.count(), crate::scheduler::TRANSACTION_MAX_NUM_SCHEDULED),
            "scheduledFunctionArgsBytes": metric(
                self.scheduled.argument_bytes(),
                crate::scheduler::TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES,
            ),
            // File storage is not implemented yet: nothing used, Convex's limits.
            "filesWritten": metric(0, 1000),
            "fileWriteBytes": metric(0, 1 << 30),
            "filesRead": metric(0, 1000),
            "fileReadBytes": metric(0, 1 << 30),
        })
    }

    fn require_mutation(&self, op: &str, method: &str) -> Result<(), SyscallError> {
        match self.kind {
            UdfType::Mutation => Ok(()),
            _ => Err(dev(format!(
                "{op} (`{method}`) is not allowed in a {}: only mutations can write to the database.",
                self.kind.as_str()
            ))),
        }
    }

    fn require_transaction(&self, op: &str) -> Result<(), SyscallError> {
        match self.kind {
            UdfType::Query | UdfType::Mutation => Ok(()),
            _ => Err(dev(format!(
                "{op} is only allowed in queries and mutations"
            ))),
        }
    }

    /// Runs the synchronous op `op` (`Convex.syscall`).
    pub fn sync(&mut self, tx: &mut Transaction, op: &str, args: &Json) -> SyscallResult {
        match op {
            "1.0/queryStream" => {
                self.require_transaction(op)?;
                let query = Query::from_json(arg(args, "query", op)?)?;
                let id = self.next_query_id;
                self.next_query_id += 1;
                self.queries_opened += 1;
                self.streams.insert(id, Stream::Registered(query));
                Ok(json!({ "queryId": id }))
            }
            "1.0/queryCleanup" => {
                let id = query_id(args, op)?;
                Ok(Json::Bool(self.streams.remove(&id).is_some()))
            }
            "1.0/db/normalizeId" => {
                self.require_transaction(op)?;
                let table = arg_str(args, "table", op)?;
                let id = arg_str(args, "idString", op)?;
                Ok(json!({ "id": tx.normalize_id(table, id).map(|id| id.encode()) }))
            }
            "1.0/getSnapshotTs" => {
                self.require_transaction(op)?;
                Ok(Value::Int64(tx.begin_ts().0 as i64).to_json())
            }
            _ => Err(dev(format!("Unknown operation {op}"))),
        }
    }

    /// Runs the asynchronous op `op` (`Convex.asyncSyscall`).
    pub fn run_async(&mut self, tx: &mut Transaction, op: &str, args: &Json) -> SyscallResult {
        match op {
            "1.0/get" => {
                self.require_transaction(op)?;
                let id = parse_id(args, op, "db.get")?;
                if let Some(table) = args.get("table").and_then(Json::as_str)
                    && tx.normalize_id(table, &id.encode()).is_none()
                {
                    return Err(dev(format!(
                        "Invalid argument `id` for `db.get`: the ID \"{}\" does not belong to the table \"{table}\"",
                        id.encode()
                    )));
                }
                Ok(tx
                    .get(id)?
                    .map_or(Json::Null, |doc| doc.to_value().to_json()))
            }
            "1.0/insert" => {
                self.require_mutation(op, "db.insert")?;
                let table = arg_str(args, "table", op)?;
                let value = user_object(arg(args, "value", op)?, "The inserted value")?;
                let id = tx.insert(table, value)?;
                Ok(json!({ "_id": id.encode() }))
            }
            "1.0/shallowMerge" => {
                self.require_mutation(op, "db.patch")?;
                let id = writable_id(tx, args, op, "db.patch")?;
                let value = arg(args, "value", op)?;
                let fields = value
                    .as_object()
                    .ok_or_else(|| dev("The patch value must be an object"))?;
                let mut patch = BTreeMap::new();
                for (name, field) in fields {
                    let change = if is_undefined(field) {
                        PatchField::Remove
                    } else {
                        PatchField::Set(Value::from_json(field)?)
                    };
                    patch.insert(name.clone(), change);
                }
                Ok(tx.patch(id, patch)?.to_value().to_json())
            }
            "1.0/replace" => {
                self.require_mutation(op, "db.replace")?;
                let id = writable_id(tx, args, op, "db.replace")?;
                let value = user_object(arg(args, "value", op)?, "The replacement value")?;
                Ok(tx.replace(id, value)?.to_value().to_json())
            }
            "1.0/remove" => {
                self.require_mutation(op, "db.delete")?;
                let id = writable_id(tx, args, op, "db.delete")?;
                Ok(tx.delete(id)?.to_value().to_json())
            }
            "1.0/queryStreamNext" => {
                self.require_transaction(op)?;
                let id = query_id(args, op)?;
                let stream = match self.streams.remove(&id) {
                    Some(Stream::Open(stream)) => stream,
                    Some(Stream::Registered(query)) => QueryStream::open(tx, query)?,
                    None => {
                        return Err(dev(format!(
                            "Query {id} not found (it was already cleaned up or finished)"
                        )));
                    }
                };
                let mut stream = stream;
                match stream.next(tx)? {
                    Some(doc) => {
                        self.streams.insert(id, Stream::Open(stream));
                        Ok(json!({ "value": doc.to_value().to_json(), "done": false }))
                    }
                    None => Ok(json!({ "value": null, "done": true })),
                }
            }
            "1.0/queryPage" => {
                self.require_transaction(op)?;
                if self.paginated {
                    return Err(dev(
                        "This query or mutation function ran multiple paginated queries. Convex only supports a single paginated query in each function.",
                    ));
                }
                self.paginated = true;
                let query = Query::from_json(arg(args, "query", op)?)?;
                let cursor = args.get("cursor").and_then(Json::as_str).map(str::to_owned);
                let end_cursor = args
                    .get("endCursor")
                    .and_then(Json::as_str)
                    .map(str::to_owned);
                let page_size = arg(args, "pageSize", op)?
                    .as_f64()
                    .ok_or_else(|| dev("pageSize must be a number"))?;
                if page_size.is_nan() || page_size < 0.0 {
                    return Err(dev("paginate: numItems must be greater than 0"));
                }
                let maximum_rows_read = args
                    .get("maximumRowsRead")
                    .and_then(Json::as_f64)
                    .map(|n| n.max(0.0) as usize);
                let request = PageRequest {
                    cursor,
                    end_cursor,
                    page_size: page_size as usize,
                    maximum_rows_read,
                };
                let page = hull_db::paginate(tx, query, &request)?;
                Ok(json!({
                    "page": page.page.iter().map(|doc| doc.to_value().to_json()).collect::<Vec<_>>(),
                    "isDone": page.is_done,
                    "continueCursor": page.continue_cursor,
                    "splitCursor": page.split_cursor,
                    "pageStatus": page.page_status,
                }))
            }
            "1.0/getUserIdentity" => Ok(self.identity.clone()),
            "1.0/getFunctionMetadata" => Ok(json!({ "name": self.function, "componentPath": "" })),
            "1.0/getDeploymentMetadata" => Ok(deployment_metadata()),
            "1.0/getTransactionMetrics" => {
                self.require_transaction(op)?;
                Ok(self.metrics(tx))
            }
            "1.0/getRequestMetadata" => {
                if self.kind == UdfType::Query {
                    return Err(dev(
                        "getRequestMetadata() is only available in mutations and actions",
                    ));
                }
                Ok(request_metadata(self.scheduled_job()))
            }
            "1.0/count" => {
                self.require_transaction(op)?;
                let table = arg_str(args, "table", op)?;
                let Some(number) = tx.catalog().table_by_name(table).map(|t| t.number) else {
                    return Ok(json!(0));
                };
                self.queries_opened += 1;
                // Counting reads the whole table (and records it in the read set, so the count
                // is invalidated by any insert or delete), like a full scan.
                let mut stream = QueryStream::full_table(tx, number, hull_store::Order::Asc)?;
                let mut count = 0u64;
                while stream.next(tx)?.is_some() {
                    count += 1;
                }
                Ok(json!(count))
            }
            "1.0/createFunctionHandle" => create_function_handle(args),
            "1.0/signJwt" => {
                // MutationAuth only: the library exposes signJwt on mutation contexts.
                if self.kind != UdfType::Mutation {
                    return Err(dev("ctx.auth.signJwt is only available in mutations"));
                }
                let signer = self.jwt_signer.as_ref().ok_or_else(|| dev("ctx.auth.signJwt: this deployment has no signing key configured"))?;
                // Issued at the transaction's snapshot, like Date.now() in a mutation, so a retry
                // signs the same token.
                let now_seconds = tx.begin_ts().0 / 1_000_000_000;
                let expires = args.get("expiresInSeconds").unwrap_or(&Json::Null);
                signer.sign(args.get("claims"), expires, now_seconds).map(Json::String).map_err(dev)
            }
            "1.0/auditLog" => {
                if self.kind != UdfType::Mutation {
                    return Err(dev("Audit logs can only be written from mutations."));
                }
                let body = arg(args, "body", op)?.as_object().ok_or_else(|| dev("Invalid arguments for 1.0/auditLog: `body` must be an object"))?;
                // Stored in the mutation's own transaction: the record exists iff the mutation
                // commits. `{"$var": name}` sentinels are resolved here.
                let now_ms = (tx.begin_ts().0 / 1_000_000) as f64;
                let resolved = resolve_audit_vars(&Json::Object(body.clone()), now_ms)?;
                let body = hull_values::Value::from_json(&resolved).map_err(|e| dev(format!("Invalid audit log body: {}", e.message)))?;
                let fields = hull_values::Object::from([
                    ("function".to_owned(), hull_values::Value::String(self.function.clone())),
                    ("at".to_owned(), hull_values::Value::Float64(now_ms)),
                    ("body".to_owned(), body),
                ]);
                tx.insert_system_table(AUDIT_LOG_TABLE, fields)?;
                Ok(Json::Null)
            }
            "1.0/storageStore" | "1.0/storageGet" => {
                Err(dev(format!("{op}: file storage is not supported yet")))
            }
            // Scheduling needs the runtime (to check the target function): the engine runs it.
            "1.0/schedule" => Err(dev("1.0/schedule is not available here")),
            "1.0/cancel_job" => {
                self.require_mutation(op, "scheduler.cancel")?;
                let id = job_id(args, op)?;
                // The mutation's clock (its snapshot), like Date.now() in it.
                let now_ms = (tx.begin_ts().0 / 1_000_000) as f64;
                crate::scheduler::cancel_job(tx, id, now_ms)?;
                Ok(Json::Null)
            }
            "1.0/storageGetUrl"
            | "1.0/storageGetMetadata"
            | "1.0/storageGenerateUploadUrl"
            | "1.0/storageDelete" => Err(dev(format!("{op}: file storage is not supported yet"))),
            // The engine handles runUdf: it owns the runtime that runs the callee.
            "1.0/runUdf" => Err(dev("1.0/runUdf is not available here")),
            other if other.starts_with("1.0/actions/") => {
                Err(dev(format!("{other} is only available in actions")))
            }
            _ => Err(dev(format!("Unknown async operation {op}"))),
        }
    }
}

/// `ctx.meta.getDeploymentMetadata()`: a local Hull deployment.
pub(crate) fn deployment_metadata() -> Json {
    json!({ "name": "hull", "region": null, "class": "s16" })
}

/// `ctx.meta.getRequestMetadata()`: the scheduled job the request runs for; the other request
/// details are not plumbed through yet.
pub(crate) fn request_metadata(scheduled_job: Option<&str>) -> Json {
    json!({ "ip": null, "userAgent": null, "requestId": "", "scheduledFunctionId": scheduled_job, "authToken": null })
}

/// The scheduled function id of a cancel op.
pub(crate) fn job_id(args: &Json, op: &str) -> Result<DocumentId, SyscallError> {
    parse_id(args, op, "scheduler.cancel")
}

fn query_id(args: &Json, op: &str) -> Result<u32, SyscallError> {
    arg(args, "queryId", op)?
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| {
            dev(format!(
                "Invalid arguments for {op}: queryId must be a number"
            ))
        })
}

fn is_undefined(json: &Json) -> bool {
    json.as_object()
        .is_some_and(|o| o.len() == 1 && o.get("$undefined").is_some_and(Json::is_null))
}
