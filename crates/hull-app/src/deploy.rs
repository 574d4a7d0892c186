//! Loading the deployed code at startup, and the push protocol's two halves: **prepare**
//! (analyze a push and diff it against what is live; nothing changes) and **commit** (one
//! transaction writes modules, schema and index changes, then new calls go to the new code).
//!
//! `start_push` prepares and parks the prepared push in a small bounded table, keyed by a
//! random id the CLI carries back (wire: `schemaChange.schemaIds[""]`); `wait_for_schema`
//! checks the existing documents against the parked schema; `finish_push` commits it. A push
//! that is never finished (`convex codegen` stops after `start_push`) changes nothing and is
//! evicted by later pushes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use hull_db::catalog::{Catalog, BY_CREATION_TIME, BY_ID, FIRST_USER_TABLE_NUMBER};
use hull_db::{Database, Schema, Transaction};
use hull_errors::{Error, Result};
use hull_js::{AnalyzedModule, JsRuntime, ModuleSource, PushRequest};
use hull_store::Order;
use sha2::{Digest, Sha256};

use crate::deployment::{self, Deployment, StoredModule, WorkerPool};
use crate::limits::{DEPLOY_OCC_MAX_RETRIES, PENDING_PUSHES_MAX};
use crate::{AppConfig, Application};

/// What a push changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploySummary {
    /// Modules in the new deployment.
    pub modules: usize,
    /// `_modules` documents inserted, replaced or deleted.
    pub modules_changed: usize,
    /// Callable functions in the new deployment.
    pub functions: usize,
    /// Indexes created, as `table.index`.
    pub indexes_added: Vec<String>,
    /// Indexes dropped, as `table.index`.
    pub indexes_dropped: Vec<String>,
}

/// A deployed module's identity as the CLI compares it (`get_config_hashes`,
/// `unchangedModuleHashes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleHash {
    /// Module path, e.g. `messages.js`.
    pub path: String,
    /// `isolate` or `node`.
    pub environment: String,
    /// Lowercase hex SHA-256 of the source followed by the source map (empty when absent), as
    /// the CLI's `components.ts::hash` computes it.
    pub sha256: String,
}

impl ModuleHash {
    fn of(module: &ModuleSource) -> ModuleHash {
        let mut hasher = Sha256::new();
        hasher.update(module.source.as_bytes());
        hasher.update(module.source_map.as_deref().unwrap_or("").as_bytes());
        ModuleHash {
            path: module.path.clone(),
            environment: module.environment.clone(),
            sha256: crate::admin_key::encode_hex(&hasher.finalize()),
        }
    }
}

/// A database index as a push declares or drops it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexSpec {
    /// The table.
    pub table: String,
    /// The index name within the table.
    pub name: String,
    /// The declared fields (without the `_creationTime` and `_id` every index appends).
    pub fields: Vec<String>,
}

/// Everything a prepared push will change, computed without changing anything.
#[derive(Clone, Debug)]
pub struct PushPlan {
    /// The id `wait_for_schema` and `finish_push` name the push by.
    pub push_id: String,
    /// Analysis of every isolate module (functions, HTTP routes, crons).
    pub analysis: Vec<AnalyzedModule>,
    /// Every module of the push, with its environment, by path.
    pub modules: Vec<ModuleHash>,
    /// The new schema's JSON (`defineSchema(...).export()`), when the push has a schema.
    pub schema: Option<String>,
    /// The live schema's JSON, when there is one.
    pub previous_schema: Option<String>,
    /// The `convex` npm version the push was bundled with.
    pub udf_server_version: Option<String>,
    /// The `convex` npm version the live code was bundled with.
    pub previous_udf_server_version: Option<String>,
    /// Indexes the push creates (new, or redeclared with other fields).
    pub indexes_added: Vec<IndexSpec>,
    /// Indexes the push drops.
    pub indexes_removed: Vec<IndexSpec>,
    /// Module paths that are new.
    pub modules_added: Vec<String>,
    /// Module paths that disappear.
    pub modules_removed: Vec<String>,
    /// The auth providers of the push's `auth.config.js` (`appAuth` JSON), when it has one.
    pub auth_providers: Option<serde_json::Value>,
    /// The live deployment's auth providers.
    pub previous_auth_providers: Option<serde_json::Value>,
    /// Crons (`convex/crons.ts`) the push adds, changes and removes.
    pub cron_diff: crate::crons::CronDiff,
}

