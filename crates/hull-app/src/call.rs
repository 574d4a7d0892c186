//! Function calls: resolve the path, apply Convex's visibility rules, run the function on a
//! worker (queries in a read transaction, mutations with conflict retries, actions outside
//! transactions).

use std::sync::Arc;
use std::time::Duration;

use hull_errors::{Code, Error, Result};
use hull_js::{FunctionOutcome, JsError, LogLine, UdfType, Visibility};
use hull_values::Value;

use crate::deployment::{Deployment, FunctionInfo};
use crate::limits::{REQUEST_ID_HEX_LEN, UDF_EXECUTOR_OCC_MAX_RETRIES};
use crate::session_requests::{self, SessionRequest};
use crate::{Application, FunctionPath};

/// First backoff after a mutation conflict; doubled per retry, with jitter.
const OCC_BACKOFF_INITIAL: Duration = Duration::from_millis(10);

/// The message for `/api/function` callers without admin rights (upstream `bad_admin_key`'s
/// deploy-key text, wire protocols §5.1: `must_be_admin` answers 403 `BadDeployKey`).
pub const NOT_ADMIN_MESSAGE: &str = "The provided deploy key was invalid for this deployment. Double check that the \
     environment this key was generated for matches the desired deployment.";

/// The attributes of a user identity an admin acts as (`UserIdentityAttributes` JSON).
#[derive(Clone, Debug, PartialEq)]
pub struct UserIdentity(pub serde_json::Map<String, serde_json::Value>);

impl UserIdentity {
    /// Checks acting-as attributes as Convex does: they need a `tokenIdentifier`, or both
    /// `issuer` and `subject` (then `tokenIdentifier` is `issuer|subject`); every other field
    /// is a claim functions see.
    pub fn from_attributes(mut attributes: serde_json::Map<String, serde_json::Value>) -> Result<UserIdentity> {
        let text = |name: &str| attributes.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if text("tokenIdentifier").is_none() {
            let (Some(issuer), Some(subject)) = (text("issuer"), text("subject")) else {
                return Err(Error::bad_request(
                    "HeaderParseFailure",
                    "The identity to act as needs a tokenIdentifier, or both an issuer and a subject.",
                ));
            };
            attributes.insert("tokenIdentifier".into(), format!("{issuer}|{subject}").into());
        }
        Ok(UserIdentity(attributes))
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// A valid admin key, optionally acting as a user.
    Admin {
        /// The identity to act as.
        acting_as: Option<UserIdentity>,
    },
    /// A server key (or a token derived from one): may call the functions its scope allows,
    /// internal ones included, and nothing else.
    ServerKey(crate::server_keys::ServerKeyCaller),
    /// An end user whose JWT a provider of `auth.config.js` issued.
    User(crate::user_auth::UserCaller),
}

/// Where a request comes from: recorded in server-key audit entries, and used to refuse server
/// keys presented by a browser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// The client's socket address, when known.
    pub client_address: Option<String>,
    /// The request carries a header only browsers send ([`BROWSER_ONLY_HEADERS`]).
    pub from_browser: bool,
}

/// Headers only browsers send: every browser request carries `Sec-Fetch-Site` (and `Dest`), and
/// every cross-origin or WebSocket request an `Origin`. `Sec-Fetch-Mode` is not among them:
/// Node's own `fetch` (undici) sends `sec-fetch-mode: cors` from servers too.
pub const BROWSER_ONLY_HEADERS: [&str; 4] = ["origin", "sec-fetch-site", "sec-fetch-dest", "sec-fetch-user"];

impl RequestOrigin {
    /// The origin of a request with these header names (any case), from `client_address`.
    pub fn from_headers<'a>(names: impl IntoIterator<Item = &'a str>, client_address: Option<String>) -> RequestOrigin {
        let from_browser = names.into_iter().any(|name| BROWSER_ONLY_HEADERS.iter().any(|b| b.eq_ignore_ascii_case(name)));
        RequestOrigin { client_address, from_browser }
    }
}

impl Caller {
    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin { .. })
    }

    /// What `ctx.auth.getUserIdentity()` returns in the functions this caller runs.
    fn identity(&self) -> Option<serde_json::Value> {
        let acting_as = match self {
            Caller::Anonymous => None,
            Caller::Admin { acting_as } => acting_as.as_ref(),
            Caller::ServerKey(key) => key.acting_as(),
            Caller::User(user) => return Some(user.identity()),
        };
        acting_as.map(|identity| serde_json::Value::Object(identity.0.clone()))
    }
}

