//! `hull-js`: Hull's function runtime. It owns running user JavaScript: the bundles the
//! Convex CLI pushes run here, unchanged, in embedded QuickJS (through `rquickjs`).
//!
//! **Invariant: user code touches the world only through syscalls.** The only host entry
//! points visible to JS are the `Convex` global (`syscall`, `asyncSyscall`, `jsSyscall`: the
//! contract in `convex-runtime-abi.md`) and the prelude's globals (`prelude.js`: console, a
//! frozen `Date`, seeded `Math.random`/`crypto` (`crypto.subtle`: digest, HMAC, and
//! RSASSA-PKCS1-v1_5 / ECDSA P-256 sign and verify natively), `TextEncoder`/`TextDecoder`, `URL`,
//! `Headers`/`Request`/`Response`/`Blob`/`FormData`, `ReadableStream`/`WritableStream`/
//! `TransformStream` and the text streams (bodies are buffered whole by the host), `fetch` in
//! actions, `process.env`). Every database access goes through
//! [`syscalls`], which checks that the calling function kind may perform it.
//!
//! Design:
//! - A [`JsRuntime`] is one QuickJS `Runtime` plus one `Context` serving one deployment's
//!   modules ([`ModuleMap`], the pushed modules, loaded from memory through a custom
//!   resolver/loader, compiled to bytecode once). `Runtime` is `!Send`: keep one per worker
//!   thread ([`JsWorker`]).
//! - By default modules are evaluated on first use and stay loaded (a warm context);
//!   [`RuntimeConfig::reuse_context`] `= false` gives every request a fresh context (Convex's
//!   semantics, ~1.5 ms per call instead of ~0.17 ms). A context is also replaced after a
//!   time-limit or out-of-memory failure, or when a request leaves queued work behind.
//! - Queries and mutations use the queue-driven loop of Convex's backend: `asyncSyscall`
//!   queues a promise; Rust runs the microtasks, then the queued syscalls in FIFO order against
//!   the [`hull_db::Transaction`], settles their promises, and repeats until the function's
//!   promise settles. Execution is deterministic given the snapshot, arguments and seed.
//! - Actions and HTTP actions run the same loop without a transaction; their
//!   `ctx.runQuery`/`ctx.runMutation` run on a second runtime, each in its own transaction,
//!   and each `ctx.runAction` is an action execution of its own on that runtime.
//!   `ctx.runQuery`/`ctx.runMutation` inside a query or mutation run in the caller's
//!   transaction; a nested mutation runs in a sub-transaction (a `hull_db` savepoint), so a
//!   callee that throws leaves no writes and the caller may catch and go on. Queries may run
//!   only queries; nothing in a transaction runs actions.
//! - Actions may use timers (the loop sleeps until the next one is due, within the action's
//!   wall-clock limit) and `fetch` (a blocking `ureq` client on rustls/ring; requests started
//!   together run on parallel threads; failures reject with a `TypeError`). File storage fails
//!   with a clear error until its issue lands; vector search is an exact scan
//!   (`hull_db::Database::vector_search`).
//! - `ctx.scheduler` ([`scheduler`]): a mutation's `runAfter`/`runAt` insert the job into
//!   `_scheduled_functions` in the mutation's own transaction (scheduled iff it commits), after
//!   checking the target (a mutation or action that exists, arguments that pass its validator)
//!   and Convex's per-transaction limits; an action schedules in a small transaction of its
//!   own. Running due jobs is `hull-app`'s scheduler loop.
//! - A microtask checkpoint that ends with an unhandled promise rejection fails the request
//!   with that rejection, as Convex does.
//! - `ctx.auth.getUserIdentity()` returns the identity the host gives with
//!   [`JsRuntime::with_user_identity`] (nested calls inherit it; `null` otherwise).
//! - Limits: a heap limit, a native stack limit, and an interrupt handler that stops user code
//!   after [`QUERY_MUTATION_USER_TIME_LIMIT`] of execution (time spent in syscalls excluded;
//!   functions a query or mutation calls spend the same budget).
//! - Push-time evaluation: [`JsRuntime::analyze`] (functions, HTTP routes, crons),
//!   [`JsRuntime::evaluate_schema`] and [`JsRuntime::evaluate_auth_config`] (auth providers,
//!   with the deployment's environment variables).
//! - Arguments are validated in Rust against the `args` validator captured by analysis before
//!   user code runs; results against `returns` after. Error texts follow Convex
//!   (`ArgumentValidationError: ...`, `ReturnsValidationError: ...`, `Uncaught Error: ...`),
//!   and stack traces are mapped through the bundle's source maps.
//!
//! Push request format (what `npx convex deploy` sends to `/api/deploy2/start_push`):
//! `{adminKey, dryRun, functions: "convex/", appDefinition: {definition, dependencies, schema,
//! changedModules: [{path, source, sourceMap, environment}], unchangedModuleHashes,
//! udfServerVersion}, componentDefinitions, nodeDependencies, nodeVersion?, forCodegen}`; see
//! [`modules::PushRequest`].

pub mod engine;
mod fetch;
pub mod jwt_sign;
pub mod modules;
pub mod scheduler;
pub mod sourcemap;
pub mod syscalls;
pub mod validation;
mod web;
mod webcrypto;
pub mod worker;

use std::fmt;

use hull_values::Value;
use serde::{Deserialize, Serialize};

