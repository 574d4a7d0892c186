//! The QuickJS host: one runtime and context, the pushed module graph, the `Convex` global,
//! limits, and the queue-driven execution loop for queries and mutations.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hull_db::Transaction;
use hull_errors::{Error, Result};
use hull_values::Value;
use rquickjs::loader::{Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::promise::PromiseState;
use rquickjs::{
    CatchResultExt, Context, Ctx, Function, Module, Object, Persistent, Promise, Runtime,
};
use serde::Deserialize;

use crate::modules::{ModuleMap, resolve_specifier, split_function_path};
use crate::sourcemap::{SourceMap, map_stack};
use crate::syscalls::{SyscallError, SyscallResult, SyscallState};
use crate::validation::{self, Declared as DeclaredValidator};
use crate::{
    AnalyzedFunction, AnalyzedModule, FunctionOutcome, HttpRoute, JsError, LogLevel, LogLine,
    UdfType, Visibility,
};

const PRELUDE: &str = include_str!("prelude.js");

/// Convex's limit on user code execution time for queries and mutations.
pub const QUERY_MUTATION_USER_TIME_LIMIT: Duration = Duration::from_secs(1);
/// Convex's limit on action execution time.
pub const ACTION_USER_TIME_LIMIT: Duration = Duration::from_secs(600);
/// QuickJS heap limit per runtime (V8 isolates in Convex get 64 MiB of heap).
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;
/// Native stack QuickJS may use. Worker threads need a thread stack comfortably above this.
pub const DEFAULT_MAX_STACK_SIZE: usize = 1 << 20;
/// Time budget for evaluating a module at push or first use (Convex allows 2 s).
pub const ANALYZE_TIME_LIMIT: Duration = Duration::from_secs(2);
/// Log lines kept per request; more are dropped with a final "Log overflow" line.
pub const MAX_LOG_LINES: usize = 256;
/// Largest arguments of one call, measured as the one-element arguments array (upstream knob
/// `FUNCTION_MAX_ARGS_SIZE`, 16 MiB). Checked before the arguments validator.
pub const FUNCTION_MAX_ARGS_SIZE: usize = 1 << 24;
/// Largest value a function may return (upstream knob `FUNCTION_MAX_RESULT_SIZE`, 16 MiB).
/// Checked before the `returns` validator; a mutation that returns more writes nothing.
pub const FUNCTION_MAX_RESULT_SIZE: usize = 1 << 24;
/// [`FUNCTION_MAX_RESULT_SIZE`] for `_system/` functions (upstream
/// `SYSTEM_FUNCTION_MAX_RESULT_SIZE`, 24 MiB).
pub const SYSTEM_FUNCTION_MAX_RESULT_SIZE: usize = 24 << 20;

/// Limits for one [`JsRuntime`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Execution time of user code per query or mutation (time in syscalls excluded).
    pub user_time_limit: Duration,
    /// Execution time of user code per action.
    pub action_time_limit: Duration,
    /// QuickJS heap limit in bytes.
    pub memory_limit: usize,
    /// Native stack limit for JS in bytes.
    pub max_stack_size: usize,
    /// Keep one context and its evaluated modules across requests (fast), or start every
    /// request in a fresh context (Convex's semantics: module-level state never carries over).
    pub reuse_context: bool,
    /// Compile each module once and load it from QuickJS bytecode afterwards (about 5x faster
    /// than parsing source, which matters for fresh contexts).
    pub bytecode_cache: bool,
    /// The deployment's key for `ctx.auth.signJwt`; without one, signJwt fails clearly.
    pub jwt_signer: Option<crate::jwt_sign::JwtSigner>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            user_time_limit: QUERY_MUTATION_USER_TIME_LIMIT,
            action_time_limit: ACTION_USER_TIME_LIMIT,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_stack_size: DEFAULT_MAX_STACK_SIZE,
            reuse_context: true,
            bytecode_cache: true,
            jwt_signer: None,
        }
    }
}

/// Per-call options; defaults derive everything from the transaction and the call.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `Date.now()` during the call (ms since the epoch). Default: the transaction's snapshot ts.
    pub now_ms: Option<f64>,
    /// `Math.random` seed. Default: a hash of the snapshot ts, the function path and the args,
    /// so re-running a query at the same snapshot is byte-identical.
    pub rng_seed: Option<u64>,
}

/// Counts user-code time; the interrupt handler stops JS once the budget is spent.
#[derive(Default)]
struct Budget {
    limit: Cell<Duration>,
    used: Cell<Duration>,
    running_since: Cell<Option<Instant>>,
    tripped: Cell<bool>,
    /// Wall-clock end of an action (queries and mutations have none: they cannot wait).
    wall_deadline: Cell<Option<Instant>>,
}

impl Budget {
    fn reset(&self, limit: Duration) {
        self.limit.set(limit);
        self.used.set(Duration::ZERO);
        self.running_since.set(None);
        self.tripped.set(false);
        self.wall_deadline.set(None);
    }
    fn start(&self) {
        self.running_since.set(Some(Instant::now()));
    }
    fn stop(&self) {
        if let Some(since) = self.running_since.take() {
            self.used.set(self.used.get() + since.elapsed());
        }
    }
    fn should_interrupt(&self) -> bool {
        if self.tripped.get() {
            return true;
        }
        if let Some(since) = self.running_since.get()
            && self.used.get() + since.elapsed() > self.limit.get()
        {
            self.tripped.set(true);
            return true;
        }
        false
    }
}

struct PendingCall {
    op: String,
    args: String,
    /// A request body (`fetch`), kept out of the JSON arguments.
    body: Option<Vec<u8>>,
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
}

/// The request a context is serving. `tx` points at the caller's `&mut Transaction` for the
/// duration of one `run_*` call only (see [`TxGuard`]); it is null for actions.
struct ActiveRequest {
    tx: *mut Transaction,
    syscalls: SyscallState,
}

/// State shared between Rust and the host functions installed in JS.
#[derive(Default)]
struct Host {
    request: RefCell<Option<ActiveRequest>>,
    pending: RefCell<VecDeque<PendingCall>>,
    logs: RefCell<Vec<LogLine>>,
    /// Syscall ops issued by the current (or last) request, in order.
    trace: RefCell<Vec<String>>,
    /// Environment variables read while unset (`process.env.X` was `undefined`), for auth
    /// config's "Environment variable X is used in auth config file but its value was not set".
    missing_env: RefCell<Vec<String>>,
    /// The body of the HTTP action request about to run, handed to JS as an `ArrayBuffer`
    /// beside (not inside) the JSON arguments: base64 in JSON would hold a large body in the
    /// heap three times over.
    http_request_body: RefCell<Option<Vec<u8>>>,
    /// The body of the response the last HTTP action returned, taken from JS the same way.
    http_response_body: RefCell<Option<Vec<u8>>>,
    /// Rejected promises nobody handles yet: (promise, reason), from QuickJS's rejection
    /// tracker. Checked after every microtask checkpoint of a request.
    unhandled: RefCell<
        Vec<(
            Persistent<rquickjs::Value<'static>>,
            Persistent<rquickjs::Value<'static>>,
        )>,
    >,
    budget: Budget,
}

impl Host {
    /// Runs the transactional syscall `op` with the active request's transaction and syscall
    /// state; `None` when no request is active (import time).
    fn with_request(
        &self,
        op: &str,
        f: impl FnOnce(&mut Transaction, &mut SyscallState) -> SyscallResult,
    ) -> Option<SyscallResult> {
        let mut request = self.request.borrow_mut();
        let request = request.as_mut()?;
        if request.tx.is_null() {
            return Some(Err(crate::syscalls::dev(format!(
                "{op} is not available in actions: use ctx.runQuery or ctx.runMutation to read or write the database."
            ))));
        }
        // SAFETY: `tx` was derived from the `&mut Transaction` passed to `run_function`, which
        // outlives the request (TxGuard clears it before returning). While a request runs,
        // the transaction is reached only through this pointer, one short borrow at a time;
        // JS is single-threaded and no borrow is held across a call into JS.
        let tx = unsafe { &mut *request.tx };
        Some(f(tx, &mut request.syscalls))
    }

    fn log(&self, level: LogLevel, messages: Vec<String>) {
        let mut logs = self.logs.borrow_mut();
        if logs.len() < MAX_LOG_LINES {
            logs.push(LogLine {
                level,
                messages,
                timestamp_ms: unix_ms(),
            });
        } else if logs.len() == MAX_LOG_LINES {
            logs.push(LogLine {
                level: LogLevel::Error,
                messages: vec![
                    "Log overflow (maximum 256 lines). Subsequent logs will not be shown.".into(),
                ],
                timestamp_ms: unix_ms(),
            });
        }
    }
}

/// Clears the request (and its transaction pointer) when a call ends, even by panic.
struct TxGuard<'a>(&'a Host);

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        self.0.request.borrow_mut().take();
        self.0.pending.borrow_mut().clear();
    }
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

struct MapResolver;

/// The prelude's module name; user code may not import it.
const PRELUDE_MODULE: &str = "hull:prelude";

impl Resolver for MapResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if name.starts_with("hull:") {
            return Err(rquickjs::Error::new_resolving(base, name));
        }
        Ok(resolve_specifier(base, name))
    }
}

/// Evaluates the prelude module (from bytecode after the first time) and returns its install
/// function.
fn load_prelude<'js>(ctx: &Ctx<'js>, bytecode: &BytecodeCache) -> rquickjs::Result<Function<'js>> {
    let cached = bytecode.borrow().get(PRELUDE_MODULE).cloned();
    let declared = match cached {
        // SAFETY: written by `Module::write` below in this process; the cache outlives it.
        Some(bytes) => unsafe { Module::load(ctx.clone(), &bytes)? },
        None => {
            let declared = Module::declare(ctx.clone(), PRELUDE_MODULE, PRELUDE)?;
            let bytes = declared.write(rquickjs::WriteOptions::default())?;
            bytecode
                .borrow_mut()
                .insert(PRELUDE_MODULE.to_owned(), Rc::new(bytes));
            declared
        }
    };
    let (module, promise) = declared.eval()?;
    promise.finish::<()>()?;
    module.get("default")
}

/// Compiled QuickJS bytecode per module path, shared by every context a [`JsRuntime`] creates.
/// Entries are never removed while the runtime lives: modules loaded from bytecode reference
/// the buffer (`JS_READ_OBJ_ROM_DATA`), so it must outlive them.
type BytecodeCache = Rc<RefCell<HashMap<String, Rc<Vec<u8>>>>>;

struct MapLoader {
    modules: ModuleMap,
    bytecode: Option<BytecodeCache>,
}

impl Loader for MapLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let module = self.modules.get(name).ok_or_else(|| {
            rquickjs::Error::new_loading_message(name, "no such module was pushed")
        })?;
        let Some(cache) = &self.bytecode else {
            return Module::declare(ctx.clone(), name, module.source.as_str());
        };
        let cached = cache.borrow().get(name).cloned();
        if let Some(bytes) = cached {
            // SAFETY: the bytes were written by `Module::write` of this same QuickJS build in
            // this process, and the cache keeps them alive as long as any runtime using them.
            return unsafe { Module::load(ctx.clone(), &bytes) };
        }
        let declared = Module::declare(ctx.clone(), name, module.source.as_str())?;
        if let Ok(bytes) = declared.write(rquickjs::WriteOptions::default()) {
            cache.borrow_mut().insert(name.to_owned(), Rc::new(bytes));
        }
        Ok(declared)
    }
}

