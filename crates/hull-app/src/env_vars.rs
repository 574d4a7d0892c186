//! The deployment's environment variables (`process.env` in functions): stored durably in the
//! `_environment_variables` system table, validated with Convex's rules and limits, and handed
//! to every JavaScript worker. An update commits, then bumps a generation number; each worker
//! compares it with the generation it last applied before running its next call, so running
//! workers see new values from their next call on without a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use hull_db::{Document, Transaction};
use hull_errors::{Error, Result};
use hull_store::Order;
use hull_values::{Object, Value};
use parking_lot::RwLock;

use crate::limits::{
    ENV_VAR_LIMIT, ENV_VAR_NAME_MAX_LENGTH, ENV_VAR_TOTAL_SIZE_LIMIT, ENV_VAR_UPDATE_OCC_MAX_RETRIES, ENV_VAR_VALUE_MAX_SIZE,
};
use crate::Application;

/// The system table holding one document `{name, value}` per environment variable (upstream's
/// table name, so exports of either read alike).
pub const ENVIRONMENT_VARIABLES_TABLE: &str = "_environment_variables";

/// One change of an update: set `name` to `value`, or remove it (`None`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EnvVarChange {
    /// The variable's name.
    pub name: String,
    /// The new value; `None` removes the variable.
    pub value: Option<String>,
}

/// The built-in variables every function sees and no one may set: the deployment's own URLs,
/// as upstream's (`crates/udf/src/environment.rs`).
pub const BUILTIN_ENVIRONMENT_VARIABLES: [&str; 2] = ["CONVEX_CLOUD_URL", "CONVEX_SITE_URL"];

/// The variables as of one generation.
#[derive(Debug, Default)]
pub(crate) struct EnvSnapshot {
    /// Bumped by every change of `variables` or `builtins`.
    pub generation: u64,
    /// The deployment's own variables.
    pub variables: BTreeMap<String, String>,
    /// The built-in ones that are known (the server sets them once it has bound its ports).
    pub builtins: BTreeMap<String, String>,
}

