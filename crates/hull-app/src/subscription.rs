//! Queries for subscriptions: a query's result together with what it depends on (its read set
//! and snapshot timestamp), so the sync socket can subscribe to exactly the commits that change
//! it, and run every query of one Transition at one common timestamp.
//!
//! Results are shared through one cache for the whole deployment (upstream's query cache,
//! engine notes §4.4): many sockets watching the same query after the same commit run it once.
//! An entry is keyed by function path, arguments, caller and [`Application::code_version`];
//! it stores the result with its timestamp and read set, and answers a request at a newer
//! timestamp when no commit in between wrote inside the read set (the result is then provably
//! the result at that timestamp). Identical requests that arrive while one runs wait for it.
//! Bounded by bytes and entries; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hull_db::reads::ReadSet;
use hull_errors::Result;
use hull_js::FunctionOutcome;
use parking_lot::{Condvar, Mutex};

pub use hull_store::Timestamp;

use crate::call::{request_id, ExecutionStart, Resolution, Resolved};
use crate::limits::{QUERY_CACHE_MAX_BYTES, QUERY_CACHE_MAX_ENTRIES, QUERY_CACHE_WAIT_MAX};
use crate::{Application, CallKind, CallOutcome, Caller, FunctionError, FunctionPath};

/// A query's outcome at one snapshot, with what it read.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The result, as [`Application::call`] would give it.
    pub outcome: Arc<CallOutcome>,
    /// The index intervals it read (empty for answers that read nothing: a missing function,
    /// a natively answered system query).
    pub reads: Arc<ReadSet>,
    /// The snapshot it holds at.
    pub ts: Timestamp,
    /// [`Application::code_version`] it ran under.
    pub code_version: u64,
}

impl Application {
    /// Runs the query at `path` for a subscription, as `caller` (the same visibility rules as
    /// [`Application::call`] with [`CallKind::Query`]), at snapshot `ts` (the newest when
    /// `None`), and returns its outcome with its read set and timestamp. Served from the shared
    /// cache when an identical query's result is known to hold at that snapshot.
    ///
    /// `Err` is for failures that are not the query's (overload, storage errors, a `ts` newer
    /// than the newest commit). Blocks until the query finishes.
    pub fn run_subscription_query(&self, caller: &Caller, path: &FunctionPath, args: serde_json::Value, ts: Option<Timestamp>) -> Result<QueryResult> {
        let database = &self.inner.database;
        let ts = ts.unwrap_or_else(|| database.latest_ts());
        // Read before resolving: if code changes meanwhile, the result is filed under the older
        // version and the socket, seeing the newer one, runs the query again.
        let code_version = self.code_version();
        let resolved = match self.resolve(caller, CallKind::Query, path, args, &request_id())? {
            Resolution::Run(resolved) => resolved,
            Resolution::Answer(result) => {
                let outcome = Arc::new(CallOutcome { request_id: request_id(), result, logs: Vec::new() });
                return Ok(QueryResult { outcome, reads: Arc::default(), ts, code_version });
            }
        };
        let key = cache_key(caller, &resolved, code_version);
        let cache = &self.inner.query_cache;
        match cache.lookup(&key, ts, database) {
            Lookup::Hit(result) => Ok(result),
            Lookup::Run(slot) => {
                let result = self.execute_query(path, resolved, ts, code_version);
                cache.finish(&key, slot, result.as_ref().ok());
                result
            }
            Lookup::RunUncached => self.execute_query(path, resolved, ts, code_version),
        }
    }

    /// The cache's answer for a subscription query at `ts`, without running anything or
    /// blocking: lets many sockets woken by one commit wait for a single execution without each
    /// holding a thread. Same visibility rules as [`Application::run_subscription_query`]
    /// (answers that need no execution are hits).
    pub fn cached_subscription_query(&self, caller: &Caller, path: &FunctionPath, args: serde_json::Value, ts: Timestamp) -> Result<CachedQuery> {
        let code_version = self.code_version();
        let resolved = match self.resolve(caller, CallKind::Query, path, args, &request_id())? {
            Resolution::Run(resolved) => resolved,
            Resolution::Answer(result) => {
                let outcome = Arc::new(CallOutcome { request_id: request_id(), result, logs: Vec::new() });
                return Ok(CachedQuery::Hit(QueryResult { outcome, reads: Arc::default(), ts, code_version }));
            }
        };
        let key = cache_key(caller, &resolved, code_version);
        Ok(self.inner.query_cache.peek(&key, ts, &self.inner.database))
    }

