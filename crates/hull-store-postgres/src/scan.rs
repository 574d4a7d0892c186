//! Index scans and log reads.

use hull_errors::{Error, Result};
use hull_store::{DocumentKey, DocumentRow, IndexEntry, IndexId, KeyRange, Order, ScanPage, Timestamp};
use postgres::Row;

use crate::{split_key, storage, Connection};

/// Bytes of an index key kept in the B-tree's `key_prefix` column. PostgreSQL B-tree entries
/// hold at most about 2,700 bytes (a third of a page); the prefix plus the hash, timestamp and
/// index id stay below that (upstream Convex uses the same 2,500).
pub const KEY_PREFIX_LEN: usize = 2500;

/// Beyond the `limit + 1` keys a full page needs, how many more keys (tombstones) one call may
/// examine before it returns a short page.
const EXTRA_KEYS_PER_PAGE_MAX: usize = 256;

struct ScannedRow {
    key: Vec<u8>,
    prefix: Vec<u8>,
    sha: Vec<u8>,
    ts: i64,
    document: Option<DocumentKey>,
    json: Option<String>,
    prev_ts: Option<i64>,
}

fn corrupt(what: &str) -> Error {
    Error::internal("CorruptStore", format!("PostgreSQL store is corrupt: {what}"))
}

fn document_key(table: Option<i64>, id: Option<Vec<u8>>) -> Result<Option<DocumentKey>> {
    match (table, id) {
        (Some(table), Some(id)) => {
            let table = u32::try_from(table).map_err(|_| corrupt("table number out of range"))?;
            let id: [u8; 16] = id.try_into().map_err(|_| corrupt("document id is not 16 bytes"))?;
            Ok(Some(DocumentKey { table, id }))
        }
        (None, None) => Ok(None),
        _ => Err(corrupt("half a document pointer")),
    }
}

fn scanned_row(row: &Row) -> Result<ScannedRow> {
    let prefix: Vec<u8> = row.get(0);
    let suffix: Vec<u8> = row.get(2);
    let mut key = prefix.clone();
    key.extend_from_slice(&suffix);
    Ok(ScannedRow {
        key,
        prefix,
        sha: row.get(1),
        ts: row.get(3),
        document: document_key(row.get(4), row.get(5))?,
        json: row.get(6),
        prev_ts: row.get(7),
    })
}

/// The newest row per key at or below the snapshot, joined with its revision. `cursor` is the
/// SQL-side condition on `key_prefix` that says where this query starts.
fn scan_sql(order: Order, cursor: &str, bound: &str) -> String {
    let direction = match order {
        Order::Asc => "ASC",
        Order::Desc => "DESC",
    };
    format!(
        "SELECT i.key_prefix, i.key_sha256, i.key_suffix, i.ts, i.table_number, i.document_id, d.json, d.prev_ts FROM \
         (SELECT DISTINCT ON (key_prefix, key_sha256) key_prefix, key_sha256, key_suffix, ts, table_number, document_id \
          FROM indexes WHERE index_id = $1 AND ts <= $2 {cursor} {bound} \
          ORDER BY key_prefix {direction}, key_sha256 {direction}, ts DESC LIMIT $3) AS i \
         LEFT JOIN documents AS d ON d.ts = i.ts AND d.table_number = i.table_number AND d.id = i.document_id \
         ORDER BY i.key_prefix {direction}, i.key_sha256 {direction}"
    )
}

/// The rest of a group of keys sharing one full-length prefix, after (in `order`) the hash `sha`.
fn group_sql(order: Order) -> String {
    let (direction, after) = match order {
        Order::Asc => ("ASC", ">"),
        Order::Desc => ("DESC", "<"),
    };
    format!(
        "SELECT i.key_prefix, i.key_sha256, i.key_suffix, i.ts, i.table_number, i.document_id, d.json, d.prev_ts FROM \
         (SELECT DISTINCT ON (key_sha256) key_prefix, key_sha256, key_suffix, ts, table_number, document_id \
          FROM indexes WHERE index_id = $1 AND ts <= $2 AND key_prefix = $3 AND key_sha256 {after} $4 \
          ORDER BY key_sha256 {direction}, ts DESC) AS i \
         LEFT JOIN documents AS d ON d.ts = i.ts AND d.table_number = i.table_number AND d.id = i.document_id"
    )
}

const POINT_READ: &str = "SELECT i.ts, i.table_number, i.document_id, d.json, d.prev_ts \
     FROM indexes AS i LEFT JOIN documents AS d \
     ON d.ts = i.ts AND d.table_number = i.table_number AND d.id = i.document_id \
     WHERE i.index_id = $1 AND i.key_prefix = $2 AND i.key_sha256 = $3 AND i.ts <= $4 ORDER BY i.ts DESC LIMIT 1";

fn prefix_of(key: &[u8]) -> &[u8] {
    &key[..key.len().min(KEY_PREFIX_LEN)]
}

fn revision(key: DocumentKey, ts: i64, json: Option<String>, prev_ts: Option<i64>) -> Result<DocumentRow> {
    let value = json.ok_or_else(|| corrupt("a live index row points at a missing or deleted revision"))?;
    Ok(DocumentRow { ts: Timestamp(ts as u64), key, value: Some(value), prev_ts: prev_ts.map(|t| Timestamp(t as u64)) })
}

fn point_read(connection: &mut Connection, index: IndexId, snapshot: i64, key: &[u8]) -> Result<ScanPage> {
    let (prefix, sha, _) = split_key(key);
    let statement = connection.statement(POINT_READ)?;
    let rows = connection
        .client
        .query(&statement, &[&i64::from(index.0), &prefix, &sha, &snapshot])
        .map_err(|e| storage("reading a key", &e))?;
    let mut page = ScanPage::default();
    if let Some(row) = rows.first()
        && let Some(document) = document_key(row.get(1), row.get(2))? {
            let document = revision(document, row.get(0), row.get(3), row.get(4))?;
            page.entries.push(IndexEntry { key: key.to_vec(), document });
        }
    Ok(page)
}