/// The kind of function a caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// `/api/query`.
    Query,
    /// `/api/mutation`.
    Mutation,
    /// `/api/action`.
    Action,
    /// `/api/run/{path}`: whatever kind the function is.
    Any,
    /// `/api/function` (what `npx convex run` uses): whatever kind the function is; admins
    /// only, and a missing function gets upstream's `any_udf` text.
    AdminAny,
}

/// A function's failure, as the caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionError {
    /// `Uncaught Error: boom`, `Could not find public function for ...`, etc.
    pub message: String,
    /// JS stack frames, when known.
    pub stack: Option<String>,
    /// The `ConvexError`'s data.
    pub data: Option<Value>,
}

impl From<JsError> for FunctionError {
    fn from(error: JsError) -> FunctionError {
        FunctionError { message: error.message, stack: error.stack, data: error.data }
    }
}

/// The result of one call.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutcome {
    /// Random hex id of this request (`[Request ID: <id>]` in error messages).
    pub request_id: String,
    /// The value, or the error user code (or the path) caused.
    pub result: std::result::Result<Value, FunctionError>,
    /// Captured console output.
    pub logs: Vec<LogLine>,
}

/// A call that passed [`Application::resolve`]'s checks.
pub(crate) struct Resolved {
    /// The deployment it resolved in (it has workers); the call runs on it even if a push
    /// replaces it meanwhile.
    pub deployment: Arc<Deployment>,
    pub info: FunctionInfo,
    pub runtime_path: String,
    /// The single arguments object.
    pub args: serde_json::Value,
    /// What `ctx.auth.getUserIdentity()` returns in the call.
    pub identity: Option<serde_json::Value>,
}

/// What [`Application::resolve`] decided.
pub(crate) enum Resolution {
    /// Run this function.
    Run(Resolved),
    /// Answer this without running anything.
    Answer(std::result::Result<Value, FunctionError>),
}

/// When an execution started, for its log entry.
pub(crate) struct ExecutionStart {
    instant: std::time::Instant,
    wall_ms: f64,
}

impl ExecutionStart {
    pub(crate) fn now() -> ExecutionStart {
        ExecutionStart { instant: std::time::Instant::now(), wall_ms: crate::logs::now_ms() as f64 }
    }
}

impl Application {
    /// Calls the function at `path` with `args` (one Convex-JSON object) as `caller`.
    ///
    /// `args` is one Convex-JSON object, or an array holding one (the positional form clients
    /// send).
    ///
    /// `Err` is for failures that are not the function's: `CallKind::AdminAny` by a non-admin (403
    /// `BadDeployKey`, as upstream's `/api/function`), overload, storage errors, conflicts that
    /// outlived every retry. Everything the path, the arguments or user code cause is in the
    /// outcome. Blocks until the function finishes.
    pub fn call(&self, caller: &Caller, kind: CallKind, path: &FunctionPath, args: serde_json::Value) -> Result<CallOutcome> {
        self.call_with_commit_ts(caller, kind, path, args).map(|(outcome, _)| outcome)
    }

    /// [`Application::call`], also returning the commit timestamp of a mutation that succeeded
    /// (its snapshot timestamp if it wrote nothing): the sync protocol's `MutationResponse`
    /// carries it, and the client waits for a Transition at or after it.
    pub fn call_with_commit_ts(
        &self,
        caller: &Caller,
        kind: CallKind,
        path: &FunctionPath,
        args: serde_json::Value,
    ) -> Result<(CallOutcome, Option<hull_store::Timestamp>)> {
        self.call_once(caller, kind, path, args, None)
    }

    /// [`Application::call_with_commit_ts`] for a call a sync client may send again under the
    /// same `session_request` after reconnecting: a mutation that succeeds is recorded durably
    /// in its own transaction (`_session_requests`, see `session_requests.rs`), and a call whose
    /// record exists is answered from it — the recorded value and log lines, and the original
    /// commit timestamp — without running again, before or after a restart. Exactly once.
    pub fn call_session_request(
        &self,
        caller: &Caller,
        kind: CallKind,
        path: &FunctionPath,
        args: serde_json::Value,
        session_request: &SessionRequest,
    ) -> Result<(CallOutcome, Option<hull_store::Timestamp>)> {
        self.call_once(caller, kind, path, args, Some(session_request))
    }