    /// Changes whenever something other than the database that query results depend on changes:
    /// the deployed code (a push) or the environment variables. A subscriber that sees it move
    /// re-runs its queries; cached results are filed under it.
    pub fn code_version(&self) -> u64 {
        self.inner.code_swaps.load(Ordering::Acquire) + self.inner.env.read().generation
    }

    /// How many query results the shared cache holds (for tests and diagnostics).
    pub fn query_cache_len(&self) -> usize {
        self.inner.query_cache.state.lock().entries.len()
    }

    fn execute_query(&self, path: &FunctionPath, resolved: Resolved, ts: Timestamp, code_version: u64) -> Result<QueryResult> {
        let Resolved { deployment, info, runtime_path, args, identity } = resolved;
        let workers = deployment.workers.as_ref().expect("resolve only runs deployed functions");
        let database = self.inner.database.clone();
        let started = ExecutionStart::now();
        let (FunctionOutcome { result, logs }, reads) = workers.run(move |runtime| {
            let mut tx = database.begin_at(ts)?;
            let outcome = runtime.with_user_identity(identity, |runtime| runtime.run_query(&runtime_path, &args, &mut tx))?;
            Ok((outcome, tx.reads().clone()))
        })?;
        let result = result.map_err(FunctionError::from);
        let request_id = request_id();
        self.record_execution(info.udf_type, path, &started, &result, &logs, &request_id);
        let outcome = Arc::new(CallOutcome { request_id, result, logs });
        Ok(QueryResult { outcome, reads: Arc::new(reads), ts, code_version })
    }
}