impl EnvSnapshot {
    /// What `process.env` holds: the deployment's variables and the built-ins.
    pub fn for_functions(&self) -> BTreeMap<String, String> {
        let mut all = self.variables.clone();
        all.extend(self.builtins.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

/// The live variables, shared by the application and every worker pool it spawns.
pub(crate) type SharedEnv = Arc<RwLock<Arc<EnvSnapshot>>>;

/// Checks a name against Convex's rule (`^[a-zA-Z_]+[a-zA-Z0-9_]*$`, at most
/// [`ENV_VAR_NAME_MAX_LENGTH`] bytes), with Convex's codes and texts.
pub fn check_name(name: &str) -> Result<()> {
    if name.len() > ENV_VAR_NAME_MAX_LENGTH {
        return Err(Error::bad_request(
            "EnvironmentVariableNameTooLong",
            format!(
                "The environment variable name {name} is too long. Environment variable names must be less than \
                 {ENV_VAR_NAME_MAX_LENGTH}."
            ),
        ));
    }
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::bad_request(
            "EnvironmentVariableNameInvalid",
            format!(
                "The environment variable name {name} is invalid. Environment variable names must begin with a letter \
                 and may only include characters a-z, A-Z, 0-9, and underscores."
            ),
        ));
    }
    Ok(())
}

/// Checks a value's size (at most [`ENV_VAR_VALUE_MAX_SIZE`] bytes).
pub fn check_value(value: &str) -> Result<()> {
    if value.len() > ENV_VAR_VALUE_MAX_SIZE {
        return Err(Error::bad_request(
            "EnvironmentVariableValueTooLarge",
            format!(
                "The environment variable value is {} bytes, which is too large. (max size: {ENV_VAR_VALUE_MAX_SIZE} bytes)",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Checks the count and total size of a whole set of variables.
fn check_limits(variables: &BTreeMap<String, String>) -> Result<()> {
    if variables.len() > ENV_VAR_LIMIT {
        return Err(Error::bad_request(
            "EnvVarLimitMet",
            format!("The environment variable limit ({ENV_VAR_LIMIT}) has been met."),
        ));
    }
    let total: usize = variables.iter().map(|(name, value)| name.len() + value.len()).sum();
    if total > ENV_VAR_TOTAL_SIZE_LIMIT {
        return Err(Error::bad_request(
            "EnvVarTotalSizeLimitMet",
            format!(
                "The total size of all environment variables ({total} bytes) exceeds the limit ({ENV_VAR_TOTAL_SIZE_LIMIT} bytes)."
            ),
        ));
    }
    Ok(())
}

/// Every stored variable with its document, by name.
fn read(tx: &mut Transaction) -> Result<BTreeMap<String, (Document, String)>> {
    let Some(table) = tx.catalog().table_by_name(ENVIRONMENT_VARIABLES_TABLE).map(|t| t.number) else {
        return Ok(BTreeMap::new());
    };
    let mut stream = hull_db::QueryStream::full_table(tx, table, Order::Asc)?;
    let mut variables = BTreeMap::new();
    while let Some(document) = stream.next(tx)? {
        let field = |name: &str| match document.object().get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(Error::internal(
                "CorruptEnvironmentVariables",
                format!("the {ENVIRONMENT_VARIABLES_TABLE} document {} has no valid {name}", document.id()),
            )),
        };
        let (name, value) = (field("name")?, field("value")?);
        variables.insert(name, (document, value));
    }
    Ok(variables)
}

/// The stored variables (startup).
pub(crate) fn load(database: &hull_db::Database) -> Result<BTreeMap<String, String>> {
    let mut tx = database.begin_system();
    Ok(read(&mut tx)?.into_iter().map(|(name, (_, value))| (name, value)).collect())
}

/// Applies `changes` in Convex's order: the batch sorted, removals (`None` sorts first) before
/// sets, each by name; so a removal and a set of one name leave the set.
fn apply(tx: &mut Transaction, changes: &[EnvVarChange]) -> Result<BTreeMap<String, String>> {
    let stored = read(tx)?;
    let mut variables: BTreeMap<String, String> =
        stored.iter().map(|(name, (_, value))| (name.clone(), value.clone())).collect();
    let mut ids: BTreeMap<String, hull_values::DocumentId> =
        stored.into_iter().map(|(name, (document, _))| (name, document.id())).collect();
    for change in changes {
        if let Some(id) = ids.remove(&change.name) {
            tx.delete(id)?;
        }
        variables.remove(&change.name);
        if let Some(value) = &change.value {
            let fields = Object::from([
                ("name".to_owned(), Value::String(change.name.clone())),
                ("value".to_owned(), Value::String(value.clone())),
            ]);
            ids.insert(change.name.clone(), tx.insert_system_table(ENVIRONMENT_VARIABLES_TABLE, fields)?);
            variables.insert(change.name.clone(), value.clone());
        }
    }
    check_limits(&variables)?;
    Ok(variables)
}

impl Application {
    /// The deployment's environment variables, by name.
    pub fn environment_variables(&self) -> BTreeMap<String, String> {
        self.inner.env.read().variables.clone()
    }

    /// Sets the built-in `CONVEX_CLOUD_URL` and `CONVEX_SITE_URL` functions see (the server
    /// calls this once it knows where it listens).
    pub fn set_canonical_urls(&self, cloud_url: &str, site_url: &str) {
        let mut env = self.inner.env.write();
        let builtins = BTreeMap::from([
            (BUILTIN_ENVIRONMENT_VARIABLES[0].to_owned(), cloud_url.to_owned()),
            (BUILTIN_ENVIRONMENT_VARIABLES[1].to_owned(), site_url.to_owned()),
        ]);
        *env = Arc::new(EnvSnapshot { generation: env.generation + 1, variables: env.variables.clone(), builtins });
    }

    /// Applies a batch of changes (`npx convex env set/remove`, `update_environment_variables`)
    /// in one transaction: every name and value is checked first, then the changes are applied
    /// in Convex's order, then the count and size limits are checked. Either every change is
    /// made or none. Workers see the new values from their next call on.
    pub fn update_environment_variables(&self, mut changes: Vec<EnvVarChange>) -> Result<()> {
        for change in &changes {
            check_name(&change.name)?;
            if BUILTIN_ENVIRONMENT_VARIABLES.contains(&change.name.as_str()) {
                return Err(Error::bad_request(
                    "EnvVarNameForbidden",
                    format!("Environment variable with name \"{}\" is built-in and cannot be overridden", change.name),
                ));
            }
            if let Some(value) = &change.value {
                check_value(value)?;
            }
        }
        changes.sort();
        // Held across the commit, so snapshots are published in commit order.
        let mut env = self.inner.env.write();
        let (variables, _ts) =
            self.inner.database.run_system(ENV_VAR_UPDATE_OCC_MAX_RETRIES, |tx| apply(tx, &changes))?;
        *env = Arc::new(EnvSnapshot { generation: env.generation + 1, variables, builtins: env.builtins.clone() });
        Ok(())
    }
}