/// Where the schema check of a prepared push stands (`wait_for_schema`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Existing documents match the new schema; indexes are built when the push commits.
    Complete,
    /// A document does not match the new schema.
    Failed {
        /// Convex's text: `Document with ID "…" in table "…" does not match the schema: …`.
        error: String,
        /// The table of that document.
        table: Option<String>,
    },
    /// The push is unknown: superseded by a newer push, evicted, or another push committed
    /// since it was prepared.
    RaceDetected,
}

/// How an index fares under a push (`evaluate_schema`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexChange {
    /// Created by the push (backfilled when it commits).
    Added,
    /// Kept as it is.
    Identical,
    /// Dropped by the push.
    Dropped,
}

/// One table under a push's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableEvaluation {
    /// The table.
    pub name: String,
    /// Documents in it now (a lower bound when the table is larger than one scan may read).
    pub documents: u64,
    /// Whether the new schema validates its documents.
    pub validated: bool,
}

/// What a push would do to the schema, tables and indexes (`evaluate_schema`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaEvaluation {
    /// Whether the new schema validates documents at all.
    pub schema_validation: bool,
    /// Tables the new schema defines or that have indexes now.
    pub tables: Vec<TableEvaluation>,
    /// Every index the push adds, keeps or drops, with its table's document count.
    pub indexes: Vec<(IndexSpec, IndexChange, u64)>,
}

/// A prepared push waiting for `finish_push`.
pub(crate) struct PendingPush {
    plan: Arc<PushPlan>,
    modules: Vec<StoredModule>,
    schema: Option<Schema>,
    /// The crons `crons.js` exports (none without that module).
    crons: BTreeMap<String, crate::crons::CronSpec>,
    /// The deploy generation it was diffed against.
    generation: u64,
    dry_run: bool,
}

/// Prepared pushes by id, oldest first, at most [`PENDING_PUSHES_MAX`].
#[derive(Default)]
pub(crate) struct PendingPushes {
    pushes: VecDeque<PendingPush>,
}

impl PendingPushes {
    /// Parks `push`. A real (not dry-run) push supersedes every earlier real push, as a newer
    /// pending schema does upstream. When the table is full the oldest dry run goes (so dry
    /// runs never evict the pending real push), or else the oldest entry.
    fn insert(&mut self, push: PendingPush) {
        if !push.dry_run {
            self.pushes.retain(|p| p.dry_run);
        }
        if self.pushes.len() == PENDING_PUSHES_MAX {
            let victim = self.pushes.iter().position(|p| p.dry_run).unwrap_or(0);
            self.pushes.remove(victim);
        }
        self.pushes.push_back(push);
    }

    fn get(&self, id: &str) -> Option<&PendingPush> {
        self.pushes.iter().find(|p| p.plan.push_id == id)
    }

    fn take(&mut self, id: &str) -> Option<PendingPush> {
        let position = self.pushes.iter().position(|p| p.plan.push_id == id)?;
        self.pushes.remove(position)
    }
}

/// The deployment the database holds (empty when nothing was ever pushed).
pub(crate) fn load(database: &Database, config: &AppConfig, env: &crate::env_vars::SharedEnv) -> Result<Deployment> {
    let mut tx = database.begin_system();
    let modules: Vec<StoredModule> = deployment::read_modules(&mut tx)?.into_values().map(|(_, m)| m).collect();
    if modules.is_empty() {
        return Ok(Deployment::empty());
    }
    let workers = WorkerPool::spawn(&deployment::module_map(&modules), &config.runtime, config.js_workers, env)?;
    let providers = crate::user_auth::read(&mut tx)?.map(|(_, providers)| providers);
    Ok(Deployment::new(&modules, Some(workers), crate::user_auth::verifier(providers.as_ref(), None)?))
}

