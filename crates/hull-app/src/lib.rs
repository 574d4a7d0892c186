//! `hull-app`: the deployment. It owns the deployed code (stored durably in the `_modules`
//! system table and served by a small pool of `hull_js` workers), function calls with Convex's
//! visibility and retry rules, HTTP actions, the admin credentials and the environment
//! variables (`process.env`, stored in the `_environment_variables` system table). It knows
//! nothing about HTTP: `hull-server` turns requests into [`Application`] calls and their
//! outcomes into wire JSON.
//!
//! Key decisions:
//! - Deployed code is data. A push is first *prepared* ([`Application::start_push`]: the
//!   modules are analyzed on a throwaway worker and diffed against the live deployment;
//!   nothing changes) and then *committed* ([`Application::finish_push`]: modules, schema and
//!   index changes in **one** transaction, after which the new workers are swapped in).
//!   Prepared pushes wait in a bounded table (`limits::PENDING_PUSHES_MAX`), so a push that is
//!   never finished (`convex codegen`) changes nothing. A push that fails anywhere changes
//!   nothing; a restart reloads exactly what the last successful push committed, without
//!   re-analysis (each module document carries its analysis).
//! - Calls hold the deployment they started with (`Arc`), so a push never changes the code under
//!   a running call; the old workers stop when the last call using them ends.
//! - Visibility is decided here, before any JavaScript runs: internal functions, `_system/*`
//!   functions and bundler chunks look exactly like missing ones to callers without admin
//!   rights, whatever spelling of the path they used.
//! - Mutations are retried on optimistic-concurrency conflicts with backoff, off the worker
//!   thread, so a retrying mutation does not hold a worker while it waits.
//! - Environment variables are durable documents; the live set is an immutable snapshot with a
//!   generation number. Each worker reloads `process.env` when it sees a newer generation at the
//!   start of a call, so an update reaches running workers without restarting them.
//! - HTTP actions ([`Application::run_http_action`]) run the deployed `http.js` router on the
//!   same pool; its own JavaScript picks the route, as upstream's does.
//! - Scheduled functions and crons run on a scheduler thread the application owns
//!   ([`Application::stop_scheduler`] stops it; dropping the application does too). It wakes on
//!   due times and on commits to what it read, never by polling; a scheduled mutation and its
//!   job's `success` commit together (exactly once), an action's job is `inProgress` before it
//!   runs (at most once). Crons change atomically with the deploy that defines them.
//! - Live queries ([`Application::run_subscription_query`]) return their read set and snapshot
//!   timestamp with the result, so the sync socket subscribes to exactly the commits that change
//!   them; results are shared across sockets by a bounded cache that carries a result forward
//!   to a newer snapshot when the write log shows nothing it read changed.
//! - A mutation a sync client may resend ([`Application::call_session_request`]) is exactly-once
//!   across reconnects and restarts: its result is recorded in `_session_requests` in the
//!   mutation's own transaction, and a resend finds the record (in its own transaction, so a
//!   concurrent run conflicts) and is answered from it instead of running again.
//! - Every call that runs is recorded, with its console output, in a bounded ring
//!   (`limits::FUNCTION_LOG_ENTRIES_MAX`) that log streaming reads.
//!
//! Architecture invariants: no HTTP, no async runtime (calls block; the server runs them on
//! blocking threads); user code runs only on the pool's worker threads.
#![deny(missing_docs)]

pub mod admin_key;
mod call;
pub mod crons;
mod deploy;
mod deployment;
mod env_vars;
mod http_actions;
pub mod function_path;
pub mod limits;
mod logs;
pub mod server_keys;
pub mod session_requests;
mod user_auth;
pub mod upstream_admin_key;
mod subscription;
mod scheduler;

use std::sync::Arc;

use hull_db::Database;
use hull_errors::Result;
use parking_lot::{Mutex, RwLock};

pub use admin_key::{AdminKeys, InstanceSecret, BAD_ADMIN_KEY_MESSAGE};
pub use call::{CallKind, CallOutcome, Caller, FunctionError, RequestOrigin, UserIdentity, NOT_ADMIN_MESSAGE};
pub use deploy::{
    DeploySummary, IndexChange, IndexSpec, ModuleHash, PushPlan, SchemaEvaluation, SchemaStatus, TableEvaluation,
};
pub use deployment::{FunctionInfo, MODULES_TABLE, UDF_CONFIG_TABLE};
pub use env_vars::{check_name as check_env_var_name, EnvVarChange, BUILTIN_ENVIRONMENT_VARIABLES, ENVIRONMENT_VARIABLES_TABLE};
pub use function_path::FunctionPath;
pub use session_requests::{SessionRequest, SESSION_REQUESTS_TABLE};
pub use server_keys::{AuditEntry, NewServerKey, ServerKeyCaller, ServerKeyInfo};
pub use user_auth::{UserCaller, AUTH_CONFIG_TABLE};
pub use http_actions::HttpActionResult;
pub use hull_js::{HttpRequest, HttpResponse};
pub use logs::FunctionExecution;
pub use subscription::{CachedQuery, QueryResult, QueryWait, Timestamp};
pub use crons::CronDiff;
pub use scheduler::SchedulerStats;
pub use hull_js::scheduler::{SCHEDULED_FUNCTIONS_TABLE, TRANSACTION_MAX_NUM_SCHEDULED, TRANSACTION_MAX_SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES};
pub use hull_js::{AnalyzedFunction, AnalyzedModule, HttpRoute, LogLevel, LogLine, RuntimeConfig, UdfType, Visibility};