    fn call_once(
        &self,
        caller: &Caller,
        kind: CallKind,
        path: &FunctionPath,
        args: serde_json::Value,
        session_request: Option<&SessionRequest>,
    ) -> Result<(CallOutcome, Option<hull_store::Timestamp>)> {
        let request_id = request_id();
        let resolved = match self.resolve(caller, kind, path, args, &request_id)? {
            Resolution::Run(resolved) => resolved,
            Resolution::Answer(result) => return Ok((CallOutcome { request_id, result, logs: Vec::new() }, None)),
        };
        let Resolved { deployment, info, runtime_path, args, identity } = resolved;
        let workers = deployment.workers.as_ref().expect("resolve only runs deployed functions");
        let database = self.inner.database.clone();
        let started = ExecutionStart::now();
        let (FunctionOutcome { result, logs }, commit_ts) = match info.udf_type {
            UdfType::Query => (
                workers.run(move |runtime| {
                    let mut tx = database.begin();
                    runtime.with_user_identity(identity, |runtime| runtime.run_query(&runtime_path, &args, &mut tx))
                })?,
                None,
            ),
            UdfType::Mutation => match self.run_mutation(workers, runtime_path, args, identity, session_request)? {
                MutationRun::Ran(outcome, commit_ts) => (outcome, commit_ts),
                // Not an execution: nothing ran, so nothing goes to the function log.
                MutationRun::Replayed(recorded) => {
                    if let Some(request) = session_request {
                        tracing::debug!(session = %request.session_id, request = request.request_id, "mutation resend answered from {}", session_requests::SESSION_REQUESTS_TABLE);
                    }
                    let outcome = CallOutcome { request_id, result: Ok(recorded.value), logs: recorded.logs };
                    return Ok((outcome, Some(recorded.commit_ts)));
                }
            },
            UdfType::Action => (
                workers.run(move |runtime| runtime.with_user_identity(identity, |runtime| runtime.run_action(&runtime_path, &args, &database)))?,
                None,
            ),
            UdfType::HttpAction => unreachable!("resolve refuses HTTP actions"),
        };
        let result = result.map_err(FunctionError::from);
        self.record_execution(info.udf_type, path, &started, &result, &logs, &request_id);
        Ok((CallOutcome { request_id, result, logs }, commit_ts))
    }

    /// Applies the visibility rules, the kind check and the argument shape to a call, before
    /// anything runs: either the function to run, or the answer the caller gets instead (a
    /// natively answered system query, or the error a missing, invisible or mismatched
    /// function gives). `Err` for `CallKind::AdminAny` by a caller without a key, for a user
    /// token that expired, and for a server key that stopped working or is over its rate limit;
    /// a server key's decision is audited under `request_id`.
    pub(crate) fn resolve(
        &self,
        caller: &Caller,
        kind: CallKind,
        path: &FunctionPath,
        args: serde_json::Value,
        request_id: &str,
    ) -> Result<Resolution> {
        if kind == CallKind::AdminAny && matches!(caller, Caller::Anonymous | Caller::User(_)) {
            return Err(Error::new(Code::Forbidden, "BadDeployKey", NOT_ADMIN_MESSAGE));
        }
        if let Caller::User(user) = caller {
            self.revalidate_user(user)?;
        }
        let fail = |message: String| Ok(Resolution::Answer(Err(FunctionError { message, stack: None, data: None })));
        if caller.is_admin()
            && path.is_system()
            && matches!(kind, CallKind::Query | CallKind::Any | CallKind::AdminAny)
            && let Some(result) = self.system_query(&path.runtime_path(), &args)
        {
            return Ok(Resolution::Answer(result));
        }
        let deployment = self.current();
        let runtime_path = path.runtime_path();
        let info = deployment.functions.get(&runtime_path).copied().filter(|_| !path.is_dependency_chunk());
        let visible = match (caller, info) {
            (Caller::ServerKey(key), info) => self.authorize_server_key_call(key, path, info.map(|i| i.udf_type), request_id)?,
            (_, Some(info)) => caller.is_admin() || (info.visibility == Visibility::Public && !path.is_system()),
            (_, None) => false,
        };
        // A server key sees the public text whichever route it used.
        let kind = match (caller, kind) {
            (Caller::ServerKey(_), CallKind::AdminAny) => CallKind::Any,
            _ => kind,
        };
        let (Some(info), true, true) = (info, visible, deployment.workers.is_some()) else {
            return fail(missing_function_message(kind, path));
        };
        let wanted = match kind {
            CallKind::Query => Some(UdfType::Query),
            CallKind::Mutation => Some(UdfType::Mutation),
            CallKind::Action => Some(UdfType::Action),
            CallKind::Any | CallKind::AdminAny => None,
        };
        if let Some(wanted) = wanted
            && wanted != info.udf_type
        {
            return fail(format!(
                "Trying to execute {path} as {}, but it is defined as {}.",
                wanted.title(),
                info.udf_type.title()
            ));
        }
        let args = match single_argument(args) {
            Ok(args) => args,
            Err(detail) => return fail(format!("Invalid arguments for {}: {detail}", path.display_name())),
        };
        if info.udf_type == UdfType::HttpAction {
            return fail(missing_function_message(kind, path));
        }
        Ok(Resolution::Run(Resolved { deployment, info, runtime_path, args, identity: caller.identity() }))
    }