/// The module whose default export defines the crons.
const CRONS_MODULE: &str = "crons.js";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn race_detected() -> Error {
    Error::bad_request(
        "RaceDetected",
        "This push is no longer pending: a newer push replaced it, or another push finished since it started. Push again.",
    )
}

impl Application {
    /// The deployed modules' hashes and the `convex` version they were bundled with
    /// (`get_config_hashes`).
    pub fn module_hashes(&self) -> Result<(Vec<ModuleHash>, Option<String>)> {
        let mut tx = self.inner.database.begin_system();
        let hashes = deployment::read_modules(&mut tx)?.values().map(|(_, m)| ModuleHash::of(&m.source)).collect();
        let version = deployment::read_udf_server_version(&mut tx)?.map(|(_, version)| version);
        Ok((hashes, version))
    }

    /// `start_push`: prepares the push in `json` (a start_push body; `unchanged` are the
    /// modules it reuses from the live deployment by hash) and parks it for
    /// [`Application::finish_push`]. Nothing live changes.
    pub fn start_push(&self, json: &str, unchanged: &[ModuleHash], dry_run: bool) -> Result<Arc<PushPlan>> {
        let generation = self.inner.deploy_lock.lock();
        let pending = self.prepare(json, unchanged, *generation, dry_run)?;
        drop(generation);
        let plan = pending.plan.clone();
        self.inner.pending_pushes.lock().insert(pending);
        Ok(plan)
    }

    /// `evaluate_push`: what the push would change, without parking it.
    pub fn evaluate_push(&self, json: &str, unchanged: &[ModuleHash]) -> Result<Arc<PushPlan>> {
        let generation = *self.inner.deploy_lock.lock();
        Ok(self.prepare(json, unchanged, generation, true)?.plan)
    }

    /// `evaluate_schema`: the push's effect on tables and indexes, with document counts. Only
    /// the schema is evaluated (the CLI asks before every deploy; `start_push` analyzes the
    /// modules right after).
    pub fn evaluate_schema(&self, json: &str, unchanged: &[ModuleHash]) -> Result<SchemaEvaluation> {
        let generation = *self.inner.deploy_lock.lock();
        let plan = self.prepare_with(json, unchanged, generation, true, false)?.plan;
        let schema = plan.schema.as_deref().map(Schema::parse).transpose()?;
        let catalog = self.inner.database.catalog();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut count = |table: &str| *counts.entry(table.to_owned()).or_insert_with(|| self.count_documents(&catalog, table));
        let mut tables = Vec::new();
        for definition in schema.iter().flat_map(|s| s.tables.values()) {
            let validated = schema.as_ref().is_some_and(|s| s.schema_validation);
            tables.push(TableEvaluation { name: definition.name.clone(), documents: count(&definition.name), validated });
        }
        let (existing, desired) = (existing_indexes(&catalog), desired_indexes(schema.as_ref()));
        let mut indexes = Vec::new();
        for spec in desired.iter().chain(existing.iter()).collect::<BTreeSet<_>>() {
            let change = match (existing.contains(spec), desired.contains(spec)) {
                (true, true) => IndexChange::Identical,
                (false, true) => IndexChange::Added,
                _ => IndexChange::Dropped,
            };
            indexes.push((spec.clone(), change, count(&spec.table)));
        }
        Ok(SchemaEvaluation { schema_validation: schema.as_ref().is_none_or(|s| s.schema_validation), tables, indexes })
    }

    /// `wait_for_schema`: checks the documents that exist now against the parked push's schema.
    /// Indexes are backfilled as part of the commit, so there is no progress to wait for.
    pub fn wait_for_schema(&self, push_id: &str) -> Result<SchemaStatus> {
        let schema = {
            let pending = self.inner.pending_pushes.lock();
            let Some(push) = pending.get(push_id) else { return Ok(SchemaStatus::RaceDetected) };
            if push.generation != *self.inner.deploy_lock.lock() {
                return Ok(SchemaStatus::RaceDetected);
            }
            push.schema.clone()
        };
        let Some(schema) = schema else { return Ok(SchemaStatus::Complete) };
        let live = self.inner.database.catalog().schema().cloned();
        check_existing_documents(&self.inner.database, &schema, live.as_deref())
    }