/// Host halves of `crypto.subtle` (digest, HMAC).
fn install_crypto_host<'js>(ctx: &Ctx<'js>, host_object: &Object<'js>) -> rquickjs::Result<()> {
    host_object.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, data: rquickjs::TypedArray<'js, u8>| {
                let data = typed_bytes(&data);
                crate::web::digest(&algorithm, &data)
                    .map(|bytes| rquickjs::ArrayBuffer::new(ctx, bytes))
                    .transpose()
            },
        )?,
    )?;
    host_object.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algorithm: String,
             key: rquickjs::TypedArray<'js, u8>,
             data: rquickjs::TypedArray<'js, u8>| {
                let (key, data) = (typed_bytes(&key), typed_bytes(&data));
                crate::web::hmac(&algorithm, &key, &data)
                    .map(|bytes| rquickjs::ArrayBuffer::new(ctx, bytes))
                    .transpose()
            },
        )?,
    )?;
    // Asymmetric keys: import returns [infoJson, der]; errors throw (the prelude turns them
    // into DOMExceptions).
    host_object.set(
        "importKey",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algorithm: String,
             format: String,
             data: rquickjs::TypedArray<'js, u8>|
             -> rquickjs::Result<rquickjs::Array<'js>> {
                let imported =
                    crate::webcrypto::import_key(&algorithm, &format, &typed_bytes(&data))
                        .map_err(|message| rquickjs::Exception::throw_message(&ctx, &message))?;
                let pair = rquickjs::Array::new(ctx.clone())?;
                pair.set(0, imported.info.to_string())?;
                pair.set(1, rquickjs::ArrayBuffer::new(ctx.clone(), imported.der)?)?;
                Ok(pair)
            },
        )?,
    )?;
    host_object.set(
        "signAsymmetric",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algorithm: String,
             hash: String,
             der: rquickjs::TypedArray<'js, u8>,
             data: rquickjs::TypedArray<'js, u8>|
             -> rquickjs::Result<rquickjs::ArrayBuffer<'js>> {
                let signature = crate::webcrypto::sign(
                    &algorithm,
                    &hash,
                    &typed_bytes(&der),
                    &typed_bytes(&data),
                )
                .map_err(|message| rquickjs::Exception::throw_message(&ctx, &message))?;
                rquickjs::ArrayBuffer::new(ctx, signature)
            },
        )?,
    )?;
    host_object.set(
        "verifyAsymmetric",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algorithm: String,
             hash: String,
             der: rquickjs::TypedArray<'js, u8>,
             signature: rquickjs::TypedArray<'js, u8>,
             data: rquickjs::TypedArray<'js, u8>|
             -> rquickjs::Result<bool> {
                crate::webcrypto::verify(
                    &algorithm,
                    &hash,
                    &typed_bytes(&der),
                    &typed_bytes(&signature),
                    &typed_bytes(&data),
                )
                .map_err(|message| rquickjs::Exception::throw_message(&ctx, &message))
            },
        )?,
    )?;
    Ok(())
}

/// Functions calling functions (`ctx.runQuery` and friends) may nest this deep.
pub const MAX_CALL_DEPTH: usize = 8;

/// A runtime for the functions a function at `depth` calls.
fn new_nested(
    modules: &ModuleMap,
    config: &RuntimeConfig,
    env: &std::collections::BTreeMap<String, String>,
    depth: usize,
    bytecode: &BytecodeCache,
) -> std::result::Result<Box<JsRuntime>, SyscallError> {
    if depth + 1 >= MAX_CALL_DEPTH {
        return Err(crate::syscalls::dev(format!(
            "Too many nested function calls (maximum depth: {MAX_CALL_DEPTH})"
        )));
    }
    let config = RuntimeConfig {
        reuse_context: true,
        ..config.clone()
    };
    // The caller's bytecode cache: nested runtimes do not compile the modules again.
    let mut runtime = Box::new(
        JsRuntime::with_bytecode(modules.clone(), config, bytecode.clone())
            .map_err(SyscallError::System)?,
    );
    runtime.set_environment_variables(env.clone());
    runtime.depth = depth + 1;
    Ok(runtime)
}

/// Measures QuickJS's stack limit from the current native stack position: runtimes are
/// entered from different call depths (nested function calls, worker threads).
fn update_stack_top(ctx: &Ctx<'_>) {
    // SAFETY: plain FFI on the live context's runtime; it only records the stack pointer.
    unsafe { rquickjs::qjs::JS_UpdateStackTop(rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr())) }
}

/// Copies a `Uint8Array`'s bytes out of the JS heap.
fn typed_bytes(array: &rquickjs::TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: the slice is copied before any JavaScript runs again.
    unsafe { array.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// The deployment's environment variables, shared by every context of a runtime.
type Env = Rc<RefCell<std::collections::BTreeMap<String, String>>>;

/// The JS side: runtime, context and the handles Rust keeps. Field order is drop order:
/// handles into the context go before the context, the context before the runtime.
struct Inner {
    namespaces: RefCell<HashMap<String, Persistent<Object<'static>>>>,
    hooks: Persistent<Object<'static>>,
    context: Context,
    runtime: Runtime,
    host: Rc<Host>,
}

impl Inner {
    fn new(
        modules: &ModuleMap,
        config: &RuntimeConfig,
        bytecode: &BytecodeCache,
        env: &Env,
    ) -> Result<Inner> {
        let js = |e: rquickjs::Error| {
            Error::internal(
                "JsRuntimeStartFailed",
                format!("could not start QuickJS: {e}"),
            )
        };
        let runtime = Runtime::new().map_err(js)?;
        runtime.set_memory_limit(config.memory_limit);
        runtime.set_max_stack_size(config.max_stack_size);
        let loader_bytecode = config.bytecode_cache.then(|| bytecode.clone());
        runtime.set_loader(
            MapResolver,
            MapLoader {
                modules: modules.clone(),
                bytecode: loader_bytecode,
            },
        );
        let host = Rc::new(Host::default());
        let interrupt_host = host.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            interrupt_host.budget.should_interrupt()
        })));
        let tracker_host = host.clone();
        runtime.set_host_promise_rejection_tracker(Some(Box::new(
            move |ctx, promise, reason, is_handled| {
                let Ok(mut unhandled) = tracker_host.unhandled.try_borrow_mut() else {
                    return;
                };
                if is_handled {
                    unhandled.retain(|(p, _)| {
                        p.clone()
                            .restore(&ctx)
                            .map(|p| p != promise)
                            .unwrap_or(false)
                    });
                } else {
                    unhandled.push((
                        Persistent::save(&ctx, promise),
                        Persistent::save(&ctx, reason),
                    ));
                }
            },
        )));
        let context = Context::full(&runtime).map_err(js)?;
        let hooks = context.with(
            |ctx| -> std::result::Result<Persistent<Object<'static>>, String> {
                let caught = |e: rquickjs::Error| match e {
                    rquickjs::Error::Exception => {
                        let value = ctx.catch();
                        match value.as_exception() {
                            Some(e) => format!(
                                "{}\n{}",
                                e.message().unwrap_or_default(),
                                e.stack().unwrap_or_default()
                            ),
                            None => format!("{value:?}"),
                        }
                    }
                    other => other.to_string(),
                };
                let hooks = (|| -> rquickjs::Result<Persistent<Object<'static>>> {
                    install_convex_global(&ctx, &host)?;
                    let install = load_prelude(&ctx, bytecode)?;
                    let host_object = Object::new(ctx.clone())?;
                    let log_host = host.clone();
                    host_object.set(
                        "log",
                        Function::new(ctx.clone(), move |level: String, messages: Vec<String>| {
                            log_host.log(LogLevel::parse(&level), messages);
                        })?,
                    )?;
                    let get_env = env.clone();
                    let env_host = host.clone();
                    host_object.set(
                        "envGet",
                        Function::new(ctx.clone(), move |name: String| {
                            let value = get_env.borrow().get(&name).cloned();
                            if value.is_none()
                                && let Ok(mut missing) = env_host.missing_env.try_borrow_mut()
                                && missing.len() < 64
                                && !missing.contains(&name)
                            {
                                missing.push(name);
                            }
                            value
                        })?,
                    )?;
                    let keys_env = env.clone();
                    host_object.set(
                        "envKeys",
                        Function::new(ctx.clone(), move || {
                            keys_env.borrow().keys().cloned().collect::<Vec<_>>()
                        })?,
                    )?;
                    install_crypto_host(&ctx, &host_object)?;
                    install_fetch_host(&ctx, &host, &host_object)?;
                    host_object.set(
                        "urlParse",
                        Function::new(
                            ctx.clone(),
                            |input: String, base: rquickjs::function::Opt<String>| {
                                crate::web::url_parse(&input, base.0.as_deref())
                            },
                        )?,
                    )?;
                    host_object.set(
                        "urlSet",
                        Function::new(
                            ctx.clone(),
                            |href: String, component: String, value: String| {
                                crate::web::url_set(&href, &component, &value)
                            },
                        )?,
                    )?;
                    let hooks: Object = install.call((host_object,))?;
                    Ok(Persistent::save(&ctx, hooks))
                })();
                hooks.map_err(caught)
            },
        );
        let hooks = hooks.map_err(|e| {
            Error::internal(
                "JsRuntimeStartFailed",
                format!("could not install the prelude: {e}"),
            )
        })?;
        Ok(Inner {
            namespaces: RefCell::new(HashMap::new()),
            hooks,
            context,
            runtime,
            host,
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.host.pending.borrow_mut().clear();
        self.host.unhandled.borrow_mut().clear();
        self.namespaces.borrow_mut().clear();
    }
}

fn install_convex_global<'js>(ctx: &Ctx<'js>, host: &Rc<Host>) -> rquickjs::Result<()> {
    let convex = Object::new(ctx.clone())?;
    let sync_host = host.clone();
    convex.set(
        "syscall",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, op: String, args: String| -> rquickjs::Result<String> {
                let args: serde_json::Value = match serde_json::from_str(&args) {
                    Ok(args) => args,
                    Err(e) => {
                        return Err(rquickjs::Exception::throw_message(
                            &ctx,
                            &format!("Invalid syscall arguments: {e}"),
                        ));
                    }
                };
                sync_host.trace.borrow_mut().push(op.clone());
                let result = sync_host.with_request(&op, |tx, state| state.sync(tx, &op, &args));
                match result {
                    None => Err(rquickjs::Exception::throw_message(
                        &ctx,
                        &import_time_error(&op),
                    )),
                    Some(Ok(json)) => Ok(json.to_string()),
                    Some(Err(
                        SyscallError::Developer(message) | SyscallError::WithData(message, _),
                    )) => Err(rquickjs::Exception::throw_message(&ctx, &message)),
                    Some(Err(SyscallError::System(error))) => {
                        Err(rquickjs::Exception::throw_internal(
                            &ctx,
                            &format!("System error: {}", error.message),
                        ))
                    }
                }
            },
        )?,
    )?;
    let async_host = host.clone();
    convex.set(
        "asyncSyscall",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, op: String, args: String| -> rquickjs::Result<Promise<'js>> {
                if async_host.request.borrow().is_none() {
                    return Err(rquickjs::Exception::throw_message(
                        &ctx,
                        &import_time_error(&op),
                    ));
                }
                if op.starts_with(HOST_OP_PREFIX) {
                    // Host ops are the prelude's (`fetch`), not user code's.
                    return Err(rquickjs::Exception::throw_message(
                        &ctx,
                        &format!("Unknown async operation {op}"),
                    ));
                }
                let (promise, resolve, reject) = ctx.promise()?;
                async_host.pending.borrow_mut().push_back(PendingCall {
                    op,
                    args,
                    body: None,
                    resolve: Persistent::save(&ctx, resolve),
                    reject: Persistent::save(&ctx, reject),
                });
                Ok(promise)
            },
        )?,
    )?;
    // `Convex.jsSyscall` (JS-to-JS: Request/Response conversions) is defined by the prelude.
    ctx.globals().set("Convex", convex)?;
    Ok(())
}

/// Ops the prelude queues through the host object (never through `Convex.asyncSyscall`).
const HOST_OP_PREFIX: &str = "hull/";
/// `fetch()`: args are a [`crate::fetch::FetchRequest`], the body travels as bytes.
const FETCH_OP: &str = "hull/fetch";

