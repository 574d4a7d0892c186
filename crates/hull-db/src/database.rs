//! The database: open a store, begin transactions, commit them, backfill indexes.

use std::sync::Arc;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use hull_errors::{Code, Error, Result};
use hull_store::{IndexId, IndexRow, KeyRange, Order, Persistence, Timestamp};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::catalog::{index_document, Catalog, IndexState, INDEXES_TABLE, SCHEMAS_TABLE, TABLES_TABLE};
use crate::committer::{self, CommitRequest};
use crate::document::Document;
use crate::limits::{BACKFILL_BATCH_ROWS, COMMIT_QUEUE_CAPACITY};
use crate::transaction::Transaction;
use crate::reads::ReadSet;
use crate::subscription::{Invalidation, Subscription, Subscriptions};
use crate::write_log::{CommitWrites, WriteLog};

/// The newest committed state every new transaction starts from.
#[derive(Clone)]
pub(crate) struct Published {
    pub ts: Timestamp,
    pub catalog: Catalog,
}

/// State shared by the database handle, its transactions and the committer thread.
pub(crate) struct Shared {
    pub persistence: Arc<dyn Persistence>,
    published: RwLock<Published>,
    published_changed: Condvar,
    published_lock: Mutex<()>,
    pub write_log: Mutex<WriteLog>,
    /// Locked only while holding `write_log` (lock order: write_log, then subscriptions).
    pub subscriptions: Mutex<Subscriptions>,
    failure: Mutex<Option<Error>>,
    /// Set only by [`Database::break_serializability_for_checker_tests`].
    pub skip_conflict_checks: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn published(&self) -> Published {
        self.published.read().clone()
    }

    pub fn failure(&self) -> Option<Error> {
        self.failure.lock().clone()
    }

    pub fn fail(&self, error: Error) {
        *self.failure.lock() = Some(error);
    }

    /// Makes commits visible, in ts order: the write log and the published snapshot change
    /// together (under the write-log lock), then invalidated subscriptions are told.
    pub fn publish(&self, ts: Timestamp, catalog: Catalog, commits: impl Iterator<Item = (Timestamp, Arc<CommitWrites>)>) {
        let mut invalidated = Vec::new();
        {
            let mut log = self.write_log.lock();
            let mut subscriptions = self.subscriptions.lock();
            for (commit_ts, writes) in commits {
                if subscriptions.len() > 0 {
                    invalidated.extend(subscriptions.invalidated_by(commit_ts, &writes));
                }
                log.append(commit_ts, writes);
            }
            let mut published = self.published.write();
            assert!(ts > published.ts, "published ts must increase: {ts} after {}", published.ts);
            *published = Published { ts, catalog };
        }
        {
            let _guard = self.published_lock.lock();
            self.published_changed.notify_all();
        }
        for (callback, commit_ts) in invalidated {
            callback(commit_ts);
        }
    }
}

struct Committer {
    sender: Option<SyncSender<CommitRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the channel ends the committer loop once queued commits are done.
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A Hull database over one [`Persistence`]. Cheap to clone; all clones share one committer.
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
    committer: Arc<Committer>,
}

impl Database {
    /// Opens the database stored in `persistence`, creating the bootstrap catalog if the store
    /// is empty, and starts the committer. Startup reads only the catalog tables.
    pub fn open(persistence: Arc<dyn Persistence>) -> Result<Database> {
        let ts = persistence.max_ts()?.unwrap_or(Timestamp::MIN);
        let catalog = load_catalog(persistence.as_ref(), ts)?;
        let shared = Arc::new(Shared {
            persistence,
            published: RwLock::new(Published { ts, catalog }),
            published_changed: Condvar::new(),
            published_lock: Mutex::new(()),
            write_log: Mutex::new(WriteLog::new(ts)),
            subscriptions: Mutex::new(Subscriptions::default()),
            failure: Mutex::new(None),
            skip_conflict_checks: std::sync::atomic::AtomicBool::new(false),
        });
        let (sender, receiver) = sync_channel(COMMIT_QUEUE_CAPACITY);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hull-committer".into())
            .spawn(move || committer::run(thread_shared, receiver))
            .map_err(|e| Error::internal("StartupFailed", format!("could not start the committer thread: {e}")))?;
        let database = Database { shared, committer: Arc::new(Committer { sender: Some(sender), thread: Some(thread) }) };
        database.resume_backfills()?;
        Ok(database)
    }

    /// The newest committed timestamp.
    pub fn latest_ts(&self) -> Timestamp {
        self.shared.published().ts
    }

    /// The catalog as of the newest commit.
    pub fn catalog(&self) -> Catalog {
        self.shared.published().catalog
    }

    /// The newest committed timestamp and the catalog at it, read together.
    pub(crate) fn published_state(&self) -> (Timestamp, Catalog) {
        let published = self.shared.published();
        (published.ts, published.catalog)
    }