    /// `finish_push`: commits the parked push in one transaction and makes its code live
    /// (a dry run only forgets it). Fails with `RaceDetected` when the push is no longer
    /// pending, and with `SchemaValidationError` when a document written since
    /// `wait_for_schema` violates the new schema; either way nothing changes.
    pub fn finish_push(&self, push_id: &str, dry_run: bool) -> Result<(Arc<PushPlan>, Option<DeploySummary>)> {
        let push = self.inner.pending_pushes.lock().take(push_id).ok_or_else(race_detected)?;
        if dry_run || push.dry_run {
            return Ok((push.plan, None));
        }
        let mut generation = self.inner.deploy_lock.lock();
        if push.generation != *generation {
            return Err(race_detected());
        }
        let summary = self.commit(&push)?;
        *generation += 1;
        Ok((push.plan, Some(summary)))
    }

    /// Makes the code, schema and indexes of a push request live in one step (prepare, then
    /// commit; `hull deploy-push-request` and tests). On any error nothing changes.
    pub fn deploy_push_request(&self, json: &str) -> Result<DeploySummary> {
        let mut generation = self.inner.deploy_lock.lock();
        let push = self.prepare(json, &[], *generation, false)?;
        let summary = self.commit(&push)?;
        *generation += 1;
        Ok(summary)
    }

    /// Analyzes a push and diffs it against the live deployment. Runs user code only on a
    /// throwaway worker; reads the database in one snapshot; writes nothing.
    fn prepare(&self, json: &str, unchanged: &[ModuleHash], generation: u64, dry_run: bool) -> Result<PendingPush> {
        self.prepare_with(json, unchanged, generation, dry_run, true)
    }

    /// [`Application::prepare`], analyzing the modules only when `analyze` is set.
    fn prepare_with(&self, json: &str, unchanged: &[ModuleHash], generation: u64, dry_run: bool, analyze: bool) -> Result<PendingPush> {
        let push = PushRequest::parse(json)?;
        let config = &self.inner.config;
        let mut tx = self.inner.database.begin_system();
        let stored = deployment::read_modules(&mut tx)?;
        let mut sources = push.modules;
        for hash in unchanged {
            let reused = stored.get(&hash.path).map(|(_, m)| &m.source).filter(|s| ModuleHash::of(s) == *hash);
            let Some(source) = reused else {
                return Err(Error::bad_request(
                    "ModuleNotFound",
                    format!("Could not find existing unchanged module {} (sha256 {}); push again with every module.", hash.path, hash.sha256),
                ));
            };
            sources.push(source.clone());
        }
        let mut seen = BTreeSet::new();
        if let Some(duplicate) = sources.iter().find(|s| !seen.insert(s.path.as_str())) {
            return Err(Error::bad_request(
                "InvalidModules",
                format!("Hit an error while pushing:\nThe push contains the module {} twice.", duplicate.path),
            ));
        }
        let module_map = hull_js::ModuleMap::new(sources.iter().cloned());
        let analyzer = WorkerPool::spawn(&module_map, &config.runtime, 1, &self.inner.env)?;
        let analysis = if analyze {
            analyzer.run(|runtime| {
                runtime.analyze().map_err(|e| Error::bad_request("InvalidModules", format!("Hit an error while pushing:\n{e}")))
            })?
        } else {
            Vec::new()
        };
        let auth_providers = if analyze { crate::user_auth::evaluate(&analyzer)? } else { None };
        let schema = match push.schema {
            Some(schema_module) => {
                let runtime_config = config.runtime.clone();
                let json = analyzer.run(move |_| {
                    JsRuntime::evaluate_schema(&schema_module, runtime_config)
                        .map_err(|e| Error::bad_request("InvalidSchema", format!("Hit an error while pushing:\n{e}")))
                })?;
                Some(Schema::parse(&json)?)
            }
            None => None,
        };
        let crons = match analysis.iter().find_map(|module| module.crons.as_ref().filter(|_| module.path == CRONS_MODULE)) {
            Some(exported) => crate::crons::parse_specs(exported)?,
            None => BTreeMap::new(),
        };
        let cron_diff = crate::crons::diff(&mut tx, &crons)?;
        let catalog = tx.catalog().clone();
        let (existing, desired) = (existing_indexes(&catalog), desired_indexes(schema.as_ref()));
        let new_paths: BTreeSet<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        let plan = PushPlan {
            push_id: crate::admin_key::encode_hex(&rand::random::<[u8; 16]>()),
            modules: sources.iter().map(ModuleHash::of).collect(),
            schema: schema.as_ref().map(|s| s.source.clone()),
            previous_schema: catalog.schema().map(|s| s.source.clone()),
            udf_server_version: push.udf_server_version,
            previous_udf_server_version: deployment::read_udf_server_version(&mut tx)?.map(|(_, version)| version),
            indexes_added: desired.difference(&existing).cloned().collect(),
            indexes_removed: existing.difference(&desired).cloned().collect(),
            modules_added: new_paths.iter().filter(|p| !stored.contains_key(**p)).map(|p| p.to_string()).collect(),
            modules_removed: stored.keys().filter(|p| !new_paths.contains(p.as_str())).cloned().collect(),
            analysis,
            auth_providers,
            previous_auth_providers: crate::user_auth::read(&mut tx)?.map(|(_, providers)| providers),
            cron_diff,
        };
        let modules = StoredModule::from_analysis(sources, &plan.analysis);
        Ok(PendingPush { plan: Arc::new(plan), modules, schema, crons, generation, dry_run })
    }