/// `host.fetch(requestJson, body)`: queues a fetch like an async syscall; the promise
/// resolves to `[responseJson, ArrayBuffer]`.
fn install_fetch_host<'js>(
    ctx: &Ctx<'js>,
    host: &Rc<Host>,
    host_object: &Object<'js>,
) -> rquickjs::Result<()> {
    let fetch_host = host.clone();
    host_object.set(
        "fetch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  request: String,
                  body: rquickjs::function::Opt<rquickjs::TypedArray<'js, u8>>|
                  -> rquickjs::Result<Promise<'js>> {
                if fetch_host.request.borrow().is_none() {
                    return Err(rquickjs::Exception::throw_message(
                        &ctx,
                        &import_time_error("fetch()"),
                    ));
                }
                let body = body.0.as_ref().map(typed_bytes);
                let (promise, resolve, reject) = ctx.promise()?;
                fetch_host.pending.borrow_mut().push_back(PendingCall {
                    op: FETCH_OP.to_owned(),
                    args: request,
                    body,
                    resolve: Persistent::save(&ctx, resolve),
                    reject: Persistent::save(&ctx, reject),
                });
                Ok(promise)
            },
        )?,
    )
}

fn import_time_error(op: &str) -> String {
    format!(
        "Can't use {op} at import time: the database and other syscalls are only available inside Convex functions."
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribedError {
    name: Option<String>,
    message: String,
    stack: Option<String>,
    convex_error_data: Option<String>,
}

/// A failed call, before it becomes a [`JsError`] or a system [`Error`].
enum Failure {
    Js(JsError),
    System(Error),
    /// The time budget ran out (the context must be replaced).
    Timeout,
    /// The heap limit was hit (the context must be replaced).
    OutOfMemory,
}

/// Runs Convex functions from one deployment's modules. Not `Send`: keep one per worker thread.
pub struct JsRuntime {
    inner: Inner,
    modules: ModuleMap,
    config: RuntimeConfig,
    functions: HashMap<String, (UdfType, DeclaredValidator, DeclaredValidator)>,
    /// Declared after `inner` so it is dropped after the QuickJS runtime that may use it.
    bytecode: BytecodeCache,
    /// Whether the current context served a request already (fresh-context mode).
    used: bool,
    /// Parsed source maps by module path (`None`: the module has no usable map).
    source_maps: HashMap<String, Option<Rc<SourceMap>>>,
    /// A second runtime for the queries and mutations actions call (the action's own context
    /// is suspended meanwhile).
    nested: Option<Box<JsRuntime>>,
    /// `Date.now()` while modules are evaluated (the import phase): fixed per runtime, so
    /// module-level time is the same in every context this runtime creates.
    import_ms: f64,
    /// `process.env`.
    env: Env,
    /// Modules whose functions are in `functions`.
    analyzed: std::collections::HashSet<String>,
    /// How deeply this runtime is nested in function calls (0: called by the host).
    depth: usize,
    /// The user-time budget of the next query or mutation, when it is a nested call: what is
    /// left of the caller's (a transaction has one budget, however its functions nest).
    budget_override: Option<Duration>,
    /// User time the last request spent (reported to a calling function's budget).
    last_user_time: Duration,
    /// `ctx.auth.getUserIdentity()` of the requests run now (see [`Self::with_user_identity`]);
    /// nested calls inherit it.
    identity: serde_json::Value,
    /// What the transaction of the next query or mutation scheduled so far, when it is a
    /// nested call (the scheduling limits are per transaction, however its functions nest).
    scheduled_override: Option<Rc<crate::scheduler::ScheduledUsage>>,
    /// The `_scheduled_functions` id of the job the calls run now serve (see
    /// [`Self::with_scheduled_job`]).
    scheduled_job: Option<String>,
}

impl JsRuntime {
    /// A runtime for `modules` with `config`'s limits. Modules are evaluated lazily, on first use.
    pub fn new(modules: ModuleMap, config: RuntimeConfig) -> Result<JsRuntime> {
        JsRuntime::with_bytecode(modules, config, BytecodeCache::default())
    }

    /// A runtime sharing `bytecode` (compiled modules of the same [`ModuleMap`]).
    fn with_bytecode(
        modules: ModuleMap,
        config: RuntimeConfig,
        bytecode: BytecodeCache,
    ) -> Result<JsRuntime> {
        let env = Env::default();
        let inner = Inner::new(&modules, &config, &bytecode, &env)?;
        Ok(JsRuntime {
            inner,
            modules,
            config,
            functions: HashMap::new(),
            bytecode,
            used: false,
            source_maps: HashMap::new(),
            nested: None,
            import_ms: import_now(),
            env,
            analyzed: Default::default(),
            depth: 0,
            budget_override: None,
            last_user_time: Duration::ZERO,
            identity: serde_json::Value::Null,
            scheduled_override: None,
            scheduled_job: None,
        })
    }

    /// The syscall ops the last request issued, in order (for tests and tracing). Ops of the
    /// functions an action called are not included.
    pub fn last_syscalls(&self) -> Vec<String> {
        self.inner.host.trace.borrow().clone()
    }

    /// Sets the deployment's environment variables (`process.env`). Modules that read them at
    /// import time see the new values once their context is replaced (see [`Self::reset`]).
    pub fn set_environment_variables(
        &mut self,
        variables: std::collections::BTreeMap<String, String>,
    ) {
        if let Some(nested) = &mut self.nested {
            nested.set_environment_variables(variables.clone());
        }
        *self.env.borrow_mut() = variables;
    }

    /// The runtime that runs the queries and mutations an action calls (created on first use).
    fn take_nested(&mut self) -> Result<Box<JsRuntime>> {
        if let Some(nested) = self.nested.take() {
            return Ok(nested);
        }
        new_nested(
            &self.modules,
            &self.config,
            &self.env.borrow(),
            self.depth,
            &self.bytecode,
        )
        .map_err(|e| match e {
            SyscallError::System(error) => error,
            SyscallError::Developer(message) | SyscallError::WithData(message, _) => {
                Error::bad_request("TooManyNestedCalls", message)
            }
        })
    }

    /// Runs `f` with `identity` (the `UserIdentity` JSON object, e.g. `{tokenIdentifier,
    /// subject, issuer, ...}`, or `None`) as what `ctx.auth.getUserIdentity()` returns in every
    /// function `f` runs on this runtime, including the functions they call. The previous
    /// identity (normally none) is restored afterwards, also when `f` panics, so one request's
    /// identity never leaks into the next.
    pub fn with_user_identity<R>(
        &mut self,
        identity: Option<serde_json::Value>,
        f: impl FnOnce(&mut JsRuntime) -> R,
    ) -> R {
        let previous = std::mem::replace(
            &mut self.identity,
            identity.unwrap_or(serde_json::Value::Null),
        );
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        self.identity = previous;
        match result {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs `f` as the scheduled job `id` (its `_scheduled_functions` id): the functions `f`
    /// runs see it as `getRequestMetadata().scheduledFunctionId`, and an action whose job is
    /// canceled while it runs schedules only canceled jobs, as upstream. Cleared afterwards,
    /// also when `f` panics, so it never reaches the next request.
    pub fn with_scheduled_job<R>(&mut self, id: String, f: impl FnOnce(&mut JsRuntime) -> R) -> R {
        let previous = self.scheduled_job.replace(id);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        self.scheduled_job = previous;
        match result {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Replaces the JS context with a fresh one (all module state is dropped).
    pub fn reset(&mut self) -> Result<()> {
        self.inner = Inner::new(&self.modules, &self.config, &self.bytecode, &self.env)?;
        self.used = false;
        Ok(())
    }

    /// Current QuickJS heap usage in bytes.
    pub fn heap_size(&self) -> i64 {
        self.inner.runtime.memory_usage().malloc_size
    }

    /// The modules this runtime serves.
    pub fn modules(&self) -> &ModuleMap {
        &self.modules
    }

    /// Evaluates every entry module (not `_deps/`) with syscalls disabled and lists its
    /// functions, HTTP routes and cron jobs: the data the push protocol needs.
    ///
    /// Like Convex, each module is evaluated on its own, in a fresh context.
    pub fn analyze(&mut self) -> std::result::Result<Vec<AnalyzedModule>, JsError> {
        let paths: Vec<String> = self.modules.entry_paths().map(str::to_owned).collect();
        let mut out = Vec::new();
        for path in paths {
            self.reset().map_err(|e| JsError::plain(e.message))?;
            let analyzed = self.analyze_module(&path)?;
            self.record(&path, &analyzed)?;
            out.push(analyzed);
        }
        self.reset().map_err(|e| JsError::plain(e.message))?;
        Ok(out)
    }

    /// Evaluates the bundled `schema.js` (`PushRequest::schema`) with syscalls disabled and
    /// returns `default.export()`: the schema JSON `hull_db::Schema::parse` reads.
    pub fn evaluate_schema(
        schema: &crate::ModuleSource,
        config: RuntimeConfig,
    ) -> std::result::Result<String, JsError> {
        let mut module = schema.clone();
        module.environment = "isolate".into();
        let path = module.path.clone();
        let mut runtime = JsRuntime::new(ModuleMap::new([module]), config)
            .map_err(|e| JsError::plain(e.message))?;
        runtime
            .begin_with(None, import_now(), 0, false, ANALYZE_TIME_LIMIT)
            .map_err(|e| JsError::plain(e.message))?;
        let inner = &runtime.inner;
        let result = inner
            .context
            .with(|ctx| -> std::result::Result<String, Failure> {
                let ns =
                    load_namespace(&ctx, &inner.host, &mut inner.namespaces.borrow_mut(), &path)?;
                let hooks = inner.hooks.clone().restore(&ctx).map_err(internal)?;
                let default: Object = ns.get("default").map_err(internal)?;
                let export: Function = default.get("export").map_err(internal)?;
                update_stack_top(&ctx);
                inner.host.budget.start();
                let result = export
                    .call::<_, String>((rquickjs::function::This(default.clone()),))
                    .catch(&ctx);
                inner.host.budget.stop();
                result.map_err(|e| caught_failure(&ctx, &inner.host, &hooks, e))
            });
        result.map_err(|failure| runtime.failure_to_error(failure, "Failed to evaluate the schema"))
    }

    /// Evaluates `auth.config.js` (when the push has one) in a fresh context with the
    /// deployment's environment variables and returns its `providers` (JSON, fields as the
    /// user wrote them: `{domain, applicationID}` or `{type: "customJwt", issuer, jwks,
    /// algorithm, applicationID?}`), as the push protocol needs. A provider field that is
    /// `undefined` because an environment variable is unset is
    /// [`AuthConfigError::MissingEnvironmentVariable`] (Convex's
    /// `AuthConfigMissingEnvironmentVariable`).
    pub fn evaluate_auth_config(
        &mut self,
    ) -> std::result::Result<Option<serde_json::Value>, AuthConfigError> {
        const PATH: &str = "auth.config.js";
        if self.modules.get(PATH).is_none() {
            return Ok(None);
        }
        let plain = |message: String| AuthConfigError::Invalid(JsError::plain(message));
        self.reset().map_err(|e| plain(e.message))?;
        self.begin_with(None, self.import_ms, 0, false, ANALYZE_TIME_LIMIT)
            .map_err(|e| plain(e.message))?;
        let inner = &self.inner;
        let result = inner
            .context
            .with(|ctx| -> std::result::Result<String, Failure> {
                let ns =
                    load_namespace(&ctx, &inner.host, &mut inner.namespaces.borrow_mut(), PATH)?;
                let hooks = inner.hooks.clone().restore(&ctx).map_err(internal)?;
                let export: Function = hooks.get("exportAuthConfig").map_err(internal)?;
                update_stack_top(&ctx);
                inner.host.budget.start();
                let result = export.call::<_, String>((ns,)).catch(&ctx);
                inner.host.budget.stop();
                result.map_err(|e| caught_failure(&ctx, &inner.host, &hooks, e))
            });
        self.inner.host.logs.take();
        let missing = self.inner.host.missing_env.take();
        let result = result.map_err(|failure| {
            AuthConfigError::Invalid(
                self.failure_to_error(failure, "Failed to load auth.config.js"),
            )
        });
        // Requests start from contexts that never saw this module.
        self.reset().map_err(|e| plain(e.message))?;
        let json = result?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Exported {
            providers: serde_json::Value,
            undefined_fields: Vec<String>,
        }
        let exported: Exported = serde_json::from_str(&json)
            .map_err(|e| plain(format!("Failed to load auth.config.js: {e}")))?;
        if let Some(field) = exported.undefined_fields.first() {
            return Err(match missing.into_iter().next() {
                Some(variable) => AuthConfigError::MissingEnvironmentVariable(variable),
                None => plain(format!(
                    "Failed to load auth.config.js: provider field `providers[{field}]` is undefined"
                )),
            });
        }
        Ok(Some(exported.providers))
    }

    fn analyze_module(&mut self, path: &str) -> std::result::Result<AnalyzedModule, JsError> {
        self.begin_with(None, self.import_ms, 0, false, ANALYZE_TIME_LIMIT)
            .map_err(|e| JsError::plain(e.message))?;
        let inner = &self.inner;
        let result = inner
            .context
            .with(|ctx| -> std::result::Result<String, Failure> {
                let ns =
                    load_namespace(&ctx, &inner.host, &mut inner.namespaces.borrow_mut(), path)?;
                let hooks = inner.hooks.clone().restore(&ctx).map_err(internal)?;
                let analyze: Function = hooks.get("analyzeModule").map_err(internal)?;
                update_stack_top(&ctx);
                inner.host.budget.start();
                let result = analyze.call::<_, String>((ns,)).catch(&ctx);
                inner.host.budget.stop();
                result.map_err(|e| caught_failure(&ctx, &inner.host, &hooks, e))
            });
        self.inner.host.logs.take();
        let json = match result {
            Ok(json) => json,
            Err(failure) => {
                return Err(self.failure_to_error(failure, &format!("Failed to analyze {path}")));
            }
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawFunction {
            name: String,
            udf_type: String,
            visibility: Option<String>,
            args: Option<String>,
            returns: Option<String>,
            pos: Option<crate::SourcePosition>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawModule {
            functions: Vec<RawFunction>,
            http_routes: Option<Vec<HttpRoute>>,
            crons: Option<String>,
        }
        let raw: RawModule = serde_json::from_str(&json)
            .map_err(|e| JsError::plain(format!("Failed to analyze {path}: {e}")))?;
        let module_name = path.strip_suffix(".js").unwrap_or(path);
        let mut functions: Vec<AnalyzedFunction> = raw
            .functions
            .into_iter()
            .map(|f| AnalyzedFunction {
                path: format!("{module_name}:{}", f.name),
                udf_type: match f.udf_type.as_str() {
                    "query" => UdfType::Query,
                    "mutation" => UdfType::Mutation,
                    _ => UdfType::Action,
                },
                visibility: match f.visibility.as_deref() {
                    Some("public") => Some(Visibility::Public),
                    Some("internal") => Some(Visibility::Internal),
                    _ => None,
                },
                args: f.args,
                returns: f.returns.filter(|r| r != "null"),
                pos: f.pos,
            })
            .collect();
        functions.sort_by(|a, b| {
            let key = |f: &AnalyzedFunction| f.pos.as_ref().map(|p| (p.line, p.column));
            key(a).cmp(&key(b)).then_with(|| a.path.cmp(&b.path))
        });
        let crons = match raw.crons {
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                JsError::plain(format!("Failed to analyze {path}: invalid crons: {e}"))
            })?),
            None => None,
        };
        Ok(AnalyzedModule {
            path: path.to_owned(),
            functions,
            http_routes: raw.http_routes,
            crons,
        })
    }

    /// Runs the query `path` (`module:export`) with `args` (a Convex-JSON object) at `tx`'s
    /// snapshot. System failures (storage errors) are `Err`; everything user code can cause is
    /// in the outcome.
    pub fn run_query(
        &mut self,
        path: &str,
        args: &serde_json::Value,
        tx: &mut Transaction,
    ) -> Result<FunctionOutcome> {
        self.run_function(UdfType::Query, path, args, tx, &RunOptions::default())
    }

    /// Runs the mutation `path` in `tx`; the caller commits `tx` when the outcome is a success
    /// (and retries on a commit conflict).
    pub fn run_mutation(
        &mut self,
        path: &str,
        args: &serde_json::Value,
        tx: &mut Transaction,
    ) -> Result<FunctionOutcome> {
        self.run_function(UdfType::Mutation, path, args, tx, &RunOptions::default())
    }

    /// Runs the query `path` in a fresh transaction at the newest snapshot. Returns the
    /// transaction too: its snapshot ts and read set are what a subscription needs.
    pub fn execute_query(
        &mut self,
        db: &hull_db::Database,
        path: &str,
        args: &serde_json::Value,
    ) -> Result<(FunctionOutcome, Transaction)> {
        let mut tx = db.begin();
        let outcome = self.run_query(path, args, &mut tx)?;
        Ok((outcome, tx))
    }

    /// Runs the mutation `path` in its own transaction and commits it when it succeeds,
    /// re-running it from scratch on an optimistic-concurrency conflict (up to `max_retries`
    /// times), as Convex does transparently. Returns the outcome of the last run and, when it
    /// succeeded, the commit timestamp.
    pub fn execute_mutation(
        &mut self,
        db: &hull_db::Database,
        path: &str,
        args: &serde_json::Value,
        max_retries: usize,
    ) -> Result<(FunctionOutcome, Option<hull_store::Timestamp>)> {
        let mut attempt = 0;
        loop {
            let mut tx = db.begin();
            let outcome = self.run_mutation(path, args, &mut tx)?;
            if outcome.result.is_err() {
                return Ok((outcome, None));
            }
            match db.commit(tx) {
                Ok(ts) => return Ok((outcome, Some(ts))),
                Err(error) if error.is_retryable_conflict() && attempt < max_retries => {
                    attempt += 1
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Runs a query or mutation with explicit options.
    pub fn run_function(
        &mut self,
        kind: UdfType,
        path: &str,
        args: &serde_json::Value,
        tx: &mut Transaction,
        options: &RunOptions,
    ) -> Result<FunctionOutcome> {
        assert!(
            matches!(kind, UdfType::Query | UdfType::Mutation),
            "run_function runs queries and mutations"
        );
        let prepared = {
            let catalog = tx.catalog();
            let tables = |name: &str| catalog.table_by_name(name).map(|t| t.number);
            match self.prepare(kind, path, args, &tables)? {
                Ok(prepared) => prepared,
                Err(error) => {
                    return Ok(FunctionOutcome {
                        result: Err(error),
                        logs: Vec::new(),
                    });
                }
            }
        };
        let args_str = format!("[{}]", args);
        let now = options.now_ms.unwrap_or_else(|| snapshot_ms(tx));
        let seed = options.rng_seed.unwrap_or_else(|| {
            let mut hasher = std::hash::DefaultHasher::new();
            (tx.begin_ts().0, &prepared.canonical, &args_str).hash(&mut hasher);
            hasher.finish()
        });
        // One raw pointer for the whole call: the request's syscalls and nested `ctx.runQuery`
        // calls share the caller's transaction (see Host::with_request for why this is sound).
        let tx_ptr: *mut Transaction = tx;
        let scheduled = self.scheduled_override.take().unwrap_or_default();
        let mut syscalls = SyscallState::new(kind, &prepared.canonical);
        syscalls.set_identity(self.identity.clone());
        syscalls.set_jwt_signer(self.config.jwt_signer.clone());
        syscalls.set_scheduling(scheduled.clone(), self.scheduled_job.clone());
        let request = ActiveRequest {
            tx: tx_ptr,
            syscalls,
        };
        let limit = self
            .budget_override
            .take()
            .unwrap_or(self.config.user_time_limit);
        let mut nested = self.nested.take();
        let host = self.inner.host.clone();
        let modules = self.modules.clone();
        let config = self.config.clone();
        let env = self.env.borrow().clone();
        let depth = self.depth;
        let bytecode = self.bytecode.clone();
        let identity = self.identity.clone();
        let mut handler = |op: &str, args: &serde_json::Value| -> Option<SyscallResult> {
            if op != "1.0/runUdf" && op != "1.0/schedule" {
                return None;
            }
            let runtime = match &mut nested {
                Some(runtime) => runtime,
                None => match new_nested(&modules, &config, &env, depth, &bytecode) {
                    Ok(runtime) => nested.insert(runtime),
                    Err(error) => return Some(Err(error)),
                },
            };
            if op == "1.0/schedule" {
                return Some(schedule_in_transaction(runtime, tx_ptr, kind, &scheduled, now, args));
            }
            runtime.identity = identity.clone();
            runtime.scheduled_override = Some(scheduled.clone());
            let result = run_udf(runtime, &host, tx_ptr, kind, args);
            runtime.scheduled_override = None;
            Some(result)
        };
        let executed = self.execute(
            kind,
            &prepared,
            &[args_str.as_str()],
            request,
            now,
            seed,
            false,
            limit,
            &mut handler,
        );
        if nested.is_some() {
            self.nested = nested;
        }
        let (result, logs) = executed?;
        let catalog = tx.catalog();
        let tables = |name: &str| catalog.table_by_name(name).map(|t| t.number);
        Ok(FunctionOutcome {
            result: result.and_then(|value| check_result(&prepared, value, &tables)),
            logs,
        })
    }

    /// Runs the action `path` with `args`. Actions run outside transactions: their
    /// `ctx.runQuery` / `ctx.runMutation` calls each run in their own transaction on `db`
    /// (mutations commit, retrying on conflicts); `ctx.runAction` runs another action. They
    /// see the real clock and randomness, and may use timers and `fetch`.
    ///
    /// Not yet available in actions: file storage (it fails with a clear error until its issue
    /// lands).
    pub fn run_action(
        &mut self,
        path: &str,
        args: &serde_json::Value,
        db: &hull_db::Database,
    ) -> Result<FunctionOutcome> {
        let catalog = db.catalog();
        let tables = |name: &str| catalog.table_by_name(name).map(|t| t.number);
        let prepared = match self.prepare(UdfType::Action, path, args, &tables)? {
            Ok(prepared) => prepared,
            Err(error) => {
                return Ok(FunctionOutcome {
                    result: Err(error),
                    logs: Vec::new(),
                });
            }
        };
        let args_str = format!("[{}]", args);
        let mut syscalls = SyscallState::new(UdfType::Action, &prepared.canonical);
        syscalls.set_identity(self.identity.clone());
        syscalls.set_jwt_signer(self.config.jwt_signer.clone());
        syscalls.set_scheduling(Rc::default(), self.scheduled_job.clone());
        let request = ActiveRequest {
            tx: std::ptr::null_mut(),
            syscalls,
        };
        let mut nested = self.take_nested()?;
        nested.identity = self.identity.clone();
        let host = self.inner.host.clone();
        let function = prepared.canonical.clone();
        let mut handler = |op: &str, args: &serde_json::Value| {
            Some(action_syscall(&mut nested, &host, db, &function, op, args))
        };
        let limit = self.config.action_time_limit;
        let executed = self.execute(
            UdfType::Action,
            &prepared,
            &["dummy_request_id", args_str.as_str()],
            request,
            unix_ms(),
            rand::random(),
            true,
            limit,
            &mut handler,
        );
        self.nested = Some(nested);
        let (result, logs) = executed?;
        let catalog = db.catalog();
        let tables = |name: &str| catalog.table_by_name(name).map(|t| t.number);
        Ok(FunctionOutcome {
            result: result.and_then(|value| check_result(&prepared, value, &tables)),
            logs,
        })
    }

    /// Serves one HTTP request with the app's `convex/http.js` router (an HTTP action: action
    /// rules, the real clock, `ctx.runQuery`/`ctx.runMutation` on `db`). Unrouted requests get
    /// the router's own 404 response.
    pub fn run_http_action(
        &mut self,
        request: &HttpRequest,
        db: &hull_db::Database,
    ) -> Result<HttpActionOutcome> {
        let fail = |message: String| {
            Ok(HttpActionOutcome {
                result: Err(JsError::plain(message)),
                logs: Vec::new(),
            })
        };
        if self.modules.get(HTTP_MODULE).is_none() {
            return fail(
                "This deployment has no HTTP actions: convex/http.js does not exist.".into(),
            );
        }
        let prepared = Prepared {
            canonical: "http".into(),
            module: HTTP_MODULE.into(),
            export: "default".into(),
            returns: DeclaredValidator::Unvalidated,
        };
        let convex_json = serde_json::json!({
            "url": request.url,
            "method": request.method,
            "headerPairs": request.headers,
            "body": serde_json::Value::Null,
            "hullBody": request.body.is_some(),
        });
        *self.inner.host.http_request_body.borrow_mut() = request.body.clone();
        let pathname = url::Url::parse(&request.url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        let args_str = convex_json.to_string();
        let mut syscalls = SyscallState::new(UdfType::HttpAction, "http");
        syscalls.set_identity(self.identity.clone());
        syscalls.set_jwt_signer(self.config.jwt_signer.clone());
        let activity = ActiveRequest {
            tx: std::ptr::null_mut(),
            syscalls,
        };
        let mut nested = self.take_nested()?;
        nested.identity = self.identity.clone();
        let host = self.inner.host.clone();
        let mut handler = |op: &str, args: &serde_json::Value| {
            Some(action_syscall(&mut nested, &host, db, "http", op, args))
        };
        let limit = self.config.action_time_limit;
        let executed = self.execute(
            UdfType::HttpAction,
            &prepared,
            &[args_str.as_str(), pathname.as_str()],
            activity,
            unix_ms(),
            rand::random(),
            true,
            limit,
            &mut handler,
        );
        self.nested = Some(nested);
        // Not taken when the call failed before entering JS: do not keep it for the next one.
        self.inner.host.http_request_body.borrow_mut().take();
        let body = self.inner.host.http_response_body.borrow_mut().take();
        let (result, logs) = executed?;
        let result = result.and_then(|value| {
            let mut response = HttpResponse::from_value(&value).map_err(JsError::plain)?;
            if matches!(&value, Value::Object(object) if object.get("hullBody") == Some(&Value::Boolean(true))) {
                response.body = body.unwrap_or_default();
            }
            Ok(response)
        });
        Ok(HttpActionOutcome { result, logs })
    }

    /// The target of a `1.0/schedule`-like op: the function's runtime path (it must exist and
    /// be a mutation or an action, and the arguments must pass its validator, as when it is
    /// called), the arguments as a value, and the due time in ms (checked against `now_ms`).
    fn schedule_target(
        &mut self,
        args: &serde_json::Value,
        op: &str,
        now_ms: f64,
        catalog: &hull_db::catalog::Catalog,
    ) -> std::result::Result<(String, Value, f64), SyscallError> {
        use crate::syscalls::dev;
        let name = function_name(args, op)?;
        let function_args = function_args(args, op)?;
        let ts = args
            .get("ts")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| dev(format!("Invalid arguments for {op}: `ts` must be a number")))?;
        let ms = crate::scheduler::check_time(ts, now_ms)?;
        let (module, export) = split_function_path(name);
        let canonical = format!("{}:{export}", module.strip_suffix(".js").unwrap_or(&module));
        let missing = || {
            dev(format!(
                "Attempted to schedule function at nonexistent path: {canonical}. Did you forget to run `npx convex dev`?"
            ))
        };
        if module.starts_with("_deps/") || self.modules.get(&module).is_none() {
            return Err(missing());
        }
        if !self.analyzed.contains(&module) {
            let analyzed = self.analyze_module(&module).map_err(|e| dev(e.message))?;
            self.record(&module, &analyzed).map_err(|e| dev(e.message))?;
        }
        let Some((kind, args_validator, _)) = self.functions.get(&canonical) else { return Err(missing()) };
        if !matches!(kind, UdfType::Mutation | UdfType::Action) {
            return Err(dev(format!(
                "Cannot schedule {canonical}: it is a {}, and only mutations and actions can be scheduled.",
                kind.as_str()
            )));
        }
        let value = Value::from_json(&function_args).map_err(|e| dev(format!("ArgumentValidationError: {}", e.message)))?;
        let tables = |table: &str| catalog.table_by_name(table).map(|t| t.number);
        validation::check_args(args_validator, std::slice::from_ref(&value), &tables)
            .map_err(|message| dev(format!("ArgumentValidationError: {message}")))?;
        Ok((canonical, value, ms))
    }

    /// Finds the function, checks its kind and validates the arguments.
    fn prepare(
        &mut self,
        kind: UdfType,
        path: &str,
        args: &serde_json::Value,
        tables: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<std::result::Result<Prepared, JsError>> {
        let (module, export) = split_function_path(path);
        let canonical = format!("{}:{export}", module.strip_suffix(".js").unwrap_or(&module));
        let fail = |message: String| Ok(Err(JsError::plain(message)));
        if module.starts_with("_deps/") || self.modules.get(&module).is_none() {
            return fail(format!(
                "Could not find function for '{canonical}'. Did you forget to run `npx convex dev`?"
            ));
        }
        // Arguments: one Convex-JSON object, validated before user code runs.
        let arg_value = match Value::from_json(args) {
            Ok(value) => value,
            Err(e) => return fail(format!("ArgumentValidationError: {}", e.message)),
        };
        if !self.analyzed.contains(&module) {
            let recorded = self
                .analyze_module(&module)
                .and_then(|analyzed| self.record(&module, &analyzed));
            if let Err(e) = recorded {
                return Ok(Err(e));
            }
        }
        let Some((declared_kind, args_validator, returns_validator)) =
            self.functions.get(&canonical).cloned()
        else {
            return fail(format!(
                "Could not find function for '{canonical}'. Did you forget to run `npx convex dev`?"
            ));
        };
        if declared_kind != kind {
            return fail(format!(
                "Trying to execute {canonical} as {}, but it is defined as {}.",
                kind.title(),
                declared_kind.title()
            ));
        }
        // Measured as upstream does: the one-element arguments array (2 bytes of array).
        let args_size = 2 + arg_value.size();
        if args_size > FUNCTION_MAX_ARGS_SIZE {
            return fail(format!(
                "Arguments for {module}:{export} are too large (actual: {}, limit: {})",
                binary_size(args_size),
                binary_size(FUNCTION_MAX_ARGS_SIZE)
            ));
        }
        if let Err(message) =
            validation::check_args(&args_validator, std::slice::from_ref(&arg_value), tables)
        {
            return fail(format!("ArgumentValidationError: {message}"));
        }
        Ok(Ok(Prepared {
            canonical,
            module,
            export,
            returns: returns_validator,
        }))
    }

    /// Runs a prepared function to completion: imports its module, calls `invoke*` with
    /// `invoke_args`, and drives the loop. Returns the result JSON text or the error, and logs.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        kind: UdfType,
        prepared: &Prepared,
        invoke_args: &[&str],
        request: ActiveRequest,
        now: f64,
        seed: u64,
        live: bool,
        limit: Duration,
        handler: &mut dyn FnMut(&str, &serde_json::Value) -> Option<SyscallResult>,
    ) -> Result<(std::result::Result<Value, JsError>, Vec<LogLine>)> {
        if !self.config.reuse_context && self.used {
            self.reset()?;
        }
        self.used = true;
        // Evaluate the module (first use in this context) in the import phase: no syscalls,
        // import-time clock, as Convex does, before the request's own state is installed.
        if !self
            .inner
            .namespaces
            .borrow()
            .contains_key(&prepared.module)
        {
            self.begin_with(None, self.import_ms, 0, false, ANALYZE_TIME_LIMIT)?;
            let inner = &self.inner;
            let loaded = inner.context.with(|ctx| {
                load_namespace(
                    &ctx,
                    &inner.host,
                    &mut inner.namespaces.borrow_mut(),
                    &prepared.module,
                )
                .map(|_| ())
            });
            self.inner.host.logs.take();
            if let Err(failure) = loaded {
                return Ok((
                    Err(self
                        .failure_to_error(failure, &format!("Failed to load {}", prepared.module))),
                    Vec::new(),
                ));
            }
        }
        self.begin_with(Some(request), now, seed, live, limit)?;
        let guard = TxGuard(&self.inner.host);
        let inner = &self.inner;
        let result = inner
            .context
            .with(|ctx| -> std::result::Result<String, Failure> {
                let ns = load_namespace(
                    &ctx,
                    &inner.host,
                    &mut inner.namespaces.borrow_mut(),
                    &prepared.module,
                )?;
                let hooks = inner.hooks.clone().restore(&ctx).map_err(internal)?;
                let function: Object = ns.get(prepared.export.as_str()).map_err(internal)?;
                // HTTP actions enter through the router (`http.js`'s default export), by way
                // of the prelude, which also reads a streamed response body to its end.
                let (invoke, router): (Function, Option<Object>) = if kind == UdfType::HttpAction {
                    (
                        hooks.get("runHttpRequest").map_err(internal)?,
                        Some(function),
                    )
                } else {
                    (function.get(kind.invoke_method()).map_err(internal)?, None)
                };
                let mut call_args =
                    rquickjs::function::Args::new(ctx.clone(), invoke_args.len() + 1);
                call_args.this(ctx.globals()).map_err(internal)?;
                if let Some(router) = router {
                    call_args.push_arg(router).map_err(internal)?;
                }
                for arg in invoke_args {
                    call_args.push_arg(*arg).map_err(internal)?;
                }
                if kind == UdfType::HttpAction {
                    let body = inner.host.http_request_body.borrow_mut().take();
                    let body = match body {
                        Some(bytes) => Some(rquickjs::ArrayBuffer::new(ctx.clone(), bytes).map_err(internal)?),
                        None => None,
                    };
                    call_args.push_arg(body).map_err(internal)?;
                }
                update_stack_top(&ctx);
                inner.host.budget.start();
                let called = invoke.call_arg::<Promise>(call_args).catch(&ctx);
                inner.host.budget.stop();
                let promise = called.map_err(|e| caught_failure(&ctx, &inner.host, &hooks, e))?;
                let json = drive(&ctx, &inner.host, &hooks, promise, handler)?;
                if kind == UdfType::HttpAction {
                    let take: Function = hooks.get("takeResponseBody").map_err(internal)?;
                    let body: Option<rquickjs::TypedArray<u8>> = take.call(()).map_err(internal)?;
                    *inner.host.http_response_body.borrow_mut() = body.as_ref().map(typed_bytes);
                }
                Ok(json)
            });
        drop(guard);
        let logs = self.inner.host.logs.take();
        self.last_user_time = self.inner.host.budget.used.get();
        let result = result.map_err(|failure| self.failure_to_error(failure, ""));
        if self.inner.runtime.is_job_pending() {
            // Work left behind (e.g. a promise nobody awaited) must not run in the next request.
            self.reset()?;
        }
        let json = match result {
            Ok(json) => json,
            Err(error) => return Ok((Err(error), logs)),
        };
        let value = serde_json::from_str::<serde_json::Value>(&json)
            .map_err(|e| e.to_string())
            .and_then(|json| Value::from_json(&json).map_err(|e| e.message))
            .map_err(|message| JsError::plain(format!("Invalid return value: {message}")));
        Ok((value, logs))
    }

    /// Remembers the kind and parsed validators of `module`'s functions.
    fn record(
        &mut self,
        module: &str,
        analyzed: &AnalyzedModule,
    ) -> std::result::Result<(), JsError> {
        for function in &analyzed.functions {
            let invalid = |which: &str, e: Error| {
                JsError::plain(format!(
                    "Failed to analyze {module}: {} has an invalid {which} validator: {}",
                    function.path, e.message
                ))
            };
            let args =
                parse_declared(function.args.as_deref(), true).map_err(|e| invalid("args", e))?;
            let returns = parse_declared(function.returns.as_deref(), false)
                .map_err(|e| invalid("returns", e))?;
            self.functions
                .insert(function.path.clone(), (function.udf_type, args, returns));
        }
        self.analyzed.insert(module.to_owned());
        Ok(())
    }

    /// Sets up per-request state: the active request, clean logs and budget, frozen time, seed.
    fn begin_with(
        &mut self,
        request: Option<ActiveRequest>,
        now_ms: f64,
        seed: u64,
        live: bool,
        limit: Duration,
    ) -> Result<()> {
        let host = &self.inner.host;
        *host.request.borrow_mut() = request;
        host.pending.borrow_mut().clear();
        host.logs.borrow_mut().clear();
        host.trace.borrow_mut().clear();
        host.unhandled.borrow_mut().clear();
        host.missing_env.borrow_mut().clear();
        host.budget.reset(limit);
        if live {
            host.budget.wall_deadline.set(Some(Instant::now() + limit));
        }
        let words = [
            seed as u32,
            (seed >> 32) as u32,
            (seed.rotate_left(17) ^ 0x9e37_79b9) as u32,
            ((seed >> 7) as u32) ^ 0x85eb_ca6b,
        ];
        // performance.now(): elapsed time in mutations (fixed in queries, real in actions).
        let perf_elapsed = host
            .request
            .borrow()
            .as_ref()
            .is_some_and(|request| request.syscalls.kind() == UdfType::Mutation);
        let call_begin = |inner: &Inner| {
            inner.context.with(|ctx| -> rquickjs::Result<()> {
                let hooks = inner.hooks.clone().restore(&ctx)?;
                let begin: Function = hooks.get("begin")?;
                begin.call::<_, ()>((
                    now_ms,
                    words[0],
                    words[1],
                    words[2],
                    words[3],
                    live,
                    perf_elapsed,
                ))
            })
        };
        if call_begin(&self.inner).is_ok() {
            return Ok(());
        }
        // The context is unusable (e.g. its heap is full): start over in a fresh one.
        let request = self.inner.host.request.borrow_mut().take();
        self.reset()?;
        let host = &self.inner.host;
        *host.request.borrow_mut() = request;
        host.budget.reset(limit);
        if live {
            host.budget.wall_deadline.set(Some(Instant::now() + limit));
        }
        call_begin(&self.inner).map_err(|e| {
            Error::internal("JsRuntimeFailed", format!("could not start a request: {e}"))
        })
    }

    /// Maps a QuickJS stack through the pushed modules' source maps.
    pub fn map_stack(&mut self, stack: &str) -> String {
        let modules = &self.modules;
        let maps = &mut self.source_maps;
        map_stack(stack, &mut |file| {
            maps.entry(file.to_owned())
                .or_insert_with(|| {
                    modules
                        .get(file)
                        .and_then(|m| m.source_map.as_deref())
                        .and_then(SourceMap::parse)
                        .map(Rc::new)
                })
                .clone()
        })
    }

    fn failure_to_error(&mut self, failure: Failure, prefix: &str) -> JsError {
        let prefixed = |message: String| {
            if prefix.is_empty() {
                message
            } else {
                format!("{prefix}: {message}")
            }
        };
        match failure {
            Failure::Js(mut error) => {
                error.message = prefixed(error.message);
                if let Some(stack) = &error.stack {
                    error.stack = Some(self.map_stack(stack));
                }
                error
            }
            Failure::System(error) => {
                JsError::plain(prefixed(format!("System error: {}", error.message)))
            }
            Failure::Timeout => {
                let limit = self.inner.host.budget.limit.get();
                let _ = self.reset();
                JsError::plain(prefixed(format!(
                    "Function execution timed out (maximum duration: {})",
                    format_duration(limit)
                )))
            }
            Failure::OutOfMemory => {
                let _ = self.reset();
                JsError::plain(prefixed(format!(
                    "JavaScript execution ran out of memory (maximum memory usage: {} MB)",
                    self.config.memory_limit >> 20
                )))
            }
        }
    }
}

/// Why [`JsRuntime::evaluate_auth_config`] failed.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthConfigError {
    /// A provider field is `undefined` because this environment variable is not set. Convex's
    /// error (code `AuthConfigMissingEnvironmentVariable`) reads: see [`Self::message`].
    MissingEnvironmentVariable(String),
    /// The module threw, or its default export is not `{ providers: [...] }`.
    Invalid(JsError),
}

impl AuthConfigError {
    /// The message for the push response (the CLI reads the variable name after
    /// "Environment variable ").
    pub fn message(&self) -> String {
        match self {
            AuthConfigError::MissingEnvironmentVariable(name) => format!(
                "Environment variable {name} is used in auth config file but its value was not set."
            ),
            AuthConfigError::Invalid(error) => error.message.clone(),
        }
    }
}

/// The module holding the app's HTTP router.
const HTTP_MODULE: &str = "http.js";

/// An HTTP request for [`JsRuntime::run_http_action`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Absolute URL, e.g. `http://127.0.0.1:3211/hello?x=1`.
    pub url: String,
    /// Header (name, value) pairs, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

/// The response an HTTP action produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header (name, value) pairs, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body (empty for a null body).
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn from_value(value: &Value) -> std::result::Result<HttpResponse, String> {
        let object = value
            .as_object()
            .ok_or("the HTTP action's response is not an object")?;
        let status = object
            .get("status")
            .and_then(Value::as_f64)
            .ok_or("the response has no status")?;
        let mut headers = Vec::new();
        for pair in object
            .get("headerPairs")
            .and_then(Value::as_array)
            .unwrap_or_default()
        {
            match pair.as_array() {
                Some([Value::String(name), Value::String(value)]) => {
                    headers.push((name.clone(), value.clone()))
                }
                _ => return Err("malformed response header".into()),
            }
        }
        let body = match object.get("body") {
            Some(Value::String(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| e.to_string())?,
            _ => Vec::new(),
        };
        Ok(HttpResponse {
            status: status as u16,
            headers,
            body,
        })
    }
}

/// The result of an HTTP action, with its logs.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpActionOutcome {
    /// The response, or the error the handler threw.
    pub result: std::result::Result<HttpResponse, JsError>,
    /// Captured console output.
    pub logs: Vec<LogLine>,
}

/// A function found, kind-checked and with validated arguments, ready to run.
struct Prepared {
    canonical: String,
    module: String,
    export: String,
    returns: DeclaredValidator,
}

fn check_result(
    prepared: &Prepared,
    value: Value,
    tables: &dyn Fn(&str) -> Option<u32>,
) -> std::result::Result<Value, JsError> {
    let limit = if prepared.module.starts_with("_system/") { SYSTEM_FUNCTION_MAX_RESULT_SIZE } else { FUNCTION_MAX_RESULT_SIZE };
    let size = value.size();
    if size > limit {
        return Err(JsError::plain(format!(
            "Function {}:{} return value is too large (actual: {}, limit: {})",
            prepared.module,
            prepared.export,
            binary_size(size),
            binary_size(limit)
        )));
    }
    match validation::check_returns(&prepared.returns, &value, tables) {
        Ok(()) => Ok(value),
        Err(message) => Err(JsError::plain(format!("ReturnsValidationError: {message}"))),
    }
}

/// A byte count as upstream's size errors print it (binary units, at most two decimals, trailing
/// zeros dropped): `512 B`, `16 MiB`, `16.5 MiB`.
pub fn binary_size(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", UNITS[unit])
}

/// `ctx.vectorSearch(table, index, {vector, limit, filter})`: `{query: {indexName: "t.i",
/// limit, vector, expressions}}` in, `{results: [{_id, _score}]}` out.
fn vector_search(db: &hull_db::Database, args: &serde_json::Value) -> SyscallResult {
    use crate::syscalls::dev;
    let query = args.get("query").ok_or_else(|| dev("Invalid arguments for 1.0/actions/vectorSearch: missing `query`"))?;
    let index_name = query.get("indexName").and_then(|i| i.as_str()).unwrap_or("");
    let (table, index) = index_name
        .split_once('.')
        .ok_or_else(|| dev(format!("Invalid vector index name {index_name:?}: expected \"<table>.<index>\"")))?;
    let vector: Vec<f64> = query
        .get("vector")
        .and_then(|v| v.as_array())
        .and_then(|items| items.iter().map(|n| n.as_f64()).collect())
        .ok_or_else(|| dev("`vector` must be a non-empty Array of numbers in vectorSearch"))?;
    let limit = match query.get("limit") {
        None | Some(serde_json::Value::Null) => None,
        Some(limit) => Some(limit.as_f64().filter(|l| *l >= 0.0 && l.fract() == 0.0).ok_or_else(|| dev("vectorSearch: `limit` must be a whole number"))? as usize),
    };
    let filter = match query.get("expressions") {
        None | Some(serde_json::Value::Null) => None,
        Some(json) => Some(hull_db::query::Expression::from_json(json)?),
    };
    let results = db.vector_search(table, index, &vector, limit, filter.as_ref())?;
    Ok(serde_json::json!({
        "results": results.iter().map(|(id, score)| serde_json::json!({"_id": id.encode(), "_score": score})).collect::<Vec<_>>(),
    }))
}

/// Mutations run by actions are retried this many times on conflicts.
const NESTED_MUTATION_RETRIES: usize = 10;

/// The function a `1.0/runUdf` / `1.0/actions/*` call addresses (`{name | reference |
/// functionHandle}`, see `getFunctionAddress` in the convex library).
fn function_name<'a>(
    args: &'a serde_json::Value,
    op: &str,
) -> std::result::Result<&'a str, SyscallError> {
    use crate::syscalls::dev;
    if let Some(name) = args.get("name") {
        return name.as_str().ok_or_else(|| {
            dev(format!(
                "Invalid arguments for {op}: `name` must be a string"
            ))
        });
    }
    if args.get("reference").is_some() {
        return Err(dev(format!(
            "{op}: component references address functions of components, and this deployment has no components (pushes with components are refused)"
        )));
    }
    if let Some(handle) = args.get("functionHandle") {
        return handle
            .as_str()
            .and_then(crate::syscalls::function_handle_path)
            .ok_or_else(|| dev(format!("Invalid function handle for {op}: {handle}")));
    }
    Err(dev(format!(
        "Invalid arguments for {op}: expected one of `name`, `reference` or `functionHandle`"
    )))
}

/// The callee's arguments: one Convex-JSON object (`{}` when absent).
fn function_args(
    args: &serde_json::Value,
    op: &str,
) -> std::result::Result<serde_json::Value, SyscallError> {
    match args.get("args") {
        None | Some(serde_json::Value::Null) => Ok(serde_json::json!({})),
        Some(object @ serde_json::Value::Object(_)) => Ok(object.clone()),
        Some(_) => Err(crate::syscalls::dev(format!(
            "Invalid arguments for {op}: `args` must be an object"
        ))),
    }
}

/// The scheduled job the running action serves (from its request's syscall state).
fn scheduled_job(host: &Host) -> Option<String> {
    host.request.borrow().as_ref().and_then(|request| request.syscalls.scheduled_job().map(str::to_owned))
}

/// Retries of an action's scheduling transaction on conflicts (it only inserts or patches one
/// job, so conflicts are rare: a concurrent cancel of the same job).
const SCHEDULE_OCC_MAX_RETRIES: usize = 10;

/// `ctx.scheduler.runAfter`/`runAt` in a mutation (`1.0/schedule`): checks the target and the
/// transaction's scheduling limits, then inserts the job in the caller's transaction, so it
/// exists iff the mutation commits. `now_ms` is the mutation's `Date.now()`.
fn schedule_in_transaction(
    nested: &mut JsRuntime,
    tx: *mut Transaction,
    caller: UdfType,
    usage: &crate::scheduler::ScheduledUsage,
    now_ms: f64,
    args: &serde_json::Value,
) -> SyscallResult {
    const OP: &str = "1.0/schedule";
    if caller != UdfType::Mutation {
        return Err(crate::syscalls::dev(format!(
            "ctx.scheduler is not available in a {}: only mutations and actions can schedule functions.",
            caller.as_str()
        )));
    }
    // SAFETY: as in `run_udf`: the pointer `run_function` derived from its `&mut Transaction`,
    // valid for the whole call; the caller's JS is suspended and holds no borrow of it.
    let tx = unsafe { &mut *tx };
    let (path, function_args, ms) = nested.schedule_target(args, OP, now_ms, tx.catalog())?;
    usage.charge(&function_args)?;
    let id = crate::scheduler::insert_job(tx, &path, function_args, ms)?;
    Ok(serde_json::Value::String(id.encode()))
}

/// `ctx.runQuery` / `ctx.runMutation` inside a query or mutation (`1.0/runUdf`). The callee
/// runs in the caller's transaction: it sees the caller's writes and its reads join the
/// caller's read set. A nested mutation runs in a sub-transaction (a savepoint): when it
/// fails, its writes are rolled back and the caller may catch the error and go on.
///
/// Convex's rules: queries may run queries; mutations may run queries (also with
/// `useStaleSnapshot`, `snapshotQuery`) and mutations; nothing in a transaction runs actions.
fn run_udf(
    nested: &mut JsRuntime,
    host: &Host,
    tx: *mut Transaction,
    caller: UdfType,
    args: &serde_json::Value,
) -> SyscallResult {
    use crate::syscalls::dev;
    const OP: &str = "1.0/runUdf";
    let udf_type = args.get("udfType").and_then(serde_json::Value::as_str);
    let kind = match (caller, udf_type) {
        (_, Some("query")) => UdfType::Query,
        // The stale snapshot is the caller's own snapshot; Hull runs it in the caller's
        // transaction (so it also sees the caller's writes, and its reads are tracked).
        (UdfType::Mutation, Some("snapshotQuery")) => UdfType::Query,
        (UdfType::Mutation, Some("mutation")) => UdfType::Mutation,
        (_, Some("snapshotQuery")) => {
            return Err(dev(
                "`useStaleSnapshot` is only supported in mutations, not queries.",
            ));
        }
        (_, Some("mutation")) => {
            return Err(dev(format!(
                "ctx.runMutation is not allowed in a {}: only mutations and actions can run mutations.",
                caller.as_str()
            )));
        }
        (_, Some("action")) => {
            return Err(dev(format!(
                "ctx.runAction is not allowed in a {}: only actions can run actions.",
                caller.as_str()
            )));
        }
        (_, other) => return Err(dev(format!("{OP}: unknown udfType {other:?}"))),
    };
    let name = function_name(args, OP)?;
    let function_args = function_args(args, OP)?;
    // SAFETY: `tx` is the pointer `run_function` derived from its `&mut Transaction` and keeps
    // valid for the whole call. The caller's JS is suspended in the drive loop and holds no
    // borrow of the transaction while the callee runs, so this is the only live reference.
    let tx = unsafe { &mut *tx };
    let savepoint = (kind == UdfType::Mutation).then(|| tx.savepoint());
    // One user-time budget for the whole transaction: the callee gets what is left.
    let remaining = host
        .budget
        .limit
        .get()
        .saturating_sub(host.budget.used.get());
    nested.budget_override = Some(remaining);
    nested.last_user_time = Duration::ZERO;
    let outcome = nested.run_function(kind, name, &function_args, tx, &RunOptions::default());
    nested.budget_override = None;
    host.budget
        .used
        .set(host.budget.used.get() + nested.last_user_time);
    let outcome = outcome?;
    if outcome.result.is_err()
        && let Some(savepoint) = savepoint
    {
        tx.rollback_to(savepoint);
    }
    nested_result(host, outcome)
}

/// A nested call's outcome as the syscall result the caller's library expects.
fn nested_result(host: &Host, outcome: FunctionOutcome) -> SyscallResult {
    for line in outcome.logs {
        host.log(line.level, line.messages);
    }
    match outcome.result {
        Ok(value) => Ok(value.to_json()),
        Err(JsError {
            message,
            data: Some(data),
            ..
        }) => {
            let message = message
                .strip_prefix("Uncaught ConvexError: ")
                .map(str::to_owned)
                .unwrap_or(message);
            Err(SyscallError::WithData(message, data.to_json()))
        }
        // The caller's library rethrows this as `new Error(message)`: drop the callee's
        // "Uncaught Error: " so the caller's error reads like a rethrow, not a nesting.
        Err(error) => {
            let message = error
                .message
                .strip_prefix("Uncaught ")
                .unwrap_or(&error.message);
            let message = message.strip_prefix("Error: ").unwrap_or(message);
            Err(crate::syscalls::dev(message))
        }
    }
}

/// The async syscalls of an action or HTTP action: `ctx.runQuery` / `ctx.runMutation` /
/// `ctx.runAction` (`1.0/actions/*`, each callee in its own transaction or execution), metadata,
/// and the ops that are not supported yet.
fn action_syscall(
    nested: &mut JsRuntime,
    host: &Host,
    db: &hull_db::Database,
    function: &str,
    op: &str,
    args: &serde_json::Value,
) -> SyscallResult {
    use crate::syscalls::dev;
    match op {
        "1.0/actions/query" | "1.0/actions/mutation" | "1.0/actions/action" => {
            let name = function_name(args, op)?;
            let function_args = function_args(args, op)?;
            let outcome = match op {
                "1.0/actions/query" => nested.execute_query(db, name, &function_args)?.0,
                "1.0/actions/mutation" => {
                    nested
                        .execute_mutation(db, name, &function_args, NESTED_MUTATION_RETRIES)?
                        .0
                }
                // Each ctx.runAction is an action execution of its own (with its own nested
                // runtime for the functions it calls, one level deeper).
                _ => {
                    if nested.depth + 1 >= MAX_CALL_DEPTH {
                        return Err(dev(format!(
                            "Too many nested function calls (maximum depth: {MAX_CALL_DEPTH})"
                        )));
                    }
                    nested.run_action(name, &function_args, db)?
                }
            };
            nested_result(host, outcome)
        }
        "1.0/runUdf" => Err(dev(
            "1.0/runUdf is only available in queries and mutations: actions use ctx.runQuery, ctx.runMutation and ctx.runAction (1.0/actions/*).",
        )),
        "1.0/getUserIdentity" => Ok(nested.identity.clone()),
        "1.0/getFunctionMetadata" => {
            Ok(serde_json::json!({ "name": function, "componentPath": "" }))
        }
        "1.0/getDeploymentMetadata" => Ok(crate::syscalls::deployment_metadata()),
        "1.0/getRequestMetadata" => Ok(crate::syscalls::request_metadata(scheduled_job(host).as_deref())),
        "1.0/createFunctionHandle" => crate::syscalls::create_function_handle(args),
        // Convex-managed services (e.g. "ai-gateway") exist only on Convex's cloud; "the backend
        // decides which names it accepts", and a self-hosted deployment accepts none.
        "1.0/createServiceToken" | "1.0/getServiceUrl" => {
            let service = args.get("service").and_then(|s| s.as_str()).unwrap_or("");
            Err(dev(format!(
                "Unknown service \"{service}\": this self-hosted deployment offers no Convex-managed services; call the provider's API directly with fetch()."
            )))
        }
        "1.0/actions/schedule" => {
            let (path, function_args, ms) = nested.schedule_target(args, op, unix_ms(), &db.catalog())?;
            // Its own small transaction: an action's effects are not transactional. One job
            // per transaction still obeys the per-transaction argument size limit.
            crate::scheduler::ScheduledUsage::default().charge(&function_args)?;
            let parent = scheduled_job(host).and_then(|id| hull_values::DocumentId::decode(&id).ok());
            let (id, _) = db.run_system(SCHEDULE_OCC_MAX_RETRIES, |tx| {
                crate::scheduler::insert_child_job(tx, parent, &path, function_args.clone(), ms, unix_ms())
            })?;
            Ok(serde_json::Value::String(id.encode()))
        }
        "1.0/actions/cancel_job" => {
            let id = crate::syscalls::job_id(args, op)?;
            db.run_system(SCHEDULE_OCC_MAX_RETRIES, |tx| crate::scheduler::cancel_job(tx, id, unix_ms()))?;
            Ok(serde_json::Value::Null)
        }
        "1.0/actions/vectorSearch" => vector_search(db, args),
        // Audit records are written atomically with a mutation's effects; an action has none.
        "1.0/auditLog" => Err(dev("AuditLogNotSupportedInAction: audit logs can only be written from mutations (an action's effects are not transactional); call a mutation that writes the record.")),
        "1.0/storageGetUrl"
        | "1.0/storageGetMetadata"
        | "1.0/storageGenerateUploadUrl"
        | "1.0/storageDelete" => Err(dev(format!("{op}: file storage is not supported yet"))),
        "1.0/get"
        | "1.0/insert"
        | "1.0/shallowMerge"
        | "1.0/replace"
        | "1.0/remove"
        | "1.0/queryStreamNext"
        | "1.0/queryPage" => Err(dev(format!(
            "{op} is not available in actions: use ctx.runQuery or ctx.runMutation to read or write the database."
        ))),
        _ => Err(dev(format!("Unknown async operation {op}"))),
    }
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn parse_declared(json: Option<&str>, is_args: bool) -> Result<DeclaredValidator> {
    let Some(json) = json else {
        return Ok(DeclaredValidator::Unvalidated);
    };
    let parsed: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        Error::bad_request("InvalidValidator", format!("invalid validator JSON: {e}"))
    })?;
    if parsed.is_null() {
        return Ok(DeclaredValidator::Unvalidated);
    }
    let validator = hull_db::schema::Validator::from_json(&parsed)?;
    if is_args
        && !matches!(
            validator,
            hull_db::schema::Validator::Object(_) | hull_db::schema::Validator::Any
        )
    {
        return Err(Error::bad_request(
            "InvalidValidator",
            "args validator must be an object or any",
        ));
    }
    Ok(DeclaredValidator::Validator(validator))
}

fn snapshot_ms(tx: &Transaction) -> f64 {
    let ts = tx.begin_ts().0;
    if ts == 0 {
        unix_ms().floor()
    } else {
        (ts / 1_000_000) as f64
    }
}

fn import_now() -> f64 {
    unix_ms().floor()
}

fn internal(e: rquickjs::Error) -> Failure {
    Failure::Js(JsError::plain(format!(
        "Internal error in the function runtime: {e}"
    )))
}

/// Converts a caught JS exception into a failure, classifying timeouts and out-of-memory.
fn caught_failure<'js>(
    ctx: &Ctx<'js>,
    host: &Host,
    hooks: &Object<'js>,
    error: rquickjs::CaughtError<'js>,
) -> Failure {
    if host.budget.tripped.get() {
        return Failure::Timeout;
    }
    let value = match error {
        rquickjs::CaughtError::Exception(e) => e.into_value(),
        rquickjs::CaughtError::Value(v) => v,
        rquickjs::CaughtError::Error(e) => return internal(e),
    };
    describe(ctx, hooks, value)
}

fn describe<'js>(_ctx: &Ctx<'js>, hooks: &Object<'js>, value: rquickjs::Value<'js>) -> Failure {
    if value.is_null() {
        // QuickJS throws null when it cannot even allocate the error object.
        return Failure::OutOfMemory;
    }
    let describe: Function = match hooks.get("describeError") {
        Ok(f) => f,
        Err(_) => return Failure::OutOfMemory,
    };
    let described: DescribedError = match describe.call::<_, String>((value,)) {
        Ok(json) => match serde_json::from_str(&json) {
            Ok(described) => described,
            Err(e) => {
                return Failure::Js(JsError::plain(format!(
                    "Uncaught error (undescribable: {e})"
                )));
            }
        },
        Err(_) => return Failure::OutOfMemory,
    };
    if described.name.as_deref() == Some("InternalError") && described.message == "out of memory" {
        return Failure::OutOfMemory;
    }
    let data = described.convex_error_data.as_deref().map(|text| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|json| Value::from_json(&json).ok())
            .unwrap_or_else(|| Value::String(format!("(invalid ConvexError data: {text})")))
    });
    let message = match &described.name {
        Some(name) if !name.is_empty() => format!("Uncaught {name}: {}", described.message),
        _ => format!("Uncaught {}", described.message),
    };
    Failure::Js(JsError {
        message,
        data,
        stack: described.stack.filter(|s| !s.is_empty()),
    })
}

