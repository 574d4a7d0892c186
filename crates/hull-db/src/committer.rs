//! The committer: the only writer of the document log.
//!
//! One OS thread receives commit requests over a bounded channel. It drains every request
//! already waiting (up to [`COMMIT_GROUP_MAX`]), and for each in order: validates its read set
//! against the write log and against the requests accepted before it in the same group (OCC),
//! assigns a strictly increasing timestamp, applies its catalog changes and computes its index
//! rows. It then writes the whole group in one durable persistence write (group commit: one
//! fsync for many transactions), and only then publishes: appends to the write log, advances
//! the published timestamp and catalog, and answers each caller.
//!
//! If the persistence write fails the outcome is reported to every caller of the group, and
//! the database refuses further commits: Hull never guesses what reached the disk; a restart
//! recovers from whatever is durable.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{SystemTime, UNIX_EPOCH};

use hull_errors::{Code, Error, Result};
use hull_store::{DocumentKey, DocumentRow, IndexRow, Timestamp, WriteBatch};

use crate::catalog::Catalog;
use crate::database::Shared;
use crate::document::Document;
use crate::limits::COMMIT_GROUP_MAX;
use crate::reads::ReadSet;
use crate::write_log::{conflict_in, CommitWrites, Conflict};

/// One document change: the revision the transaction saw (with its ts) and the new state.
#[derive(Clone, Debug)]
pub struct DocumentWrite {
    /// The document.
    pub key: DocumentKey,
    /// The revision read at the snapshot, `None` for an insert.
    pub old: Option<(Document, Timestamp)>,
    /// The new document, `None` for a delete.
    pub new: Option<Document>,
}

/// A transaction asking to commit.
pub struct CommitRequest {
    /// The snapshot it read at.
    pub begin_ts: Timestamp,
    /// What it read.
    pub reads: ReadSet,
    /// What it wrote, in document-key order (catalog tables first).
    pub writes: Vec<DocumentWrite>,
    /// Where to send the commit ts or the error.
    pub reply: SyncSender<Result<Timestamp>>,
}

pub(crate) fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The error a conflicting transaction gets (Convex's text, as documented on its errors page).
pub(crate) fn occ_error(catalog: &Catalog, conflict: &Conflict) -> Error {
    let table = catalog.table(conflict.document.table).map_or("<unknown>", |t| t.name.as_str());
    let id = hull_values::DocumentId { table_number: conflict.document.table, internal_id: conflict.document.id };
    Error::new(
        Code::Conflict,
        "OptimisticConcurrencyControlFailure",
        format!(
            "Documents read from or written to the table \"{table}\" changed while this mutation was being run and on every subsequent retry. Another call to this mutation changed the document with ID \"{id}\". See https://docs.convex.dev/error#1"
        ),
    )
}

struct Accepted {
    ts: Timestamp,
    writes: Arc<CommitWrites>,
    reply: SyncSender<Result<Timestamp>>,
}

/// Runs the committer loop until every sender is dropped.
pub(crate) fn run(shared: Arc<Shared>, requests: Receiver<CommitRequest>) {
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        while group.len() < COMMIT_GROUP_MAX {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        commit_group(&shared, group);
    }
}

fn commit_group(shared: &Shared, group: Vec<CommitRequest>) {
    if let Some(error) = shared.failure() {
        for request in group {
            let _ = request.reply.send(Err(error.clone()));
        }
        return;
    }
    let published = shared.published();
    let mut catalog = published.catalog.clone();
    let mut last_ts = published.ts;
    let mut batch = WriteBatch::default();
    let mut accepted: Vec<Accepted> = Vec::with_capacity(group.len());
    for request in group {
        match prepare(shared, &mut catalog, &mut last_ts, &accepted, &request, &mut batch) {
            Ok((ts, writes)) => accepted.push(Accepted { ts, writes: Arc::new(writes), reply: request.reply }),
            Err(error) => {
                let _ = request.reply.send(Err(error));
            }
        }
    }
    if accepted.is_empty() {
        return;
    }
    debug_assert!(batch.documents.iter().all(|row| row.ts > published.ts && row.ts <= last_ts));
    if let Err(error) = shared.persistence.write(&batch) {
        let error = Error::new(
            Code::Unavailable,
            "StorageFailed",
            format!("The database could not store a commit ({error}). Hull stopped accepting writes; restart it to recover from what is durable."),
        );
        shared.fail(error.clone());
        for accepted in accepted {
            let _ = accepted.reply.send(Err(error.clone()));
        }
        return;
    }
    shared.publish(last_ts, catalog, accepted.iter().map(|a| (a.ts, a.writes.clone())));
    for accepted in accepted {
        let _ = accepted.reply.send(Ok(accepted.ts));
    }
}

/// Validates one request and adds its rows to `batch`; returns its ts and written keys.
fn prepare(
    shared: &Shared,
    catalog: &mut Catalog,
    last_ts: &mut Timestamp,
    accepted: &[Accepted],
    request: &CommitRequest,
    batch: &mut WriteBatch,
) -> Result<(Timestamp, CommitWrites)> {
    // OCC: the published commits after the snapshot, then this group's earlier commits.
    let logged = shared.write_log.lock().first_conflict(request.begin_ts, &request.reads);
    let conflict = match logged {
        Err(()) => {
            return Err(Error::new(
                Code::Conflict,
                "TransactionTooOld",
                "The transaction ran for too long to be validated against concurrent writes; retry it.",
            ));
        }
        Ok(Some(conflict)) => Some(conflict),
        Ok(None) => accepted.iter().find_map(|a| conflict_in(a.ts, &a.writes, &request.reads)),
    };
    let checked = !shared.skip_conflict_checks.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(conflict) = conflict.filter(|_| checked) {
        return Err(occ_error(catalog, &conflict));
    }

    let ts = Timestamp(now_nanos()).max(last_ts.succ());
    // Catalog changes first, so that a table or index created by this transaction is
    // maintained for the documents it writes.
    let mut next_catalog = catalog.clone();
    for write in request.writes.iter().filter(|w| Catalog::is_catalog_table(w.key.table)) {
        next_catalog = next_catalog.apply(write.old.as_ref().map(|(d, _)| d), write.new.as_ref())?;
    }
    let mut writes = CommitWrites::default();
    let mut rows_documents = Vec::with_capacity(request.writes.len());
    let mut rows_index = Vec::new();
    for write in &request.writes {
        let (old, old_ts) = match &write.old {
            Some((document, revision_ts)) => (Some(document), Some(*revision_ts)),
            None => (None, None),
        };
        assert!(old.is_some() || write.new.is_some(), "a write with neither old nor new document");
        rows_documents.push(DocumentRow { ts, key: write.key, value: write.new.as_ref().map(Document::to_stored), prev_ts: old_ts });
        for index in next_catalog.indexes_of(write.key.table) {
            let old_key = old.map(|d| index.key_of(d));
            let new_key = write.new.as_ref().map(|d| index.key_of(d));
            if let Some(new_key) = &new_key {
                rows_index.push(IndexRow { index: index.id, key: new_key.clone(), ts, document: Some(write.key) });
                writes.keys.push((index.id, new_key.clone(), write.key));
            }
            if let Some(old_key) = old_key {
                if new_key.as_ref() != Some(&old_key) {
                    rows_index.push(IndexRow { index: index.id, key: old_key.clone(), ts, document: None });
                }
                writes.keys.push((index.id, old_key, write.key));
            }
        }
    }
    *catalog = next_catalog;
    *last_ts = ts;
    batch.documents.extend(rows_documents);
    batch.index_rows.extend(rows_index);
    Ok((ts, writes))
}