pub use engine::{
    binary_size, ACTION_USER_TIME_LIMIT, AuthConfigError, DEFAULT_MAX_STACK_SIZE, DEFAULT_MEMORY_LIMIT,
    FUNCTION_MAX_ARGS_SIZE, FUNCTION_MAX_RESULT_SIZE, HttpActionOutcome, HttpRequest, HttpResponse, JsRuntime,
    MAX_LOG_LINES, QUERY_MUTATION_USER_TIME_LIMIT, RunOptions, RuntimeConfig, SYSTEM_FUNCTION_MAX_RESULT_SIZE,
};
pub use jwt_sign::JwtSigner;
pub use modules::{ModuleMap, ModuleSource, PushRequest};
pub use worker::JsWorker;

/// The kind of a Convex function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UdfType {
    /// `query`: read-only, deterministic.
    Query,
    /// `mutation`: one serializable transaction.
    Mutation,
    /// `action`: outside transactions.
    Action,
    /// `httpAction`: reachable through the HTTP router.
    HttpAction,
}

impl UdfType {
    /// Lowercase name, as in messages ("query").
    pub fn as_str(self) -> &'static str {
        match self {
            UdfType::Query => "query",
            UdfType::Mutation => "mutation",
            UdfType::Action => "action",
            UdfType::HttpAction => "HTTP action",
        }
    }

    /// Capitalized name, as in Convex's kind-mismatch message ("Query").
    pub fn title(self) -> &'static str {
        match self {
            UdfType::Query => "Query",
            UdfType::Mutation => "Mutation",
            UdfType::Action => "Action",
            UdfType::HttpAction => "HttpAction",
        }
    }

    fn invoke_method(self) -> &'static str {
        match self {
            UdfType::Query => "invokeQuery",
            UdfType::Mutation => "invokeMutation",
            UdfType::Action => "invokeAction",
            UdfType::HttpAction => "invokeHttpAction",
        }
    }
}

/// Who may call a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    /// Callable by clients.
    Public,
    /// Callable only from other functions, the scheduler and crons.
    Internal,
}

/// Where a handler is defined in its bundled module (QuickJS's `fn.lineNumber`/`columnNumber`;
/// not yet mapped through the source map).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourcePosition {
    /// The module the function object was created in.
    pub file_name: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// One exported function found by analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyzedFunction {
    /// `module:export`, e.g. `messages:list` or `dir/file:fn`.
    pub path: String,
    /// Query, mutation or action.
    pub udf_type: UdfType,
    /// `None` for legacy functions that declare neither.
    pub visibility: Option<Visibility>,
    /// `exportArgs()` JSON (`None`: not declared).
    pub args: Option<String>,
    /// `exportReturns()` JSON (`None`: not declared).
    pub returns: Option<String>,
    /// The handler's position in the bundle.
    pub pos: Option<SourcePosition>,
}

/// One route of the `http.js` router.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HttpRoute {
    /// `/hello`, or `/prefix/*` for prefix routes.
    pub path: String,
    /// GET, POST, PUT, DELETE, PATCH or OPTIONS.
    pub method: String,
    /// The handler's position.
    pub pos: Option<SourcePosition>,
}

/// What analysis found in one module.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyzedModule {
    /// Module path, e.g. `messages.js`.
    pub path: String,
    /// Functions, in source order.
    pub functions: Vec<AnalyzedFunction>,
    /// Routes when the module's default export is an `HttpRouter`.
    pub http_routes: Option<Vec<HttpRoute>>,
    /// The cron specs (`crons.export()` JSON) when the default export is `cronJobs()`.
    pub crons: Option<serde_json::Value>,
}

/// Log line level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// console.log
    Log,
    /// console.info
    Info,
    /// console.warn
    Warn,
    /// console.error
    Error,
    /// console.debug
    Debug,
}

impl LogLevel {
    fn parse(level: &str) -> LogLevel {
        match level {
            "INFO" => LogLevel::Info,
            "WARN" => LogLevel::Warn,
            "ERROR" => LogLevel::Error,
            "DEBUG" => LogLevel::Debug,
            _ => LogLevel::Log,
        }
    }
}

/// One captured `console.*` call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogLine {
    /// The level.
    pub level: LogLevel,
    /// Each argument, formatted (strings raw at the top level, other values inspected).
    pub messages: Vec<String>,
    /// Wall-clock time of the call, ms since the epoch.
    pub timestamp_ms: f64,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.level, self.messages.join(" "))
    }
}

/// A function's failure as the caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct JsError {
    /// E.g. `Uncaught Error: boom`, `ArgumentValidationError: ...`.
    pub message: String,
    /// The `ConvexError`'s data, when user code threw one.
    pub data: Option<Value>,
    /// JS stack frames (`    at handler (util.js:40:15)` lines), when known.
    pub stack: Option<String>,
}

impl JsError {
    /// An error with only a message.
    pub fn plain(message: String) -> JsError {
        JsError {
            message,
            data: None,
            stack: None,
        }
    }
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(stack) = &self.stack {
            write!(f, "\n{}", stack.trim_end())?;
        }
        Ok(())
    }
}

/// The result of running a function, with its logs.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionOutcome {
    /// The return value or the error.
    pub result: Result<Value, JsError>,
    /// Captured console output.
    pub logs: Vec<LogLine>,
}