fn cache_key(caller: &Caller, resolved: &Resolved, code_version: u64) -> CacheKey {
    CacheKey {
        path: resolved.runtime_path.clone(),
        args: resolved.args.to_string(),
        identity: format!("{caller:?}"),
        code_version,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    /// The runtime path (`dir/file:fn`), so every spelling shares an entry.
    path: String,
    /// The arguments object as JSON text.
    args: String,
    /// Who asked: results can depend on the caller (visibility, identity).
    identity: String,
    code_version: u64,
}

/// One execution in flight; identical requests wait on it (blocking) or ask to be called back.
#[derive(Default)]
struct Running {
    state: Mutex<RunningState>,
    finished: Condvar,
}

type DoneCallback = Box<dyn FnOnce(Option<QueryResult>) + Send>;

#[derive(Default)]
struct RunningState {
    /// `Some` once finished: the result, or `None` if it failed.
    done: Option<Option<QueryResult>>,
    callbacks: Vec<DoneCallback>,
}

/// What the shared cache can say about a subscription query without running anything
/// ([`Application::cached_subscription_query`]).
pub enum CachedQuery {
    /// The result at the snapshot asked for.
    Hit(QueryResult),
    /// An identical query is running at that snapshot; [`QueryWait::on_done`] hears its result.
    Running(QueryWait),
    /// Nothing usable: run it with [`Application::run_subscription_query`].
    Miss,
}

/// An identical query in flight.
pub struct QueryWait(Arc<Running>);

impl QueryWait {
    /// Calls `callback` once the query finishes (at once if it has), with its result, or `None`
    /// if it failed (then run it yourself). The callback runs on the finishing thread: it must
    /// return at once (wake a task, send on a channel).
    pub fn on_done(self, callback: impl FnOnce(Option<QueryResult>) + Send + 'static) {
        let mut state = self.0.state.lock();
        match &state.done {
            Some(result) => {
                let result = result.clone();
                drop(state);
                callback(result);
            }
            None => state.callbacks.push(Box::new(callback)),
        }
    }
}

enum Entry {
    Ready(QueryResult),
    /// Running at this timestamp.
    Running(Timestamp, Arc<Running>),
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<CacheKey, Entry>,
    /// Keys oldest first (a key may appear more than once; only its newest position counts
    /// when `positions` says so).
    order: VecDeque<(CacheKey, u64)>,
    /// Each key's current position number in `order`.
    positions: HashMap<CacheKey, u64>,
    next_position: u64,
    bytes: usize,
}

/// The deployment's shared query results.
#[derive(Default)]
pub(crate) struct QueryCache {
    state: Mutex<CacheState>,
}

enum Lookup {
    Hit(QueryResult),
    /// Run it and report through [`QueryCache::finish`] with this slot.
    Run(Arc<Running>),
    /// Run it without caching (a newer result is already cached).
    RunUncached,
}

fn entry_bytes(key: &CacheKey, result: &QueryResult) -> usize {
    let value = match &result.outcome.result {
        Ok(value) => value.size(),
        Err(error) => error.message.len() + error.data.as_ref().map_or(0, |d| d.size()),
    };
    let logs: usize = result.outcome.logs.iter().map(|l| l.messages.iter().map(String::len).sum::<usize>()).sum();
    key.path.len() + key.args.len() + key.identity.len() + value + logs + result.reads.interval_count() * 64
}

/// A ready entry's result at `ts`, if it holds there: its own snapshot, or an older one none
/// of whose reads changed up to `ts`.
fn holds_at(result: &QueryResult, ts: Timestamp, database: &hull_db::Database) -> Option<QueryResult> {
    if result.ts == ts {
        return Some(result.clone());
    }
    let unchanged = result.ts < ts && database.first_change_since(&result.reads, result.ts).is_none_or(|changed| changed > ts);
    unchanged.then(|| QueryResult { ts, ..result.clone() })
}

impl QueryCache {
    fn peek(&self, key: &CacheKey, ts: Timestamp, database: &hull_db::Database) -> CachedQuery {
        let state = self.state.lock();
        match state.entries.get(key) {
            Some(Entry::Ready(result)) => holds_at(result, ts, database).map_or(CachedQuery::Miss, CachedQuery::Hit),
            Some(Entry::Running(running_ts, running)) if *running_ts == ts => CachedQuery::Running(QueryWait(running.clone())),
            Some(Entry::Running(..)) | None => CachedQuery::Miss,
        }
    }

    fn lookup(&self, key: &CacheKey, ts: Timestamp, database: &hull_db::Database) -> Lookup {
        let mut state = self.state.lock();
        match state.entries.get(key) {
            Some(Entry::Ready(result)) => match holds_at(result, ts, database) {
                Some(result) => return Lookup::Hit(result),
                None if result.ts > ts => return Lookup::RunUncached,
                None => {}
            },
            Some(Entry::Running(running_ts, running)) if *running_ts == ts => {
                let running = running.clone();
                drop(state);
                let mut running_state = running.state.lock();
                if running_state.done.is_none() {
                    running.finished.wait_for(&mut running_state, QUERY_CACHE_WAIT_MAX);
                }
                return match running_state.done.as_ref() {
                    Some(Some(result)) => Lookup::Hit(result.clone()),
                    // It failed or is still running: run our own.
                    Some(None) | None => Lookup::RunUncached,
                };
            }
            Some(Entry::Running(running_ts, _)) if *running_ts > ts => return Lookup::RunUncached,
            Some(Entry::Running(..)) | None => {}
        }
        let running = Arc::new(Running::default());
        if let Some(Entry::Ready(old)) = state.entries.insert(key.clone(), Entry::Running(ts, running.clone())) {
            state.bytes -= entry_bytes(key, &old);
        }
        Lookup::Run(running)
    }

    /// Files the result of a `Lookup::Run` (or drops the slot when it failed) and wakes waiters.
    fn finish(&self, key: &CacheKey, slot: Arc<Running>, result: Option<&QueryResult>) {
        {
            let mut state = self.state.lock();
            let ours = matches!(state.entries.get(key), Some(Entry::Running(_, running)) if Arc::ptr_eq(running, &slot));
            if ours {
                match result {
                    Some(result) => {
                        state.bytes += entry_bytes(key, result);
                        state.entries.insert(key.clone(), Entry::Ready(result.clone()));
                        let position = state.next_position;
                        state.next_position += 1;
                        state.positions.insert(key.clone(), position);
                        state.order.push_back((key.clone(), position));
                        state.evict();
                    }
                    None => {
                        state.entries.remove(key);
                    }
                }
            }
        }
        let callbacks = {
            let mut state = slot.state.lock();
            state.done = Some(result.cloned());
            std::mem::take(&mut state.callbacks)
        };
        slot.finished.notify_all();
        for callback in callbacks {
            callback(result.cloned());
        }
    }
}

impl CacheState {
    /// Drops the oldest finished entries until the cache is within its bounds.
    fn evict(&mut self) {
        while self.bytes > QUERY_CACHE_MAX_BYTES || self.positions.len() > QUERY_CACHE_MAX_ENTRIES {
            let Some((key, position)) = self.order.pop_front() else { break };
            if self.positions.get(&key) != Some(&position) {
                continue; // a stale position: the key was filed again later
            }
            self.positions.remove(&key);
            if let Some(Entry::Ready(result)) = self.entries.get(&key) {
                let bytes = entry_bytes(&key, result);
                self.entries.remove(&key);
                self.bytes -= bytes;
            }
        }
        // Stale positions of keys filed again would otherwise pile up in `order`.
        if self.order.len() > 2 * QUERY_CACHE_MAX_ENTRIES {
            let positions = &self.positions;
            self.order.retain(|(key, position)| positions.get(key) == Some(position));
        }
    }
}
