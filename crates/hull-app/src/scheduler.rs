//! The scheduler loop: runs the jobs of `_scheduled_functions` when they are due, and turns
//! due crons (`_cron_jobs`) into such jobs.
//!
//! One thread, owned by the [`Application`] (it holds only a weak reference, and stops when
//! the application is dropped or [`Application::stop_scheduler`] is called). Each pass reads
//! the due part of two indexes (pending jobs by `scheduledTime`, crons by `nextTs`) plus the
//! first entry after it, starts the due jobs (at most [`SCHEDULED_JOB_EXECUTION_PARALLELISM`]
//! at once), then sleeps until the earliest future due time, until a job it started finishes,
//! or until a commit writes inside what the pass read (a database subscription on the pass's
//! own read set: a newly scheduled job, a cancel, a deploy changing crons). It never polls.
//!
//! Delivery, as upstream:
//! - **Mutations run exactly once.** The job is re-read, the mutation runs and the job is set
//!   to `success` in the *same* transaction; a conflict re-runs it (without a retry cap, with
//!   backoff), a crash before the commit leaves the job pending (it runs after restart), a
//!   crash after it finds it done. A mutation that throws leaves no writes and the job is set
//!   to `failed` with the error.
//! - **Actions run at most once.** The job becomes `inProgress` in its own transaction before
//!   the action starts, and `success`/`failed` after. An action found `inProgress` when Hull
//!   starts was interrupted: it is marked failed ([`TRANSIENT_ACTION_ERROR`]), never re-run.
//! - Scheduled functions run as the system: internal functions may be scheduled, and, as in
//!   Convex, the scheduling function's user identity is not propagated (`getUserIdentity()`
//!   is `null` in a scheduled function).

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hull_db::{Database, Subscription, Transaction};
use hull_errors::Result;
use hull_js::scheduler::{self as jobs, JobState, ScheduledJob, TRANSIENT_ACTION_ERROR};
use hull_js::{FunctionOutcome, UdfType};
use hull_values::DocumentId;
use parking_lot::{Condvar, Mutex};

use crate::limits::{
    SCHEDULED_JOB_EXECUTION_PARALLELISM, SCHEDULED_JOB_GARBAGE_COLLECTION_BATCH_SIZE, SCHEDULED_JOB_GARBAGE_COLLECTION_INTERVAL,
    SCHEDULED_JOB_INITIAL_BACKOFF, SCHEDULED_JOB_MAX_BACKOFF, SCHEDULED_JOB_RETENTION, SCHEDULER_OCC_MAX_RETRIES,
};
use crate::{Application, Inner};

/// State shared by the loop, the jobs it started and the application's handle.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// The application is going away: start nothing more.
    stop: bool,
    /// Something the last pass read changed (a commit, a job finishing): pass again.
    woken: bool,
    /// The loop thread is running.
    looping: bool,
    /// Jobs started and not finished yet.
    running: HashSet<DocumentId>,
    /// When expired jobs were last deleted (`None`: not since startup).
    collected: Option<Instant>,
    /// Passes the loop made since startup.
    passes: u64,
}

/// What the scheduler loop has done since startup (for tests and monitoring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Passes over the due jobs and crons: one per wake-up (a due time, a commit to what the
    /// last pass read, a job finishing), never on a timer of its own.
    pub passes: u64,
    /// Jobs running now.
    pub running: usize,
}

impl Shared {
    fn wake(&self) {
        self.state.lock().woken = true;
        self.wake.notify_all();
    }
}

/// The application's handle on its scheduler: dropping it (with the application) stops the loop.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_all();
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Prepares the tables and recovers from a crash, before anything runs: creates
/// `_scheduled_functions` and `_cron_jobs` with their indexes, and marks every action that was
/// in progress when Hull stopped as failed (at most once: it is not re-run).
pub(crate) fn recover(database: &Database) -> Result<usize> {
    // Indexes serve reads once the transaction creating them committed (and backfilled).
    database.run_system(SCHEDULER_OCC_MAX_RETRIES, |tx| {
        jobs::ensure_table(tx)?;
        crate::crons::ensure_table(tx)
    })?;
    let (failed, _) = database.run_system(SCHEDULER_OCC_MAX_RETRIES, |tx| {
        let mut interrupted = Vec::new();
        if let Some(mut stream) = jobs::jobs_in_state(tx, JobState::InProgress.kind())? {
            while let Some(document) = stream.next(tx)? {
                interrupted.extend(ScheduledJob::from_document(&document));
            }
        }
        let now = now_ms();
        for job in &interrupted {
            jobs::set_state(tx, job, JobState::Failed(TRANSIENT_ACTION_ERROR.to_owned()), now)?;
        }
        Ok(interrupted.len())
    })?;
    Ok(failed)
}