    /// Commits a prepared push: one transaction writes the modules, the schema (checking every
    /// existing document again, inside the transaction) and the index changes (new indexes
    /// are backfilled as part of the commit); then new calls go to the new code. The caller
    /// holds the deploy lock.
    fn commit(&self, push: &PendingPush) -> Result<DeploySummary> {
        let config = &self.inner.config;
        let workers = WorkerPool::spawn(&deployment::module_map(&push.modules), &config.runtime, config.js_workers, &self.inner.env)?;
        let ((modules_changed, indexes_added, indexes_dropped), _ts) =
            self.inner.database.run_system(DEPLOY_OCC_MAX_RETRIES, |tx| {
                let changed = deployment::write_modules(tx, &push.modules)?;
                deployment::write_udf_server_version(tx, push.plan.udf_server_version.as_deref())?;
                crate::user_auth::write(tx, push.plan.auth_providers.as_ref())?;
                // Every stored document already passed the live schema, so an unchanged schema
                // needs no check (`set_schema` reads the schema's tables whole). This is a system
                // transaction: a large deployment's check is not bound by a function's limits.
                let live = tx.catalog().schema().map(|s| s.source.clone());
                if live != push.schema.as_ref().map(|s| s.source.clone()) {
                    tx.set_schema(push.schema.clone())?;
                }
                let (added, dropped) = apply_index_diff(tx, push.schema.as_ref())?;
                // Crons change with the code that defines them, atomically.
                crate::crons::apply(tx, &push.crons, now_ms())?;
                Ok((changed, added, dropped))
            })?;
        let auth = crate::user_auth::verifier(push.plan.auth_providers.as_ref(), Some(&self.current().auth))?;
        let live = Deployment::new(&push.modules, Some(workers), auth);
        let summary = DeploySummary {
            modules: push.modules.len(),
            modules_changed,
            functions: live.functions.len(),
            indexes_added,
            indexes_dropped,
        };
        *self.inner.deployment.write() = Arc::new(live);
        self.inner.code_swaps.fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(summary)
    }