    /// Records a finished execution (with its console output) for log streaming.
    pub(crate) fn record_execution(
        &self,
        udf_type: UdfType,
        path: &FunctionPath,
        started: &ExecutionStart,
        result: &std::result::Result<Value, FunctionError>,
        logs: &[LogLine],
        request_id: &str,
    ) {
        self.inner.executions.record(crate::logs::FunctionExecution {
            cursor_ms: 0,
            udf_type,
            identifier: format!("{}:{}", path.module(), path.function()),
            log_lines: logs.to_vec(),
            started_ms: started.wall_ms,
            execution_time_ms: started.instant.elapsed().as_secs_f64() * 1000.0,
            error: result.as_ref().err().map(|e| match &e.stack {
                Some(stack) => format!("{}\n{}", e.message, stack.trim_end()),
                None => e.message.clone(),
            }),
            request_id: request_id.to_owned(),
        });
    }

    /// Checks that `caller`'s credentials are still good (a server key may have been revoked or
    /// a token expired since it was presented). Long-lived connections call this before every
    /// function run and periodically; an `Err` ends the session with an auth error.
    pub fn revalidate(&self, caller: &Caller) -> Result<()> {
        match caller {
            Caller::Anonymous | Caller::Admin { .. } => Ok(()),
            Caller::ServerKey(key) => self.revalidate_server_key(key),
            Caller::User(user) => self.revalidate_user(user),
        }
    }

    /// The function executions recorded after `cursor_ms` (log streaming) and the cursor to
    /// ask from next. Keeps the newest [`crate::limits::FUNCTION_LOG_ENTRIES_MAX`].
    pub fn function_executions_since(&self, cursor_ms: u64) -> (Vec<crate::logs::FunctionExecution>, u64) {
        self.inner.executions.since(cursor_ms)
    }