/// Starts the loop thread for `inner`.
pub(crate) fn spawn(inner: Weak<Inner>, shared: Arc<Shared>) -> Result<()> {
    shared.state.lock().looping = true;
    let thread_shared = shared.clone();
    std::thread::Builder::new().name("hull-scheduler".into()).spawn(move || run(inner, thread_shared)).map_err(|e| {
        shared.state.lock().looping = false;
        hull_errors::Error::internal("StartupFailed", format!("could not start the scheduler thread: {e}"))
    })?;
    Ok(())
}

fn run(inner: Weak<Inner>, shared: Arc<Shared>) {
    let mut backoff = SCHEDULED_JOB_INITIAL_BACKOFF;
    loop {
        {
            let mut state = shared.state.lock();
            if state.stop {
                break;
            }
            // Cleared before the pass reads, so a change during the pass wakes the next one.
            state.woken = false;
            state.passes += 1;
        }
        let Some(inner) = inner.upgrade() else { break };
        let app = Application { inner };
        let pass = app.scheduler_pass(&shared);
        drop(app);
        let (wake_at, _subscriptions) = match pass {
            Ok((wake_at, subscriptions)) => {
                backoff = SCHEDULED_JOB_INITIAL_BACKOFF;
                (wake_at, subscriptions)
            }
            Err(error) => {
                // A storage failure: try again later rather than spin.
                tracing::warn!("scheduler pass failed: {}", error.message);
                backoff = (backoff * 2).min(SCHEDULED_JOB_MAX_BACKOFF);
                (Some(now_ms() + backoff.as_secs_f64() * 1000.0), Vec::new())
            }
        };
        let deadline = wake_at.map(|at| Instant::now() + Duration::from_secs_f64(((at - now_ms()).max(0.0)) / 1000.0));
        let mut state = shared.state.lock();
        while !state.stop && !state.woken {
            match deadline {
                Some(deadline) => {
                    if shared.wake.wait_until(&mut state, deadline).timed_out() {
                        break;
                    }
                }
                None => shared.wake.wait(&mut state),
            }
        }
    }
    shared.state.lock().looping = false;
    shared.wake.notify_all();
}

