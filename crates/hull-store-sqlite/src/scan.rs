//! Index scans, and decoding stored rows back into `hull-store` types.

use hull_errors::{Error, Result};
use hull_store::{DocumentKey, DocumentRow, IndexEntry, IndexId, InternalId, KeyRange, Order, ScanPage, Timestamp};
use rusqlite::{CachedStatement, Connection, Row, params};

use crate::error::{StorageContext, corrupted, storage_error};
use crate::sql_limit;

/// Beyond the `limit + 1` keys a full page needs, how many more keys (tombstones) one call may
/// examine before it returns a short page. Bounds the work of one call over a deleted stretch
/// of an index, while sparing callers a round trip per tombstone.
pub(crate) const EXTRA_KEYS_PER_PAGE_MAX: usize = 1024;

/// The newest row of each key in the range at or below the snapshot, in key order.
///
/// `MAX(ts)` is the query's only aggregate, so SQLite's documented bare-column rule makes
/// `table_number` and `document_id` those of the row holding the maximum. Grouping by the
/// second column of the primary key lets SQLite walk the primary key (forwards or backwards)
/// and emit each group as it ends, so stepping stops as soon as the page is full.
macro_rules! scan_sql {
    ($upper_bound:literal, $direction:literal) => {
        concat!(
            "SELECT key, MAX(ts), table_number, document_id FROM indexes ",
            "WHERE index_id = ?1 AND key >= ?2 AND ts <= ?3",
            $upper_bound,
            " GROUP BY key ORDER BY key",
            $direction,
            " LIMIT ?4"
        )
    };
}
pub(crate) const SCAN_ASC: &str = scan_sql!("", "");
pub(crate) const SCAN_ASC_BOUNDED: &str = scan_sql!(" AND key < ?5", "");
pub(crate) const SCAN_DESC: &str = scan_sql!("", " DESC");
pub(crate) const SCAN_DESC_BOUNDED: &str = scan_sql!(" AND key < ?5", " DESC");

/// The revision a live index row points at.
pub(crate) const REVISION: &str =
    "SELECT json, prev_ts FROM documents WHERE ts = ?1 AND table_number = ?2 AND id = ?3";

/// A point read: one seek to the newest row of one key at or below the snapshot, joined with
/// its revision. Unlike the grouped scan it never reads older versions of the key.
pub(crate) const POINT_READ: &str = "SELECT i.ts, i.table_number, i.document_id, d.ts, d.json, d.prev_ts \
     FROM indexes AS i LEFT JOIN documents AS d \
     ON d.ts = i.ts AND d.table_number = i.table_number AND d.id = i.document_id \
     WHERE i.index_id = ?1 AND i.key = ?2 AND i.ts <= ?3 ORDER BY i.ts DESC LIMIT 1";

/// See [`hull_store::Persistence::index_scan`]; `range` is not empty and `limit > 0`.
pub(crate) fn index_scan(
    conn: &Connection,
    context: &StorageContext<'_>,
    index: IndexId,
    snapshot: i64,
    range: &KeyRange,
    order: Order,
    limit: usize,
) -> Result<ScanPage> {
    if let Some(key) = range.single_key() {
        return point_read(conn, context, index, snapshot, key);
    }
    let error = |err| storage_error(context, "scanning an index", err);
    let sql = match (order, range.end.is_some()) {
        (Order::Asc, false) => SCAN_ASC,
        (Order::Asc, true) => SCAN_ASC_BOUNDED,
        (Order::Desc, false) => SCAN_DESC,
        (Order::Desc, true) => SCAN_DESC_BOUNDED,
    };
    let keys_max = limit.saturating_add(1 + EXTRA_KEYS_PER_PAGE_MAX);
    let mut select = conn.prepare_cached(sql).map_err(error)?;
    let mut revision = conn.prepare_cached(REVISION).map_err(error)?;
    let mut rows = match &range.end {
        None => select.query(params![index.0, range.start, snapshot, sql_limit(keys_max)]),
        Some(end) => select.query(params![index.0, range.start, snapshot, sql_limit(keys_max), end]),
    }
    .map_err(error)?;

    let mut page = ScanPage::default();
    let mut examined = 0usize;
    // The last examined key when it was a tombstone (otherwise it is the last entry's key).
    let mut trailing_tombstone: Option<Vec<u8>> = None;
    while let Some(row) = rows.next().map_err(error)? {
        examined += 1;
        let key: Vec<u8> = row.get(0).map_err(error)?;
        let Some(document) = pointer(row, 2, context)? else {
            trailing_tombstone = Some(key);
            continue;
        };
        if page.entries.len() == limit {
            // Another visible entry exists: the page is full and the range is not exhausted.
            page.resume_after = last_examined(&page, trailing_tombstone);
            return Ok(page);
        }
        let ts: i64 = row.get(1).map_err(error)?;
        let document = load_revision(&mut revision, context, ts, document)?;
        page.entries.push(IndexEntry { key, document });
        trailing_tombstone = None;
    }
    if examined == keys_max {
        // Stopped by the per-call budget, not by the end of the range.
        page.resume_after = last_examined(&page, trailing_tombstone);
    }
    Ok(page)
}