/// Imports `path` (and its imports) once per context and returns its namespace.
fn load_namespace<'js>(
    ctx: &Ctx<'js>,
    host: &Host,
    namespaces: &mut HashMap<String, Persistent<Object<'static>>>,
    path: &str,
) -> std::result::Result<Object<'js>, Failure> {
    if let Some(ns) = namespaces.get(path) {
        return ns.clone().restore(ctx).map_err(internal);
    }
    update_stack_top(ctx);
    host.budget.start();
    let imported = Module::import(ctx, path).catch(ctx);
    let result = imported.and_then(|promise| {
        while ctx.execute_pending_job() {}
        match promise.state() {
            PromiseState::Resolved | PromiseState::Rejected => {
                promise.result::<Object>().expect("settled").catch(ctx)
            }
            PromiseState::Pending => Err(rquickjs::CaughtError::Error(
                rquickjs::Error::new_loading_message(
                    path,
                    "Top-level awaits in source files are unsupported",
                ),
            )),
        }
    });
    host.budget.stop();
    let hooks_failure = |e: rquickjs::CaughtError<'js>| -> Failure {
        if host.budget.tripped.get() {
            return Failure::Timeout;
        }
        match e {
            rquickjs::CaughtError::Error(rquickjs::Error::Loading { name, message }) => {
                Failure::Js(JsError::plain(format!(
                    "Failed to load module {name}: {}",
                    message.unwrap_or_default()
                )))
            }
            rquickjs::CaughtError::Error(e) => internal(e),
            rquickjs::CaughtError::Exception(e) => describe_plain(e.into_value()),
            rquickjs::CaughtError::Value(v) => describe_plain(v),
        }
    };
    let ns = result.map_err(hooks_failure)?;
    namespaces.insert(path.to_owned(), Persistent::save(ctx, ns.clone()));
    Ok(ns)
}