impl Application {
    /// One pass of the loop: enqueue due crons, start due jobs. Returns the earliest future due
    /// time and the subscriptions that wake the loop when what it read changes.
    fn scheduler_pass(&self, shared: &Arc<Shared>) -> Result<(Option<f64>, Vec<Subscription>)> {
        let database = &self.inner.database;
        let now = now_ms();
        let wake = {
            let shared = shared.clone();
            move |_| shared.wake()
        };
        let mut subscriptions = Vec::new();
        self.collect_expired_jobs(shared, now)?;

        let mut tx = database.begin_system();
        let cron_wake = crate::crons::enqueue_due(&mut tx, now as i64)?;
        if tx.has_writes() {
            // New jobs were scheduled: commit, then pass again at once to start them (a
            // conflict, with a deploy changing crons, also just means "look again"; a storage
            // failure backs off).
            match database.commit(tx) {
                Ok(_) => {}
                Err(error) if error.is_retryable_conflict() => {}
                Err(error) => return Err(error),
            }
            return Ok((Some(now), subscriptions));
        }
        subscriptions.push(database.subscribe(tx.reads(), tx.begin_ts(), wake.clone()));

        let mut tx = database.begin_system();
        let (due, job_wake) = {
            let state = shared.state.lock();
            let capacity = SCHEDULED_JOB_EXECUTION_PARALLELISM.saturating_sub(state.running.len());
            let running = state.running.clone();
            drop(state);
            due_jobs(&mut tx, now, capacity, &running)?
        };
        subscriptions.push(database.subscribe(tx.reads(), tx.begin_ts(), wake));
        for job in due {
            shared.state.lock().running.insert(job.id);
            let app = self.clone();
            let job_shared = shared.clone();
            let id = job.id;
            let started = std::thread::Builder::new().name("hull-scheduled-job".into()).spawn(move || {
                app.execute_job(job);
                job_shared.state.lock().running.remove(&id);
                job_shared.wake();
            });
            if started.is_err() {
                // Out of threads: leave it pending for a later pass.
                shared.state.lock().running.remove(&id);
                return Ok((Some(now + SCHEDULED_JOB_INITIAL_BACKOFF.as_secs_f64() * 1000.0), subscriptions));
            }
        }
        let wake_at = match (cron_wake.map(|ms| ms as f64), job_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok((wake_at, subscriptions))
    }

    /// Deletes jobs that finished more than [`SCHEDULED_JOB_RETENTION`] ago, at most once per
    /// [`SCHEDULED_JOB_GARBAGE_COLLECTION_INTERVAL`], in batches (its own transactions, outside
    /// the loop's read set: deleting history must not wake the loop).
    fn collect_expired_jobs(&self, shared: &Shared, now: f64) -> Result<()> {
        {
            let mut state = shared.state.lock();
            if state.collected.is_some_and(|at| at.elapsed() < SCHEDULED_JOB_GARBAGE_COLLECTION_INTERVAL) {
                return Ok(());
            }
            state.collected = Some(Instant::now());
        }
        let cutoff = now - SCHEDULED_JOB_RETENTION.as_secs_f64() * 1000.0;
        loop {
            let (deleted, _) = self.inner.database.run_system(SCHEDULER_OCC_MAX_RETRIES, |tx| {
                jobs::delete_completed_before(tx, cutoff, SCHEDULED_JOB_GARBAGE_COLLECTION_BATCH_SIZE)
            })?;
            if deleted < SCHEDULED_JOB_GARBAGE_COLLECTION_BATCH_SIZE {
                return Ok(());
            }
        }
    }

    /// What the scheduler loop has done since startup.
    pub fn scheduler_stats(&self) -> SchedulerStats {
        let state = self.inner.scheduler.shared.state.lock();
        SchedulerStats { passes: state.passes, running: state.running.len() }
    }

    /// Stops the scheduler loop and waits until it and every job it started have finished
    /// (a clean shutdown; jobs not started stay pending for the next start).
    pub fn stop_scheduler(&self) {
        self.stop_scheduler_within(None);
    }

    /// [`Application::stop_scheduler`], waiting at most `limit` for running jobs; returns whether
    /// everything finished. A job still running is abandoned: a mutation that did not commit
    /// runs again after the next start, an action is marked failed then (never re-run).
    pub fn stop_scheduler_within(&self, limit: Option<Duration>) -> bool {
        let deadline = limit.map(|limit| Instant::now() + limit);
        let shared = &self.inner.scheduler.shared;
        let mut state = shared.state.lock();
        state.stop = true;
        shared.wake.notify_all();
        while state.looping || !state.running.is_empty() {
            match deadline {
                Some(deadline) => {
                    if shared.wake.wait_until(&mut state, deadline).timed_out() {
                        return !state.looping && state.running.is_empty();
                    }
                }
                None => shared.wake.wait(&mut state),
            }
        }
        true
    }

    /// Runs one due job to its end state. Failures of the system (storage, overload) are retried
    /// with backoff for mutations (they have not run), and end actions as failed (they may have).
    fn execute_job(&self, job: ScheduledJob) {
        let path = job.runtime_path();
        let deployment = self.current();
        let kind = deployment.functions.get(&path).map(|info| info.udf_type);
        let started = Instant::now();
        let started_ms = now_ms();
        let (outcome, kind) = match (kind, deployment.workers.as_ref()) {
            (Some(UdfType::Mutation), Some(workers)) => (self.run_scheduled_mutation(workers, &job, &path), UdfType::Mutation),
            (Some(UdfType::Action), Some(workers)) => (self.run_scheduled_action(workers, &job, &path), UdfType::Action),
            (kind, _) => {
                let message = match kind {
                    Some(kind) => format!("Cannot run {path} as a scheduled function: it is a {}.", kind.as_str()),
                    None => format!("Could not find function for '{path}'. Did you forget to run `npx convex dev`?"),
                };
                self.finish_job(job.id, |state| matches!(state, JobState::Pending), JobState::Failed(message));
                return;
            }
        };
        let Some(FunctionOutcome { result, logs }) = outcome else { return };
        self.inner.executions.record(crate::logs::FunctionExecution {
            cursor_ms: 0,
            udf_type: kind,
            identifier: job.name.clone(),
            log_lines: logs,
            started_ms,
            execution_time_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: result.err().map(|e| match e.stack {
                Some(stack) => format!("{}\n{}", e.message, stack.trim_end()),
                None => e.message,
            }),
            request_id: crate::call::request_id(),
        });
    }

    /// Runs a scheduled mutation and marks the job done in the same transaction. `None` when
    /// the job was no longer pending (canceled, or run by an earlier attempt).
    fn run_scheduled_mutation(&self, workers: &crate::deployment::WorkerPool, job: &ScheduledJob, path: &str) -> Option<FunctionOutcome> {
        let database = &self.inner.database;
        let mut backoff = SCHEDULED_JOB_INITIAL_BACKOFF;
        let args = job.args.to_json();
        loop {
            let attempt = || -> Result<std::result::Result<(FunctionOutcome, Transaction, ScheduledJob), bool>> {
                let mut tx = database.begin();
                // Read in the mutation's transaction: a concurrent cancel makes it conflict.
                let Some(current) = jobs::read_job(&mut tx, job.id)? else { return Ok(Err(false)) };
                if current.state != JobState::Pending {
                    return Ok(Err(false));
                }
                let (path, args, id) = (path.to_owned(), args.clone(), job.id.encode());
                let (outcome, tx) = workers.run(move |runtime| {
                    let outcome = runtime.with_scheduled_job(id, |runtime| runtime.run_mutation(&path, &args, &mut tx))?;
                    Ok((outcome, tx))
                })?;
                Ok(Ok((outcome, tx, current)))
            };
            let retry = match attempt() {
                Ok(Err(_)) => return None,
                Ok(Ok((outcome, mut tx, current))) => match &outcome.result {
                    Ok(_) => {
                        let committed = jobs::set_state(&mut tx, &current, JobState::Success, now_ms()).and_then(|()| database.commit(tx));
                        match committed {
                            Ok(_) => return Some(outcome),
                            Err(error) if error.is_retryable_conflict() => true,
                            Err(error) => {
                                tracing::warn!("scheduled mutation {path} could not commit: {}", error.message);
                                true
                            }
                        }
                    }
                    Err(error) => {
                        // The mutation's writes are discarded with `tx`; only the job changes.
                        drop(tx);
                        let failed = JobState::Failed(error.message.clone());
                        return self.finish_job(job.id, |state| matches!(state, JobState::Pending), failed).then_some(outcome);
                    }
                },
                Err(error) => {
                    tracing::warn!("scheduled mutation {path} hit a system error: {}", error.message);
                    true
                }
            };
            if retry {
                std::thread::sleep(backoff + Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 2)));
                backoff = (backoff * 2).min(SCHEDULED_JOB_MAX_BACKOFF);
                if self.inner.scheduler.shared.state.lock().stop {
                    // Shutting down: the job stays pending and runs after the next start.
                    return None;
                }
            }
        }
    }

    /// Runs a scheduled action at most once: `inProgress` is committed first; then the outcome.
    fn run_scheduled_action(&self, workers: &crate::deployment::WorkerPool, job: &ScheduledJob, path: &str) -> Option<FunctionOutcome> {
        if !self.finish_job(job.id, |state| matches!(state, JobState::Pending), JobState::InProgress) {
            return None;
        }
        let database = self.inner.database.clone();
        let (path, args, id) = (path.to_owned(), job.args.to_json(), job.id.encode());
        let outcome = workers.run(move |runtime| runtime.with_scheduled_job(id, |runtime| runtime.run_action(&path, &args, &database)));
        let outcome = outcome.unwrap_or_else(|error| FunctionOutcome {
            result: Err(hull_js::JsError::plain(format!("{TRANSIENT_ACTION_ERROR}: {}", error.message))),
            logs: Vec::new(),
        });
        let state = match &outcome.result {
            Ok(_) => JobState::Success,
            Err(error) => JobState::Failed(error.message.clone()),
        };
        // A cancel while it ran wins: the job stays canceled.
        self.finish_job(job.id, |state| matches!(state, JobState::InProgress), state);
        Some(outcome)
    }

    /// Moves the job `id` to `state` in a system transaction if its current state passes
    /// `expected`; returns whether it did. Retried until it lands: losing this write would
    /// leave an action in progress forever.
    fn finish_job(&self, id: DocumentId, expected: impl Fn(&JobState) -> bool, state: JobState) -> bool {
        let mut backoff = SCHEDULED_JOB_INITIAL_BACKOFF;
        loop {
            let written = self.inner.database.run_system(SCHEDULER_OCC_MAX_RETRIES, |tx| {
                let Some(job) = jobs::read_job(tx, id)? else { return Ok(false) };
                if !expected(&job.state) {
                    return Ok(false);
                }
                jobs::set_state(tx, &job, state.clone(), now_ms())?;
                Ok(true)
            });
            match written {
                Ok((written, _)) => return written,
                Err(error) => {
                    tracing::warn!("could not update scheduled job {id}: {}", error.message);
                    if self.inner.scheduler.shared.state.lock().stop {
                        return false;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(SCHEDULED_JOB_MAX_BACKOFF);
                }
            }
        }
    }
}

/// The pending jobs due by `now` that are not running yet (at most `capacity`), and the due
/// time of the first pending job after them (ms).
fn due_jobs(tx: &mut Transaction, now: f64, capacity: usize, running: &HashSet<DocumentId>) -> Result<(Vec<ScheduledJob>, Option<f64>)> {
    let mut due = Vec::new();
    let Some(mut stream) = jobs::jobs_in_state(tx, JobState::Pending.kind())? else { return Ok((due, None)) };
    while let Some(document) = stream.next(tx)? {
        let Some(job) = ScheduledJob::from_document(&document) else { continue };
        if job.scheduled_time > now {
            return Ok((due, Some(job.scheduled_time)));
        }
        if running.contains(&job.id) {
            continue;
        }
        if due.len() == capacity {
            // More are due: a finishing job wakes the loop to start them.
            break;
        }
        due.push(job);
    }
    Ok((due, None))
}
