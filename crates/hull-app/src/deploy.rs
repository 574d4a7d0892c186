//! Loading the deployed code at startup and making a push live.

use std::collections::BTreeMap;
use std::sync::Arc;

use hull_db::catalog::{BY_CREATION_TIME, BY_ID, FIRST_USER_TABLE_NUMBER};
use hull_db::{Database, Schema, Transaction};
use hull_errors::{Error, Result};
use hull_js::{JsRuntime, PushRequest};

use crate::deployment::{self, Deployment, StoredModule, WorkerPool};
use crate::limits::DEPLOY_OCC_MAX_RETRIES;
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

/// The deployment the database holds (empty when nothing was ever pushed).
pub(crate) fn load(database: &Database, config: &AppConfig) -> Result<Deployment> {
    let mut tx = database.begin();
    let modules: Vec<StoredModule> = deployment::read_modules(&mut tx)?.into_values().map(|(_, m)| m).collect();
    if modules.is_empty() {
        return Ok(Deployment::empty());
    }
    let workers = WorkerPool::spawn(&deployment::module_map(&modules), &config.runtime, config.js_workers)?;
    Ok(Deployment::new(&modules, Some(workers)))
}

impl Application {
    /// Makes the code, schema and indexes of a push request live (the JSON body the CLI sends
    /// to `start_push`; the push protocol will call this). Modules are analyzed first; then
    /// modules, schema and index changes commit in one transaction (new indexes are backfilled
    /// as part of the commit); then new calls go to the new code. On any error nothing changes.
    pub fn deploy_push_request(&self, json: &str) -> Result<DeploySummary> {
        let _one_push_at_a_time = self.inner.deploy_lock.lock();
        let push = PushRequest::parse(json)?;
        let config = &self.inner.config;
        let sources = push.modules;
        let module_map = hull_js::ModuleMap::new(sources.iter().cloned());
        let workers = WorkerPool::spawn(&module_map, &config.runtime, config.js_workers)?;
        let analysis = workers.run(|runtime| {
            runtime.analyze().map_err(|e| {
                Error::bad_request("InvalidModules", format!("Hit an error while pushing:\n{e}"))
            })
        })?;
        let schema = match push.schema {
            Some(schema_module) => {
                let runtime_config = config.runtime.clone();
                let json = workers.run(move |_| {
                    JsRuntime::evaluate_schema(&schema_module, runtime_config)
                        .map_err(|e| Error::bad_request("InvalidSchema", format!("Hit an error while pushing:\n{e}")))
                })?;
                Some(Schema::parse(&json)?)
            }
            None => None,
        };
        let modules = StoredModule::from_analysis(sources, &analysis);
        let ((modules_changed, indexes_added, indexes_dropped), _ts) =
            self.inner.database.run(DEPLOY_OCC_MAX_RETRIES, |tx| {
                let changed = deployment::write_modules(tx, &modules)?;
                tx.set_schema(schema.clone())?;
                let (added, dropped) = apply_index_diff(tx, schema.as_ref())?;
                Ok((changed, added, dropped))
            })?;
        let live = Deployment::new(&modules, Some(workers));
        let summary = DeploySummary {
            modules: modules.len(),
            modules_changed,
            functions: live.functions.len(),
            indexes_added,
            indexes_dropped,
        };
        *self.inner.deployment.write() = Arc::new(live);
        Ok(summary)
    }
}

/// Makes the user indexes follow `schema`: indexes it does not declare (or declares with other
/// fields) are dropped, missing ones created. Without a schema every user index is dropped, as
/// Convex does.
fn apply_index_diff(tx: &mut Transaction, schema: Option<&Schema>) -> Result<(Vec<String>, Vec<String>)> {
    let mut desired: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for table in schema.iter().flat_map(|s| s.tables.values()) {
        for index in &table.indexes {
            desired.insert((table.name.clone(), index.name.clone()), index.fields.clone());
        }
    }
    let catalog = tx.catalog().clone();
    let existing: BTreeMap<(String, String), Vec<String>> = catalog
        .indexes()
        .filter(|i| i.table >= FIRST_USER_TABLE_NUMBER && i.name != BY_ID && i.name != BY_CREATION_TIME)
        .filter_map(|i| catalog.table(i.table).map(|t| ((t.name.clone(), i.name.clone()), i.declared_fields.clone())))
        .collect();
    let mut dropped = Vec::new();
    for (key @ (table, name), fields) in &existing {
        if desired.get(key) != Some(fields) {
            tx.drop_index(table, name)?;
            dropped.push(format!("{table}.{name}"));
        }
    }
    let mut added = Vec::new();
    for (key @ (table, name), fields) in &desired {
        if existing.get(key) != Some(fields) {
            tx.create_index(table, name, fields)?;
            added.push(format!("{table}.{name}"));
        }
    }
    Ok((added, dropped))
}