use deployment::Deployment;

/// How to run a deployment.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The instance name admin keys are issued for.
    pub instance_name: String,
    /// The secret admin keys are derived from.
    pub instance_secret: InstanceSecret,
    /// JavaScript worker threads ([`limits::JS_WORKER_COUNT`] by default).
    pub js_workers: usize,
    /// Limits of each worker's runtime.
    pub runtime: RuntimeConfig,
    /// Server-key audit entries kept ([`server_keys::AUDIT_ENTRIES_MAX`] by default).
    pub audit_entries_max: usize,
    /// Run scheduled functions and crons (a server does). A one-shot admin command turns it
    /// off: it would start actions it cannot see through before it exits.
    pub run_scheduler: bool,
}

impl AppConfig {
    /// The default configuration for an instance.
    pub fn new(instance_name: impl Into<String>, instance_secret: InstanceSecret) -> AppConfig {
        AppConfig {
            instance_name: instance_name.into(),
            instance_secret,
            js_workers: limits::JS_WORKER_COUNT,
            runtime: RuntimeConfig::default(),
            audit_entries_max: server_keys::AUDIT_ENTRIES_MAX,
            run_scheduler: true,
        }
    }
}

/// One deployment: its database, deployed code and credentials. Cheap to clone.
#[derive(Clone)]
pub struct Application {
    inner: Arc<Inner>,
}

struct Inner {
    database: Database,
    config: AppConfig,
    admin_keys: AdminKeys,
    deployment: RwLock<Arc<Deployment>>,
    /// Pushes are prepared and committed one at a time. Holds the deploy generation: how many
    /// pushes committed since startup, so a prepared push can tell its diff went stale.
    deploy_lock: Mutex<u64>,
    /// Pushes `start_push` prepared and `finish_push` has not committed yet.
    pending_pushes: Mutex<deploy::PendingPushes>,
    /// Recent function executions, for log streaming.
    executions: logs::ExecutionLog,
    /// The environment variables, shared with every worker pool. Written only by
    /// `update_environment_variables`, which holds the write lock across its commit.
    env: env_vars::SharedEnv,
    /// Server keys (public halves) and their audit writer.
    server_keys: server_keys::ServerKeys,
    /// Bumped each time a push swaps new code in (part of [`Application::code_version`]).
    code_swaps: std::sync::atomic::AtomicU64,
    /// Query results shared by every subscription (see `subscription.rs`).
    query_cache: subscription::QueryCache,
    /// The scheduler loop's shared state; dropping it stops the loop.
    scheduler: scheduler::Handle,
    /// When expired `_session_requests` records were last swept.
    session_request_sweeper: session_requests::Sweeper,
}

impl Application {
    /// Opens the deployment stored in `database`: loads the modules of the last push and starts
    /// workers for them.
    pub fn open(database: Database, config: AppConfig) -> Result<Application> {
        assert!(config.js_workers >= 1, "a deployment needs at least one JS worker");
        let admin_keys = AdminKeys::new(&config.instance_name, &config.instance_secret);
        let variables = env_vars::load(&database)?;
        let env: env_vars::SharedEnv = Arc::new(RwLock::new(Arc::new(env_vars::EnvSnapshot { generation: 0, variables, builtins: Default::default() })));
        let deployment = deploy::load(&database, &config, &env)?;
        let server_keys = server_keys::ServerKeys::open(&database, config.audit_entries_max)?;
        scheduler::recover(&database)?;
        session_requests::ensure_table(&database)?;
        let scheduler_shared = Arc::new(scheduler::Shared::default());
        let app = Application {
            inner: Arc::new(Inner {
                database,
                config,
                admin_keys,
                deployment: RwLock::new(Arc::new(deployment)),
                deploy_lock: Mutex::new(0),
                pending_pushes: Mutex::new(deploy::PendingPushes::default()),
                executions: logs::ExecutionLog::default(),
                env,
                server_keys,
                code_swaps: std::sync::atomic::AtomicU64::new(0),
                query_cache: subscription::QueryCache::default(),
                scheduler: scheduler::Handle { shared: scheduler_shared.clone() },
                session_request_sweeper: session_requests::Sweeper::default(),
            }),
        };
        if app.inner.config.run_scheduler {
            scheduler::spawn(Arc::downgrade(&app.inner), scheduler_shared)?;
        }
        Ok(app)
    }

    /// The deployment's database.
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The instance name.
    pub fn instance_name(&self) -> &str {
        &self.inner.config.instance_name
    }

    /// A new admin key for this instance.
    pub fn issue_admin_key(&self) -> String {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.inner.admin_keys.issue(now_s)
    }

    /// Checks an admin key; any failure is 401 `BadAdminKey`.
    pub fn check_admin_key(&self, key: &str) -> Result<()> {
        self.inner.admin_keys.check(key)
    }

    fn current(&self) -> Arc<Deployment> {
        self.inner.deployment.read().clone()
    }
}