    /// Documents in `table` now, counted by one scan in a system transaction.
    fn count_documents(&self, catalog: &Catalog, table: &str) -> u64 {
        let Some(number) = catalog.table_by_name(table).map(|t| t.number) else { return 0 };
        let mut tx = self.inner.database.begin_system();
        let Ok(mut stream) = hull_db::QueryStream::full_table(&mut tx, number, Order::Asc) else { return 0 };
        let mut count = 0;
        while let Ok(Some(_)) = stream.next(&mut tx) {
            count += 1;
        }
        count
    }
}

/// The first existing document that violates `schema`, in upstream's words, or `Complete`.
/// Tables whose definition the enforced `live` schema already has are skipped: every stored
/// document passed the live schema.
fn check_existing_documents(database: &Database, schema: &Schema, live: Option<&Schema>) -> Result<SchemaStatus> {
    if !schema.schema_validation {
        return Ok(SchemaStatus::Complete);
    }
    let enforced = |name: &str| live.filter(|l| l.schema_validation).and_then(|l| l.tables.get(name));
    let mut tx = database.begin_system();
    let catalog = tx.catalog().clone();
    let table_number = |name: &str| catalog.table_by_name(name).map(|t| t.number);
    for definition in schema.tables.values() {
        if enforced(&definition.name) == Some(definition) {
            continue;
        }
        let Some(table) = catalog.table_by_name(&definition.name) else { continue };
        let mut stream = hull_db::QueryStream::full_table(&mut tx, table.number, Order::Asc)?;
        while let Some(document) = stream.next(&mut tx)? {
            if let Err(error) = schema.check_document(&table.name, document.object(), &table_number) {
                // hull-db words the reason for a write; the push protocol names the document.
                const WRITE_PREFIX: &str = "because it does not match the schema: ";
                let reason = error.message.split_once(WRITE_PREFIX).map_or(error.message.as_str(), |(_, reason)| reason);
                let error = format!(
                    "Document with ID \"{}\" in table \"{}\" does not match the schema: {reason}",
                    document.id(),
                    table.name
                );
                return Ok(SchemaStatus::Failed { error, table: Some(table.name.clone()) });
            }
        }
    }
    Ok(SchemaStatus::Complete)
}

/// The user indexes `schema` declares (none without a schema).
fn desired_indexes(schema: Option<&Schema>) -> BTreeSet<IndexSpec> {
    schema
        .iter()
        .flat_map(|s| s.tables.values())
        .flat_map(|table| {
            table.indexes.iter().map(|index| IndexSpec {
                table: table.name.clone(),
                name: index.name.clone(),
                fields: index.fields.clone(),
            })
        })
        .collect()
}

/// The user indexes that exist now.
fn existing_indexes(catalog: &Catalog) -> BTreeSet<IndexSpec> {
    catalog
        .indexes()
        .filter(|i| i.table >= FIRST_USER_TABLE_NUMBER && i.name != BY_ID && i.name != BY_CREATION_TIME)
        .filter_map(|i| {
            let table = catalog.table(i.table)?;
            Some(IndexSpec { table: table.name.clone(), name: i.name.clone(), fields: i.declared_fields.clone() })
        })
        .collect()
}

/// Makes the user indexes follow `schema`: indexes it does not declare (or declares with other
/// fields) are dropped, missing ones created. Without a schema every user index is dropped, as
/// Convex does.
fn apply_index_diff(tx: &mut Transaction, schema: Option<&Schema>) -> Result<(Vec<String>, Vec<String>)> {
    let catalog = tx.catalog().clone();
    let (existing, desired) = (existing_indexes(&catalog), desired_indexes(schema));
    let mut dropped = Vec::new();
    for spec in existing.difference(&desired) {
        tx.drop_index(&spec.table, &spec.name)?;
        dropped.push(format!("{}.{}", spec.table, spec.name));
    }
    let mut added = Vec::new();
    for spec in desired.difference(&existing) {
        tx.create_index(&spec.table, &spec.name, &spec.fields)?;
        added.push(format!("{}.{}", spec.table, spec.name));
    }
    Ok((added, dropped))
}