fn describe_plain(value: rquickjs::Value<'_>) -> Failure {
    if value.is_null() {
        return Failure::OutOfMemory;
    }
    let exception = value.as_exception();
    let message = match exception {
        Some(e) => {
            let name: Option<String> = e.get("name").ok();
            format!(
                "Uncaught {}: {}",
                name.unwrap_or_else(|| "Error".into()),
                e.message().unwrap_or_default()
            )
        }
        None => format!("Uncaught {:?}", value),
    };
    Failure::Js(JsError {
        message,
        data: None,
        stack: exception.and_then(|e| e.stack()),
    })
}

/// Async syscalls still queued when the function returned were never awaited and will not run.
fn warn_unawaited(host: &Host) {
    let ops: Vec<String> = host
        .pending
        .borrow()
        .iter()
        .map(|call| match call.op.as_str() {
            FETCH_OP => "fetch".to_owned(),
            op => op.to_owned(),
        })
        .collect();
    if ops.is_empty() {
        return;
    }
    let plural = if ops.len() == 1 { "" } else { "s" };
    host.log(
        LogLevel::Warn,
        vec![format!(
            "{} unawaited operation{plural}: [{}]. Async operations should be awaited or they might not run.",
            ops.len(),
            ops.join(", ")
        )],
    );
}