fn last_examined(page: &ScanPage, trailing_tombstone: Option<Vec<u8>>) -> Option<Vec<u8>> {
    trailing_tombstone.or_else(|| page.entries.last().map(|entry| entry.key.clone()))
}

fn point_read(
    conn: &Connection,
    context: &StorageContext<'_>,
    index: IndexId,
    snapshot: i64,
    key: &[u8],
) -> Result<ScanPage> {
    let error = |err| storage_error(context, "reading an index key", err);
    let mut select = conn.prepare_cached(POINT_READ).map_err(error)?;
    let mut rows = select.query(params![index.0, key, snapshot]).map_err(error)?;
    let Some(row) = rows.next().map_err(error)? else { return Ok(ScanPage::default()) };
    let Some(document) = pointer(row, 1, context)? else { return Ok(ScanPage::default()) };
    let ts = timestamp(row.get(0).map_err(error)?, context)?;
    let revision_ts: Option<i64> = row.get(3).map_err(error)?;
    if revision_ts.is_none() {
        return Err(missing_revision(context, ts, document));
    }
    let json: Option<String> = row.get(4).map_err(error)?;
    let prev_ts: Option<i64> = row.get(5).map_err(error)?;
    let document = live_revision(context, ts, document, json, prev_ts)?;
    Ok(ScanPage { entries: vec![IndexEntry { key: key.to_vec(), document }], resume_after: None })
}

fn load_revision(
    revision: &mut CachedStatement<'_>,
    context: &StorageContext<'_>,
    ts: i64,
    document: DocumentKey,
) -> Result<DocumentRow> {
    let error = |err| storage_error(context, "reading a document revision", err);
    let mut rows = revision.query(params![ts, document.table, &document.id[..]]).map_err(error)?;
    let ts = timestamp(ts, context)?;
    let Some(row) = rows.next().map_err(error)? else { return Err(missing_revision(context, ts, document)) };
    live_revision(context, ts, document, row.get(0).map_err(error)?, row.get(1).map_err(error)?)
}

fn live_revision(
    context: &StorageContext<'_>,
    ts: Timestamp,
    key: DocumentKey,
    json: Option<String>,
    prev_ts: Option<i64>,
) -> Result<DocumentRow> {
    let Some(value) = json else {
        return Err(corrupted(
            context,
            format_args!("a live index row at ts {ts} points at a deletion in table {}", key.table),
        ));
    };
    let prev_ts = prev_ts.map(|prev| timestamp(prev, context)).transpose()?;
    Ok(DocumentRow { ts, key, value: Some(value), prev_ts })
}

fn missing_revision(context: &StorageContext<'_>, ts: Timestamp, key: DocumentKey) -> Error {
    corrupted(context, format_args!("an index row at ts {ts} points at a missing revision in table {}", key.table))
}