    /// The store underneath (for whole-store reads at a snapshot, such as export).
    pub(crate) fn persistence(&self) -> &dyn Persistence {
        self.shared.persistence.as_ref()
    }

    /// Begins a transaction reading at the newest committed snapshot.
    pub fn begin(&self) -> Transaction {
        let published = self.shared.published();
        Transaction::new(self.shared.clone(), published.ts, published.catalog)
    }

    /// Begins a system transaction: Hull's own work (deploying code, loading it at startup,
    /// imports) that may read and write more than one user function is allowed to.
    pub fn begin_system(&self) -> Transaction {
        self.begin().into_system()
    }

    /// [`Database::run`] in a system transaction.
    pub fn run_system<T>(&self, max_retries: usize, mut body: impl FnMut(&mut Transaction) -> Result<T>) -> Result<(T, Timestamp)> {
        let mut attempt = 0;
        loop {
            let mut transaction = self.begin_system();
            let value = body(&mut transaction)?;
            match self.commit(transaction) {
                Ok(ts) => return Ok((value, ts)),
                Err(error) if error.is_retryable_conflict() && attempt < max_retries => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Begins a read transaction at an earlier snapshot `ts` (at most the newest), so that
    /// several queries can read one consistent snapshot (a sync Transition computes all its
    /// results at one timestamp). It sees the newest catalog: tables and indexes are only ever
    /// added with their history, so reading older data through them is correct.
    pub fn begin_at(&self, ts: Timestamp) -> Result<Transaction> {
        let published = self.shared.published();
        if ts > published.ts {
            return Err(Error::bad_request(
                "TimestampInFuture",
                format!("Cannot read at timestamp {ts}: the newest commit is at {}.", published.ts),
            ));
        }
        Ok(Transaction::new(self.shared.clone(), ts, published.catalog))
    }

    /// **Breaks serializability on purpose**: from now on commits skip the optimistic
    /// concurrency check, so concurrent transactions lose updates. The serializability
    /// checker's own tests use it to prove that the checker catches anomalies; nothing else may.
    #[doc(hidden)]
    pub fn break_serializability_for_checker_tests(&self) {
        self.shared.skip_conflict_checks.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Commits `transaction`, returning its commit timestamp (its snapshot ts if it wrote
    /// nothing). Fails with a `Conflict` error when a concurrent commit invalidated its reads.
    /// Indexes it created are backfilled before this returns.
    pub fn commit(&self, transaction: Transaction) -> Result<Timestamp> {
        let (begin_ts, reads, writes, created_indexes) = transaction.into_parts();
        if writes.is_empty() {
            return Ok(begin_ts);
        }
        let (reply, answer) = sync_channel(1);
        let sender = self.committer.sender.as_ref().expect("committer runs while the database lives");
        sender
            .send(CommitRequest { begin_ts, reads, writes, reply })
            .map_err(|_| Error::new(Code::Unavailable, "ShuttingDown", "The database is shutting down."))?;
        let ts = answer
            .recv()
            .map_err(|_| Error::new(Code::Unavailable, "ShuttingDown", "The database is shutting down."))??;
        for index in created_indexes {
            self.backfill(index, ts)?;
        }
        Ok(ts)
    }

    /// Runs `body` in a transaction and commits it, retrying on conflicts up to `max_retries`
    /// times. The body must be deterministic given the database state (it may run again).
    pub fn run<T>(&self, max_retries: usize, mut body: impl FnMut(&mut Transaction) -> Result<T>) -> Result<(T, Timestamp)> {
        let mut attempt = 0;
        loop {
            let mut transaction = self.begin();
            let value = body(&mut transaction)?;
            match self.commit(transaction) {
                Ok(ts) => return Ok((value, ts)),
                Err(error) if error.is_retryable_conflict() && attempt < max_retries => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Calls `on_invalidate` once, with the commit's timestamp, when a commit after `ts` writes
    /// a key inside `reads` (at once if one already has). `reads` and `ts` come from a finished
    /// read transaction: `Transaction::reads()` and `Transaction::begin_ts()`. If `ts` is older
    /// than the write log reaches, the subscription is invalidated at once (at the newest ts).
    ///
    /// The callback runs on the committer thread, right after the commit is published: it must
    /// return at once (send on a channel, wake a task), never block or call back into the
    /// database.
    pub fn subscribe(&self, reads: &ReadSet, ts: Timestamp, on_invalidate: impl FnOnce(Timestamp) + Send + 'static) -> Subscription {
        let log = self.shared.write_log.lock();
        let immediate = match log.first_conflict(ts, reads) {
            Ok(Some(conflict)) => Some(conflict.ts),
            Ok(None) => None,
            Err(()) => Some(self.latest_ts()),
        };
        let on_invalidate: Invalidation = Box::new(on_invalidate);
        if let Some(at) = immediate {
            drop(log);
            on_invalidate(at);
            return Subscription::new(u64::MAX, &self.shared);
        }
        let id = self.shared.subscriptions.lock().insert(reads, on_invalidate);
        drop(log);
        Subscription::new(id, &self.shared)
    }

    /// The first commit after `ts` that wrote inside `reads`, or `None` if no commit up to the
    /// newest one did: then a result computed from `reads` at `ts` is also the result at any
    /// timestamp up to [`Database::latest_ts`] read before this call. When the write log no
    /// longer reaches back to `ts` the answer is conservatively the commit right after `ts`.
    ///
    /// This is what lets a subscriber (or a cache) carry a result forward to a newer snapshot
    /// without re-running it, and closes the gap between a commit being published and its
    /// subscription callbacks having run.
    pub fn first_change_since(&self, reads: &ReadSet, ts: Timestamp) -> Option<Timestamp> {
        let log = self.shared.write_log.lock();
        match log.first_conflict(ts, reads) {
            Ok(conflict) => conflict.map(|c| c.ts),
            Err(()) => Some(Timestamp(ts.0.saturating_add(1))),
        }
    }

    /// How many subscriptions are registered.
    pub fn subscription_count(&self) -> usize {
        self.shared.subscriptions.lock().len()
    }

    /// Blocks until the published ts reaches `ts` or `timeout` passes; returns the published ts.
    pub fn wait_for_ts(&self, ts: Timestamp, timeout: std::time::Duration) -> Timestamp {
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = self.shared.published_lock.lock();
        loop {
            let current = self.latest_ts();
            if current >= ts || self.shared.published_changed.wait_until(&mut guard, deadline).timed_out() {
                return self.latest_ts().max(current);
            }
        }
    }

    /// Adds index rows for every document that existed at `snapshot` (when the index started
    /// being maintained), then marks the index enabled.
    fn backfill(&self, index: IndexId, snapshot: Timestamp) -> Result<()> {
        let catalog = self.catalog();
        let Some(info) = catalog.index(index).cloned() else { return Ok(()) };
        if info.state == IndexState::Enabled {
            return Ok(());
        }
        let source = catalog
            .index_by_name(info.table, crate::catalog::BY_CREATION_TIME)
            .ok_or_else(|| Error::internal("CorruptCatalog", "table without by_creation_time"))?
            .id;
        let mut range = KeyRange::all();
        loop {
            let page = self.shared.persistence.index_scan(source, snapshot, &range, Order::Asc, BACKFILL_BATCH_ROWS)?;
            let mut rows = Vec::with_capacity(page.entries.len());
            for entry in &page.entries {
                let document = Document::from_stored(entry.document.key, entry.document.value.as_deref().expect("visible"))?;
                rows.push(IndexRow { index, key: info.key_of(&document), ts: entry.document.ts, document: Some(entry.document.key) });
            }
            self.shared.persistence.write_index_backfill(&rows)?;
            match page.resume_after {
                Some(last) => range = range.after(&last, Order::Asc),
                None => break,
            }
        }
        let document = info.document.expect("user indexes have an _index document");
        self.run(usize::MAX, |tx| {
            let fields = index_document(info.table, &info.name, &info.declared_fields, index, IndexState::Enabled);
            tx.replace_system(INDEXES_TABLE, document, fields)
        })?;
        Ok(())
    }

    /// Finishes backfills interrupted by a restart.
    fn resume_backfills(&self) -> Result<()> {
        let pending: Vec<IndexId> =
            self.catalog().indexes().filter(|i| i.state == IndexState::Backfilling).map(|i| i.id).collect();
        let snapshot = self.latest_ts();
        for index in pending {
            self.backfill(index, snapshot)?;
        }
        Ok(())
    }
}

/// Reads the catalog tables at `ts`.
fn load_catalog(persistence: &dyn Persistence, ts: Timestamp) -> Result<Catalog> {
    let mut catalog = Catalog::bootstrap();
    for table in [TABLES_TABLE, INDEXES_TABLE, SCHEMAS_TABLE] {
        let by_id = catalog.index_by_name(table, crate::catalog::BY_ID).expect("bootstrap index").id;
        let mut range = KeyRange::all();
        loop {
            let page = persistence.index_scan(by_id, ts, &range, Order::Asc, 1000)?;
            for entry in &page.entries {
                let document = Document::from_stored(entry.document.key, entry.document.value.as_deref().expect("visible"))?;
                catalog = catalog.apply(None, Some(&document))?;
            }
            match page.resume_after {
                Some(last) => range = range.after(&last, Order::Asc),
                None => break,
            }
        }
    }
    Ok(catalog)
}