/// The execution loop: run microtasks; if the function's promise settled, done; otherwise run
/// the queued async syscalls in FIFO order, settle their promises, and repeat.
fn drive<'js>(
    ctx: &Ctx<'js>,
    host: &Host,
    hooks: &Object<'js>,
    promise: Promise<'js>,
    handler: &mut dyn FnMut(&str, &serde_json::Value) -> Option<SyscallResult>,
) -> std::result::Result<String, Failure> {
    loop {
        host.budget.start();
        while ctx.execute_pending_job() {}
        host.budget.stop();
        if host.budget.tripped.get() {
            return Err(Failure::Timeout);
        }
        match promise.state() {
            PromiseState::Resolved => {
                if let Some(failure) = unhandled_rejection(ctx, host, hooks)? {
                    return Err(failure);
                }
                warn_unawaited(host);
                return promise
                    .result::<String>()
                    .expect("settled")
                    .catch(ctx)
                    .map_err(|e| caught_failure(ctx, host, hooks, e));
            }
            PromiseState::Rejected => {
                let error = promise
                    .result::<rquickjs::Value>()
                    .expect("settled")
                    .catch(ctx);
                return Err(match error {
                    Ok(value) => describe(ctx, hooks, value),
                    Err(e) => caught_failure(ctx, host, hooks, e),
                });
            }
            PromiseState::Pending => {}
        }
        if let Some(failure) = unhandled_rejection(ctx, host, hooks)? {
            return Err(failure);
        }
        let calls: Vec<PendingCall> = host.pending.borrow_mut().drain(..).collect();
        if calls.is_empty() {
            // Actions: nothing to do until a timer is due. Sleeping is not user time, but an
            // action's wall clock is bounded by its time limit too.
            let next_timer: f64 = hooks
                .get::<_, Function>("nextTimerDelay")
                .and_then(|f| f.call(()))
                .map_err(internal)?;
            if next_timer >= 0.0 {
                let delay = Duration::from_secs_f64(next_timer / 1000.0);
                if let Some(deadline) = host.budget.wall_deadline.get()
                    && Instant::now() + delay > deadline
                {
                    return Err(Failure::Timeout);
                }
                std::thread::sleep(delay);
                let run: Function = hooks.get("runDueTimers").map_err(internal)?;
                host.budget.start();
                let ran = run.call::<_, ()>(()).catch(ctx);
                host.budget.stop();
                ran.map_err(|e| caught_failure(ctx, host, hooks, e))?;
                continue;
            }
            return Err(Failure::Js(JsError::plain(
                "Returned promise will never resolve. This usually means the function awaited something the runtime cannot complete (e.g. a timer or fetch in a query or mutation).".into(),
            )));
        }
        let mut fetched = run_fetches(host, &calls);
        for (index, call) in calls.into_iter().enumerate() {
            host.trace.borrow_mut().push(call.op.clone());
            if let Some(fetched) = fetched.get_mut(index).and_then(Option::take) {
                settle_fetch(ctx, &call, fetched)?;
                continue;
            }
            let args: serde_json::Value =
                serde_json::from_str(&call.args).unwrap_or(serde_json::Value::Null);
            // Time in syscalls (including nested functions an action runs) is not user time.
            let outcome = match handler(&call.op, &args) {
                Some(outcome) => outcome,
                None => host
                    .with_request(&call.op, |tx, state| state.run_async(tx, &call.op, &args))
                    .unwrap_or_else(|| Err(SyscallError::Developer(import_time_error(&call.op)))),
            };
            match outcome {
                Ok(json) => {
                    let resolve = call.resolve.restore(ctx).map_err(internal)?;
                    resolve
                        .call::<_, ()>((json.to_string(),))
                        .map_err(internal)?;
                }
                Err(SyscallError::Developer(message)) => {
                    // The library rethrows `new Error(e.message)` (or a ConvexError when the
                    // rejection has `data`); a real Error keeps direct callers' errors readable too.
                    let reject = call.reject.restore(ctx).map_err(internal)?;
                    let error = rquickjs::Exception::from_message(ctx.clone(), &message)
                        .map_err(internal)?;
                    reject.call::<_, ()>((error,)).map_err(internal)?;
                }
                Err(SyscallError::WithData(message, data)) => {
                    let reject = call.reject.restore(ctx).map_err(internal)?;
                    let error = rquickjs::Exception::from_message(ctx.clone(), &message)
                        .map_err(internal)?;
                    let data = ctx.json_parse(data.to_string()).map_err(internal)?;
                    error.set("data", data).map_err(internal)?;
                    reject.call::<_, ()>((error,)).map_err(internal)?;
                }
                Err(SyscallError::System(error)) => return Err(Failure::System(error)),
            }
        }
        // Nested queries and mutations spend the caller's user time too.
        if host.budget.used.get() > host.budget.limit.get() {
            host.budget.tripped.set(true);
            return Err(Failure::Timeout);
        }
        // An action's wall clock also runs out while it waits for fetches and nested calls.
        if let Some(deadline) = host.budget.wall_deadline.get()
            && Instant::now() >= deadline
        {
            return Err(Failure::Timeout);
        }
    }
}