/// The document an index row points at (columns `first`, `first + 1`), `None` for a tombstone.
fn pointer(row: &Row<'_>, first: usize, context: &StorageContext<'_>) -> Result<Option<DocumentKey>> {
    let error = |err| storage_error(context, "reading an index row", err);
    let table: Option<i64> = row.get(first).map_err(error)?;
    let id: Option<Vec<u8>> = row.get(first + 1).map_err(error)?;
    match (table, id) {
        (None, None) => Ok(None),
        (Some(table), Some(id)) => {
            Ok(Some(DocumentKey { table: table_number(table, context)?, id: internal_id(id, context)? }))
        }
        _ => Err(corrupted(context, "an index row has only half of a document reference")),
    }
}

/// One row of `SELECT ts, table_number, id, json, prev_ts FROM documents`.
pub(crate) fn document_row(row: &Row<'_>, context: &StorageContext<'_>) -> Result<DocumentRow> {
    let error = |err| storage_error(context, "reading the document log", err);
    let prev_ts: Option<i64> = row.get(4).map_err(error)?;
    Ok(DocumentRow {
        ts: timestamp(row.get(0).map_err(error)?, context)?,
        key: DocumentKey {
            table: table_number(row.get(1).map_err(error)?, context)?,
            id: internal_id(row.get(2).map_err(error)?, context)?,
        },
        value: row.get(3).map_err(error)?,
        prev_ts: prev_ts.map(|prev| timestamp(prev, context)).transpose()?,
    })
}

pub(crate) fn timestamp(stored: i64, context: &StorageContext<'_>) -> Result<Timestamp> {
    u64::try_from(stored)
        .map(Timestamp)
        .map_err(|_| corrupted(context, format_args!("negative timestamp {stored}")))
}

fn table_number(stored: i64, context: &StorageContext<'_>) -> Result<u32> {
    u32::try_from(stored).map_err(|_| corrupted(context, format_args!("table number {stored} out of range")))
}

fn internal_id(stored: Vec<u8>, context: &StorageContext<'_>) -> Result<InternalId> {
    let len = stored.len();
    InternalId::try_from(stored)
        .map_err(|_| corrupted(context, format_args!("a document id of {len} bytes instead of 16")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, SqlitePersistence};

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // Unbound parameters are NULL, which does not change the plan.
        let mut rows = explain.raw_query();
        let mut details = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            details.push(row.get::<_, String>(3).unwrap());
        }
        details.join("\n")
    }

    /// Every read walks an index in the order it returns rows: no temporary B-tree (a sort of
    /// the whole range before the first row comes out) in either direction.
    #[test]
    fn reads_walk_primary_keys_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let _store = SqlitePersistence::open(&path, Durability::Normal).unwrap();
        let conn = Connection::open(&path).unwrap();
        let range = "SEARCH indexes USING PRIMARY KEY (index_id=? AND key>?)";
        let bounded = "SEARCH indexes USING PRIMARY KEY (index_id=? AND key>? AND key<?)";
        let point = "SEARCH i USING PRIMARY KEY (index_id=? AND key=? AND ts<?)\n\
                     SEARCH d USING PRIMARY KEY (ts=? AND table_number=? AND id=?) LEFT-JOIN";
        let revision = "SEARCH documents USING PRIMARY KEY (ts=? AND table_number=? AND id=?)";
        let expected = [
            (SCAN_ASC, range),
            (SCAN_ASC_BOUNDED, bounded),
            (SCAN_DESC, range),
            (SCAN_DESC_BOUNDED, bounded),
            (POINT_READ, point),
            (REVISION, revision),
            (crate::LOAD_DOCUMENTS, "SEARCH documents USING PRIMARY KEY (ts>? AND ts<?)"),
            (crate::MAX_TS, "SEARCH documents USING PRIMARY KEY"),
        ];
        for (sql, want) in expected {
            let got = plan(&conn, sql);
            println!("{sql}\n{got}\n");
            assert_eq!(got, want, "plan of {sql}");
        }
    }
}
