//! The deployed code: its durable form in the `_modules` system table, the function table
//! built from module analysis, and the JavaScript workers that serve it.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use hull_db::{Document, Transaction};
use hull_errors::{Code, Error, Result};
use hull_js::{AnalyzedModule, JsRuntime, JsWorker, ModuleMap, ModuleSource, RuntimeConfig, UdfType, Visibility};
use hull_store::Order;
use hull_values::{Object, Value};

use crate::env_vars::SharedEnv;
use crate::limits::{MODULES_MAX, WORKER_QUEUE_CALLS_MAX};

/// The system table holding one document per deployed module:
/// `{path, source, sourceMap: string | null, environment, functions}`, where `functions` is
/// the module's analysis as JSON text (`[{name, udfType, visibility}]`), so a restart needs no
/// re-analysis to know which functions exist.
pub const MODULES_TABLE: &str = "_modules";

/// What analysis says about one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Query, mutation or action.
    pub udf_type: UdfType,
    /// Public or internal (legacy functions that declare neither are public, as in Convex).
    pub visibility: Visibility,
}

/// One module as stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredModule {
    pub source: ModuleSource,
    /// `(export name, info)` in source order.
    pub functions: Vec<(String, FunctionInfo)>,
}

impl StoredModule {
    /// Builds stored modules from pushed sources and their analysis (modules analysis did not
    /// cover, such as `_deps/` chunks and `"use node"` files, define no callable functions).
    pub fn from_analysis(sources: Vec<ModuleSource>, analysis: &[AnalyzedModule]) -> Vec<StoredModule> {
        let by_path: HashMap<&str, &AnalyzedModule> = analysis.iter().map(|m| (m.path.as_str(), m)).collect();
        sources
            .into_iter()
            .map(|source| {
                let functions = by_path
                    .get(source.path.as_str())
                    .map(|module| {
                        module
                            .functions
                            .iter()
                            .map(|f| {
                                let name = f.path.rsplit_once(':').map_or(f.path.as_str(), |(_, name)| name);
                                let visibility = f.visibility.unwrap_or(Visibility::Public);
                                (name.to_owned(), FunctionInfo { udf_type: f.udf_type, visibility })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                StoredModule { source, functions }
            })
            .collect()
    }

    fn to_object(&self) -> Object {
        let functions: Vec<serde_json::Value> = self
            .functions
            .iter()
            .map(|(name, info)| {
                serde_json::json!({
                    "name": name,
                    "udfType": udf_type_name(info.udf_type),
                    "visibility": match info.visibility { Visibility::Public => "public", Visibility::Internal => "internal" },
                })
            })
            .collect();
        let text = |s: &str| Value::String(s.to_owned());
        Object::from([
            ("path".to_owned(), text(&self.source.path)),
            ("source".to_owned(), text(&self.source.source)),
            ("sourceMap".to_owned(), self.source.source_map.as_deref().map_or(Value::Null, text)),
            ("environment".to_owned(), text(&self.source.environment)),
            ("functions".to_owned(), Value::String(serde_json::Value::Array(functions).to_string())),
        ])
    }

    fn from_document(document: &Document) -> Result<StoredModule> {
        let object = document.object();
        let corrupt = |what: &str| {
            Error::internal("CorruptModules", format!("the {MODULES_TABLE} document {} has no valid {what}", document.id()))
        };
        let text = |field: &str| match object.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(corrupt(field)),
        };
        let source_map = match object.get("sourceMap") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let functions_json: serde_json::Value = serde_json::from_str(&text("functions")?).map_err(|_| corrupt("functions"))?;
        let mut functions = Vec::new();
        for function in functions_json.as_array().ok_or_else(|| corrupt("functions"))? {
            let field = |name: &str| function.get(name).and_then(|v| v.as_str()).ok_or_else(|| corrupt("functions"));
            let udf_type = parse_udf_type(field("udfType")?).ok_or_else(|| corrupt("functions"))?;
            let visibility = if field("visibility")? == "internal" { Visibility::Internal } else { Visibility::Public };
            functions.push((field("name")?.to_owned(), FunctionInfo { udf_type, visibility }));
        }
        let source = ModuleSource { path: text("path")?, source: text("source")?, source_map, environment: text("environment")? };
        Ok(StoredModule { source, functions })
    }
}

fn udf_type_name(udf_type: UdfType) -> &'static str {
    match udf_type {
        UdfType::Query => "query",
        UdfType::Mutation => "mutation",
        UdfType::Action => "action",
        UdfType::HttpAction => "httpAction",
    }
}

fn parse_udf_type(name: &str) -> Option<UdfType> {
    Some(match name {
        "query" => UdfType::Query,
        "mutation" => UdfType::Mutation,
        "action" => UdfType::Action,
        "httpAction" => UdfType::HttpAction,
        _ => return None,
    })
}

/// Every stored module with its document, by path.
pub(crate) fn read_modules(tx: &mut Transaction) -> Result<BTreeMap<String, (Document, StoredModule)>> {
    let Some(table) = tx.catalog().table_by_name(MODULES_TABLE).map(|t| t.number) else {
        return Ok(BTreeMap::new());
    };
    let mut stream = hull_db::QueryStream::full_table(tx, table, Order::Asc)?;
    let mut modules = BTreeMap::new();
    while let Some(document) = stream.next(tx)? {
        let module = StoredModule::from_document(&document)?;
        modules.insert(module.source.path.clone(), (document, module));
    }
    Ok(modules)
}

/// Makes `modules` the stored set in `tx`: inserts new modules, replaces changed ones, deletes
/// the rest. Returns how many documents changed.
pub(crate) fn write_modules(tx: &mut Transaction, modules: &[StoredModule]) -> Result<usize> {
    if modules.len() > MODULES_MAX {
        return Err(Error::bad_request(
            "TooManyModules",
            format!("A deployment may have at most {MODULES_MAX} modules; this push has {}.", modules.len()),
        ));
    }
    let mut existing = read_modules(tx)?;
    let mut changed = 0;
    for module in modules {
        let context = |error: Error| Error::new(error.code, error.short, format!("Could not store module {}: {}", module.source.path, error.message));
        match existing.remove(&module.source.path) {
            Some((_, stored)) if &stored == module => {}
            Some((document, _)) => {
                tx.replace(document.id(), module.to_object()).map_err(context)?;
                changed += 1;
            }
            None => {
                tx.insert_system_table(MODULES_TABLE, module.to_object()).map_err(context)?;
                changed += 1;
            }
        }
    }
    for (document, _) in existing.into_values() {
        tx.delete(document.id())?;
        changed += 1;
    }
    Ok(changed)
}

/// The system table holding the deployment's UDF config: one document `{serverVersion}`, the
/// `convex` npm version the live code was bundled with (what `get_config_hashes` reports).
pub const UDF_CONFIG_TABLE: &str = "_udf_config";

/// The stored UDF server version and its document.
pub(crate) fn read_udf_server_version(tx: &mut Transaction) -> Result<Option<(Document, String)>> {
    let Some(table) = tx.catalog().table_by_name(UDF_CONFIG_TABLE).map(|t| t.number) else {
        return Ok(None);
    };
    let mut stream = hull_db::QueryStream::full_table(tx, table, Order::Asc)?;
    let Some(document) = stream.next(tx)? else { return Ok(None) };
    let version = match document.object().get("serverVersion") {
        Some(Value::String(version)) => version.clone(),
        _ => {
            return Err(Error::internal("CorruptUdfConfig", format!("the {UDF_CONFIG_TABLE} document has no serverVersion")));
        }
    };
    Ok(Some((document, version)))
}

/// Stores the UDF server version of a push (a push without one keeps the stored version).
pub(crate) fn write_udf_server_version(tx: &mut Transaction, version: Option<&str>) -> Result<()> {
    let Some(version) = version else { return Ok(()) };
    let fields = Object::from([("serverVersion".to_owned(), Value::String(version.to_owned()))]);
    match read_udf_server_version(tx)? {
        Some((_, stored)) if stored == version => {}
        Some((document, _)) => {
            tx.replace(document.id(), fields)?;
        }
        None => {
            tx.insert_system_table(UDF_CONFIG_TABLE, fields)?;
        }
    }
    Ok(())
}

/// The live deployment: its function table and the workers running its code.
pub(crate) struct Deployment {
    /// By runtime path (`dir/file:fn`).
    pub functions: HashMap<String, FunctionInfo>,
    /// Every module's path (`dir/file.js`).
    pub modules: std::collections::BTreeSet<String>,
    /// `None` while nothing is deployed.
    pub workers: Option<WorkerPool>,
    /// Verifies user tokens against the providers this deployment's `auth.config.js` named.
    pub auth: Arc<hull_auth::Verifier>,
}

impl Deployment {
    pub fn empty() -> Deployment {
        let auth = crate::user_auth::verifier(None, None).expect("no providers is a valid config");
        Deployment { functions: HashMap::new(), modules: Default::default(), workers: None, auth }
    }

    /// A deployment of `modules`, served by `workers`, accepting tokens `auth` verifies.
    pub fn new(modules: &[StoredModule], workers: Option<WorkerPool>, auth: Arc<hull_auth::Verifier>) -> Deployment {
        let mut functions = HashMap::new();
        for module in modules {
            let stem = module.source.path.strip_suffix(".js").unwrap_or(&module.source.path);
            for (name, info) in &module.functions {
                functions.insert(format!("{stem}:{name}"), *info);
            }
        }
        let modules = modules.iter().map(|m| m.source.path.clone()).collect();
        Deployment { functions, modules, workers, auth }
    }
}

/// The modules' sources as the runtime takes them.
pub(crate) fn module_map(modules: &[StoredModule]) -> ModuleMap {
    ModuleMap::new(modules.iter().map(|m| m.source.clone()))
}

/// A few [`JsWorker`]s serving one set of modules. Each call goes to the least loaded worker;
/// a worker with [`WORKER_QUEUE_CALLS_MAX`] calls queued refuses more.
pub(crate) struct WorkerPool {
    workers: Vec<PooledWorker>,
    /// The deployment's environment variables; a worker applies a newer generation before its
    /// next call.
    env: SharedEnv,
}

struct PooledWorker {
    worker: JsWorker,
    /// Calls queued on or running on this worker.
    queued: AtomicUsize,
    /// The environment generation this worker's runtime has (`u64::MAX`: none yet). Only the
    /// worker's own thread writes it, at the start of a call.
    env_generation: Arc<AtomicU64>,
}

impl WorkerPool {
    pub fn spawn(modules: &ModuleMap, config: &RuntimeConfig, count: usize, env: &SharedEnv) -> Result<WorkerPool> {
        let workers = (0..count)
            .map(|i| {
                Ok(PooledWorker {
                    worker: JsWorker::spawn(&format!("hull-js-{i}"), modules.clone(), config.clone())?,
                    queued: AtomicUsize::new(0),
                    env_generation: Arc::new(AtomicU64::new(u64::MAX)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(WorkerPool { workers, env: env.clone() })
    }

    /// Runs `job` on a worker's runtime and waits for it. A panic in the job is caught here
    /// (the runtime's context is replaced, since the panic may have left it half-updated) and
    /// becomes an internal error for this call only.
    pub fn run<R: Send + 'static>(&self, job: impl FnOnce(&mut JsRuntime) -> Result<R> + Send + 'static) -> Result<R> {
        let PooledWorker { worker, queued, env_generation } = self
            .workers
            .iter()
            .min_by_key(|w| w.queued.load(Ordering::Relaxed))
            .expect("a pool has at least one worker");
        if queued.fetch_add(1, Ordering::AcqRel) >= WORKER_QUEUE_CALLS_MAX {
            queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::new(
                Code::Unavailable,
                "Overloaded",
                format!("Too many function calls are waiting ({WORKER_QUEUE_CALLS_MAX} per worker); try again shortly."),
            ));
        }
        let env = self.env.read().clone();
        let env_generation = env_generation.clone();
        let result = worker.run(move |runtime| match std::panic::catch_unwind(AssertUnwindSafe(|| {
            // Only forward: a call submitted before an update may run after a newer one.
            let applied = env_generation.load(Ordering::Acquire);
            if applied == u64::MAX || env.generation > applied {
                runtime.set_environment_variables(env.for_functions());
                env_generation.store(env.generation, Ordering::Release);
            }
            job(runtime)
        })) {
            Ok(result) => result,
            Err(_) => {
                let _ = runtime.reset();
                env_generation.store(u64::MAX, Ordering::Release);
                Err(Error::internal("FunctionRunnerPanicked", "the function runner panicked"))
            }
        });
        queued.fetch_sub(1, Ordering::AcqRel);
        result?
    }
}