/// Runs the `fetch()` calls among `calls` (in parallel when there are several) and returns
/// their results by position; empty when the batch has none.
fn run_fetches(
    host: &Host,
    calls: &[PendingCall],
) -> Vec<Option<std::result::Result<crate::fetch::FetchResponse, String>>> {
    if !calls.iter().any(|call| call.op == FETCH_OP) {
        return Vec::new();
    }
    let kind = host
        .request
        .borrow()
        .as_ref()
        .map(|request| request.syscalls.kind());
    let deadline = host.budget.wall_deadline.get();
    let run = |args: &str, body: Option<&[u8]>| {
        if !matches!(kind, Some(UdfType::Action | UdfType::HttpAction)) {
            return Err(
                "Can't use fetch() in queries and mutations. Please consider using an action."
                    .to_owned(),
            );
        }
        let request: crate::fetch::FetchRequest =
            serde_json::from_str(args).map_err(|e| format!("invalid fetch() arguments: {e}"))?;
        crate::fetch::perform(&request, body, deadline)
    };
    // Plain data only: the calls' promise handles must stay on this thread.
    let fetches: Vec<(&str, Option<&[u8]>)> = calls
        .iter()
        .filter(|c| c.op == FETCH_OP)
        .map(|c| (c.args.as_str(), c.body.as_deref()))
        .collect();
    let results: Vec<_> = if let [(args, body)] = fetches[..] {
        vec![run(args, body)]
    } else {
        let run = &run;
        std::thread::scope(|scope| {
            let handles: Vec<_> = fetches
                .iter()
                .map(|&(args, body)| scope.spawn(move || run(args, body)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("the HTTP client panicked".to_owned()))
                })
                .collect()
        })
    };
    let mut results = results.into_iter();
    calls
        .iter()
        .map(|call| (call.op == FETCH_OP).then(|| results.next().expect("one per fetch")))
        .collect()
}