/// See [`hull_store::Persistence::index_scan`]; `range` is not empty.
pub(crate) fn index_scan(
    connection: &mut Connection,
    index: IndexId,
    snapshot: i64,
    range: &KeyRange,
    order: Order,
    limit: usize,
) -> Result<ScanPage> {
    if let Some(key) = range.single_key() {
        return point_read(connection, index, snapshot, key);
    }
    let fetch = limit.saturating_add(1 + EXTRA_KEYS_PER_PAGE_MAX);
    let fetch_sql = i64::try_from(fetch).unwrap_or(i64::MAX);
    let index_param = i64::from(index.0);
    let mut page = ScanPage::default();
    let mut last_in_range: Option<Vec<u8>> = None;
    let mut examined = 0usize;
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        // Where this query starts, and the bound on the far side, both on key_prefix. Range
        // checks on full keys happen below, after long-key groups are sorted.
        let start_prefix = prefix_of(&range.start).to_vec();
        let end_prefix = range.end.as_deref().map(|end| prefix_of(end).to_vec());
        let (sql, cursor_param, bound_param) = match order {
            Order::Asc => {
                let (condition, value) = match &cursor {
                    None => ("AND key_prefix >= $4", start_prefix),
                    Some(last) => ("AND key_prefix > $4", last.clone()),
                };
                let bound = if end_prefix.is_some() { "AND key_prefix <= $5" } else { "" };
                (scan_sql(order, condition, bound), value, end_prefix)
            }
            Order::Desc => {
                let (condition, value) = match (&cursor, &end_prefix) {
                    (None, Some(end)) => ("AND key_prefix <= $4", Some(end.clone())),
                    (None, None) => ("", None),
                    (Some(last), _) => ("AND key_prefix < $4", Some(last.clone())),
                };
                let bound_index = if value.is_some() { 5 } else { 4 };
                let bound = format!("AND key_prefix >= ${bound_index}");
                let sql = scan_sql(order, condition, &bound);
                match value {
                    Some(value) => (sql, value, Some(start_prefix)),
                    None => (sql, start_prefix, None),
                }
            }
        };
        let statement = connection.statement(&sql)?;
        let query = match &bound_param {
            Some(bound) => connection.client.query(&statement, &[&index_param, &snapshot, &fetch_sql, &cursor_param, bound]),
            None => connection.client.query(&statement, &[&index_param, &snapshot, &fetch_sql, &cursor_param]),
        };
        let sql_rows = query.map_err(|e| storage("scanning an index", &e))?;
        let sql_full = sql_rows.len() == fetch;
        let mut rows = sql_rows.iter().map(scanned_row).collect::<Result<Vec<_>>>()?;
        let Some(last) = rows.last() else { return Ok(page) };
        let last_prefix = last.prefix.clone();
        if sql_full && last_prefix.len() == KEY_PREFIX_LEN {
            // The page may have cut a group of long keys: read the rest of it.
            let statement = connection.statement(&group_sql(order))?;
            let rest = connection
                .client
                .query(&statement, &[&index_param, &snapshot, &last_prefix, &last.sha.clone()])
                .map_err(|e| storage("scanning long keys", &e))?;
            for row in &rest {
                rows.push(scanned_row(row)?);
            }
        }
        // Groups are complete, so sorting by the full key fixes the hash order inside them.
        match order {
            Order::Asc => rows.sort_by(|a, b| a.key.cmp(&b.key)),
            Order::Desc => rows.sort_by(|a, b| b.key.cmp(&a.key)),
        }
        for row in rows {
            let before_range = match order {
                Order::Asc => row.key < range.start,
                Order::Desc => range.end.as_ref().is_some_and(|end| row.key >= *end),
            };
            let past_range = match order {
                Order::Asc => range.end.as_ref().is_some_and(|end| row.key >= *end),
                Order::Desc => row.key < range.start,
            };
            if before_range {
                continue;
            }
            if past_range {
                return Ok(page);
            }
            examined += 1;
            let Some(document) = row.document else {
                last_in_range = Some(row.key);
                continue;
            };
            if page.entries.len() == limit {
                page.resume_after = last_in_range;
                return Ok(page);
            }
            let document = revision(document, row.ts, row.json, row.prev_ts)?;
            last_in_range = Some(row.key.clone());
            page.entries.push(IndexEntry { key: row.key, document });
        }
        if !sql_full {
            return Ok(page);
        }
        if examined >= fetch && last_in_range.is_some() {
            page.resume_after = last_in_range;
            return Ok(page);
        }
        cursor = Some(last_prefix);
    }
}

/// See [`hull_store::Persistence::load_documents`].
pub(crate) fn load_documents(connection: &mut Connection, after: i64, up_to: i64, limit: usize) -> Result<Vec<DocumentRow>> {
    let statement = connection.statement(
        "SELECT ts, table_number, id, json, prev_ts FROM documents WHERE ts > $1 AND ts <= $2 ORDER BY ts, table_number, id LIMIT $3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = connection.client.query(&statement, &[&after, &up_to, &limit]).map_err(|e| storage("reading the log", &e))?;
    rows.iter()
        .map(|row| {
            let key = document_key(Some(row.get(1)), Some(row.get(2)))?.expect("both present");
            Ok(DocumentRow {
                ts: Timestamp(row.get::<_, i64>(0) as u64),
                key,
                value: row.get(3),
                prev_ts: row.get::<_, Option<i64>>(4).map(|t| Timestamp(t as u64)),
            })
        })
        .collect()
}