    /// Runs a mutation and commits it (returning the commit timestamp when it succeeded), re-running it after a conflict up to
    /// [`UDF_EXECUTOR_OCC_MAX_RETRIES`] times with exponential backoff. The commit and the
    /// waiting happen on this thread, not the worker's. With a `session_request`, each attempt
    /// first looks for its record in the attempt's own transaction (so a concurrent run that
    /// commits the record first makes this attempt conflict, and the retry finds it), and a
    /// success writes the record into the same transaction.
    fn run_mutation(
        &self,
        workers: &crate::deployment::WorkerPool,
        runtime_path: String,
        args: serde_json::Value,
        identity: Option<serde_json::Value>,
        session_request: Option<&SessionRequest>,
    ) -> Result<MutationRun> {
        let mut backoff = OCC_BACKOFF_INITIAL;
        let mut attempt = 0;
        loop {
            let database = self.inner.database.clone();
            let (path, args_copy, identity, request) = (runtime_path.clone(), args.clone(), identity.clone(), session_request.cloned());
            let attempted = workers.run(move |runtime| {
                let mut tx = database.begin();
                if let Some(request) = &request
                    && let Some(recorded) = session_requests::find(&mut tx, request)?
                {
                    return Ok(Attempt::Recorded(recorded));
                }
                let outcome = runtime.with_user_identity(identity, |runtime| runtime.run_mutation(&path, &args_copy, &mut tx))?;
                Ok(Attempt::Ran(outcome, Box::new(tx)))
            })?;
            let (outcome, mut tx) = match attempted {
                Attempt::Ran(outcome, tx) => (outcome, *tx),
                Attempt::Recorded(recorded) => return Ok(MutationRun::Replayed(recorded)),
            };
            let value = match &outcome.result {
                Ok(value) => value,
                Err(_) => return Ok(MutationRun::Ran(outcome, None)),
            };
            if let Some(request) = session_request {
                session_requests::record(&mut tx, request, value, &outcome.logs)?;
            }
            match self.inner.database.commit(tx) {
                Ok(ts) => {
                    if session_request.is_some() {
                        self.sweep_session_requests_if_due();
                    }
                    return Ok(MutationRun::Ran(outcome, Some(ts)));
                }
                Err(error) if error.is_retryable_conflict() && attempt < UDF_EXECUTOR_OCC_MAX_RETRIES => {
                    attempt += 1;
                    let jitter = rand::random_range(0..=backoff.as_millis() as u64 / 2);
                    std::thread::sleep(backoff + Duration::from_millis(jitter));
                    backoff *= 2;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// How [`Application::run_mutation`] ended.
enum MutationRun {
    /// The function ran: its outcome, and the commit timestamp when it succeeded.
    Ran(FunctionOutcome, Option<hull_store::Timestamp>),
    /// The session request had run before: its record.
    Replayed(session_requests::RecordedMutation),
}

/// One attempt of [`Application::run_mutation`] on a worker.
enum Attempt {
    /// The function ran in this transaction (not committed yet).
    Ran(FunctionOutcome, Box<hull_db::Transaction>),
    /// The session request's record was found: nothing ran.
    Recorded(session_requests::RecordedMutation),
}

/// `_system/cli/queryEnvironmentVariables` (every variable, `[{name, value}]` by name; what
/// `npx convex env list` subscribes to).
const QUERY_ENVIRONMENT_VARIABLES: &str = "_system/cli/queryEnvironmentVariables:default";

/// `_system/cli/queryEnvironmentVariables:get` (`{name}` → `{name, value}` or `null`; what
/// `npx convex env get` subscribes to).
const GET_ENVIRONMENT_VARIABLE: &str = "_system/cli/queryEnvironmentVariables:get";

impl Application {
    /// The system queries Hull answers natively (wire protocols §9.3), for admins; `None` for
    /// any other path, which then resolves like a user function (and looks missing).
    fn system_query(&self, runtime_path: &str, args: &serde_json::Value) -> Option<std::result::Result<Value, FunctionError>> {
        let variable = |name: &str, value: &str| {
            Value::Object(hull_values::Object::from([
                ("name".to_owned(), Value::String(name.to_owned())),
                ("value".to_owned(), Value::String(value.to_owned())),
            ]))
        };
        match runtime_path {
            QUERY_ENVIRONMENT_VARIABLES => {
                let variables = self.environment_variables();
                Some(Ok(Value::Array(variables.iter().map(|(name, value)| variable(name, value)).collect())))
            }
            GET_ENVIRONMENT_VARIABLE => {
                let name = single_argument(args.clone()).ok().and_then(|a| a.get("name")?.as_str().map(str::to_owned));
                let Some(name) = name else {
                    let message = format!("ArgumentValidationError: Object is missing the required field `name`. Path: {runtime_path}");
                    return Some(Err(FunctionError { message, stack: None, data: None }));
                };
                Some(Ok(self.environment_variables().get(&name).map_or(Value::Null, |value| variable(&name, value))))
            }
            _ => None,
        }
    }
}

/// What a caller who may not see `path` (or asked for a missing one) is told. The public text
/// is the same whether the function is missing, internal or a system function, so nothing leaks
/// (upstream `missing_or_internal_error`; the `/api/function` text is upstream `any_udf`'s).
fn missing_function_message(kind: CallKind, path: &FunctionPath) -> String {
    match kind {
        CallKind::AdminAny => format!(
            "Could not find function for '{}'. Did you forget to run `npx convex dev`?",
            path.runtime_path()
        ),
        _ => format!(
            "Could not find public function for '{}'. Did you forget to run `npx convex dev` or `npx convex deploy`?",
            path.display_name()
        ),
    }
}

pub(crate) fn request_id() -> String {
    let bytes: [u8; REQUEST_ID_HEX_LEN / 2] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The arguments object of `[{...}]` or `{...}`.
fn single_argument(args: serde_json::Value) -> std::result::Result<serde_json::Value, String> {
    match args {
        serde_json::Value::Object(_) => Ok(args),
        serde_json::Value::Array(mut items) if items.len() == 1 && items[0].is_object() => Ok(items.remove(0)),
        serde_json::Value::Array(items) => {
            Err(format!("expected an array holding one arguments object, got an array of {} values", items.len()))
        }
        other => Err(format!("expected an arguments object, got {other}")),
    }
}