/// Settles a `fetch()` promise: `[responseJson, ArrayBuffer]`, or an `Error` whose message
/// the prelude rethrows as a `TypeError`.
fn settle_fetch<'js>(
    ctx: &Ctx<'js>,
    call: &PendingCall,
    fetched: std::result::Result<crate::fetch::FetchResponse, String>,
) -> std::result::Result<(), Failure> {
    match fetched {
        Ok(response) => {
            let resolve = call.resolve.clone().restore(ctx).map_err(internal)?;
            let pair = rquickjs::Array::new(ctx.clone()).map_err(internal)?;
            pair.set(0, response.meta.to_string()).map_err(internal)?;
            let body = rquickjs::ArrayBuffer::new(ctx.clone(), response.body).map_err(|e| {
                if matches!(e, rquickjs::Error::Exception) {
                    let _ = ctx.catch();
                }
                Failure::OutOfMemory
            })?;
            pair.set(1, body).map_err(internal)?;
            resolve.call::<_, ()>((pair,)).map_err(internal)?;
        }
        Err(message) => {
            let reject = call.reject.clone().restore(ctx).map_err(internal)?;
            let error =
                rquickjs::Exception::from_message(ctx.clone(), &message).map_err(internal)?;
            reject.call::<_, ()>((error,)).map_err(internal)?;
        }
    }
    Ok(())
}

/// Like Convex, a request whose microtask checkpoint ends with a rejected promise that nothing
/// handles fails with that rejection (the function's own promise aside: its rejection is the
/// function's error).
fn unhandled_rejection<'js>(
    ctx: &Ctx<'js>,
    host: &Host,
    hooks: &Object<'js>,
) -> std::result::Result<Option<Failure>, Failure> {
    let first = {
        let mut unhandled = host.unhandled.borrow_mut();
        if unhandled.is_empty() {
            return Ok(None);
        }
        let first = unhandled.remove(0);
        unhandled.clear();
        first
    };
    let reason = first.1.restore(ctx).map_err(internal)?;
    Ok(Some(match describe(ctx, hooks, reason) {
        Failure::Js(mut error) => {
            error.message = format!("{} (an unhandled promise rejection)", error.message);
            Failure::Js(error)
        }
        other => other,
    }))
}

#[cfg(test)]
mod tests {
    use super::binary_size;

    #[test]
    fn sizes_print_in_binary_units_like_upstream() {
        assert_eq!(binary_size(0), "0 B");
        assert_eq!(binary_size(1023), "1023 B");
        assert_eq!(binary_size(1024), "1 KiB");
        assert_eq!(binary_size(1536), "1.5 KiB");
        assert_eq!(binary_size((1 << 24) + 2), "16 MiB");
        assert_eq!(binary_size((16 << 20) + (1 << 19)), "16.5 MiB");
        assert_eq!(binary_size((1 << 20) + 10_000), "1.01 MiB");
        assert_eq!(binary_size(24 << 20), "24 MiB");
    }
}
