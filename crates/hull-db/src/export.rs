//! Export and import of a whole deployment, to move it between stores (SQLite ⇄ PostgreSQL)
//! or machines.
//!
//! The format is JSON lines, written at one snapshot, in this order:
//! `{"hullExport":1,"ts":"<snapshot>"}`, then one `{"table":{"name":…,"number":…}}` per table
//! (system tables such as deployed code and environment variables included; the catalog
//! tables themselves are not, they are rebuilt), one `{"index":{"table":…,"name":…,"fields":[…]}}`
//! per user index, `{"schema":"<schema JSON>"}` if one is active, and then one
//! `{"document":{"table":…,"value":<Convex JSON, with _id and _creationTime>}}` per document.
//! Tables keep their numbers and documents their IDs and creation times, so references between
//! documents stay valid. Structure comes before data so that an import maintains the indexes
//! and checks every document against the schema as it inserts it: an edited or damaged file is
//! refused with the reason, not loaded.

use std::io::{BufRead, Write};

use hull_errors::{Error, Result};
use hull_store::{KeyRange, Order};
use hull_values::Value;

use crate::catalog::{Catalog, BY_CREATION_TIME, BY_ID};
use crate::document::Document;
use crate::{Database, Schema};

/// The export format's version.
pub const EXPORT_FORMAT_VERSION: u64 = 1;
/// Documents imported per transaction (well under the per-transaction write limits).
pub const IMPORT_BATCH_DOCUMENTS: usize = 4000;

/// What an export or import moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferSummary {
    /// Tables.
    pub tables: usize,
    /// Documents.
    pub documents: usize,
    /// User indexes.
    pub indexes: usize,
    /// Whether a schema came along.
    pub schema: bool,
}

fn io_error(error: std::io::Error) -> Error {
    Error::internal("ExportIo", format!("export/import I/O failed: {error}"))
}

fn invalid(line: usize, why: &str) -> Error {
    Error::bad_request("InvalidImport", format!("Import file line {line}: {why}"))
}

fn exported_tables(catalog: &Catalog) -> impl Iterator<Item = &crate::catalog::TableInfo> {
    catalog.tables().filter(|t| !Catalog::is_catalog_table(t.number))
}

impl Database {
    /// Writes the whole deployment as of the newest commit. Concurrent commits do not affect
    /// it: everything is read at one snapshot.
    pub fn export(&self, out: &mut dyn Write) -> Result<TransferSummary> {
        let published = self.published_state();
        let (ts, catalog) = (published.0, published.1);
        let mut summary = TransferSummary::default();
        let mut line = |json: serde_json::Value| writeln!(out, "{json}").map_err(io_error);
        line(serde_json::json!({"hullExport": EXPORT_FORMAT_VERSION, "ts": ts.0.to_string()}))?;
        for table in exported_tables(&catalog) {
            line(serde_json::json!({"table": {"name": table.name, "number": table.number}}))?;
            summary.tables += 1;
        }
        for index in catalog.indexes().filter(|i| i.name != BY_ID && i.name != BY_CREATION_TIME) {
            let Some(table) = catalog.table(index.table) else { continue };
            if Catalog::is_catalog_table(table.number) {
                continue;
            }
            line(serde_json::json!({"index": {"table": table.name, "name": index.name, "fields": index.declared_fields}}))?;
            summary.indexes += 1;
        }
        if let Some(schema) = catalog.schema() {
            line(serde_json::json!({"schema": schema.source}))?;
            summary.schema = true;
        }
        for table in exported_tables(&catalog) {
            let index = catalog.index_by_name(table.number, BY_CREATION_TIME).expect("every table has one").id;
            let mut range = KeyRange::all();
            loop {
                let page = self.persistence().index_scan(index, ts, &range, Order::Asc, 1000)?;
                for entry in &page.entries {
                    let stored = entry.document.value.as_deref().expect("visible entries are live");
                    // Re-validated on the way out: a corrupt store must not produce an export.
                    Document::from_stored(entry.document.key, stored)?;
                    writeln!(out, "{{\"document\":{{\"table\":{},\"value\":{stored}}}}}", serde_json::Value::String(table.name.clone()))
                        .map_err(io_error)?;
                    summary.documents += 1;
                }
                match page.resume_after {
                    Some(last) => range = range.after(&last, Order::Asc),
                    None => break,
                }
            }
        }
        out.flush().map_err(io_error)?;
        Ok(summary)
    }

    /// Loads an export into this database, which must be empty. Tables keep their numbers and
    /// documents their IDs; indexes are backfilled and the schema checked at the end.
    pub fn import(&self, input: &mut dyn BufRead) -> Result<TransferSummary> {
        if exported_tables(&self.catalog()).next().is_some() {
            return Err(Error::bad_request("ImportTargetNotEmpty", "Import needs an empty database: this one already has tables."));
        }
        let mut summary = TransferSummary::default();
        let mut pending: Vec<(String, hull_values::Object)> = Vec::new();
        let flush = |pending: &mut Vec<(String, hull_values::Object)>| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            self.run_system(0, |tx| {
                for (table, object) in pending.iter() {
                    tx.import_document(table, object.clone())?;
                }
                Ok(())
            })?;
            pending.clear();
            Ok(())
        };
        let mut seen_header = false;
        for (number, text) in input.lines().enumerate() {
            let number = number + 1;
            let text = text.map_err(io_error)?;
            if text.trim().is_empty() {
                continue;
            }
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(number, &format!("not JSON ({e})")))?;
            if !seen_header {
                if json.get("hullExport").and_then(|v| v.as_u64()) != Some(EXPORT_FORMAT_VERSION) {
                    return Err(invalid(number, &format!("not a Hull export of format version {EXPORT_FORMAT_VERSION}")));
                }
                seen_header = true;
                continue;
            }
            if let Some(table) = json.get("table") {
                let name = table.get("name").and_then(|n| n.as_str()).ok_or_else(|| invalid(number, "table without a name"))?;
                let table_number = table
                    .get("number")
                    .and_then(|n| n.as_u64())
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid(number, "table without a valid number"))?;
                self.run_system(0, |tx| tx.import_table(name, table_number))?;
                summary.tables += 1;
            } else if let Some(document) = json.get("document") {
                let table = document.get("table").and_then(|t| t.as_str()).ok_or_else(|| invalid(number, "document without a table"))?;
                let value = document.get("value").ok_or_else(|| invalid(number, "document without a value"))?;
                let Value::Object(object) = Value::from_json(value)? else {
                    return Err(invalid(number, "a document is not an object"));
                };
                pending.push((table.to_owned(), object));
                summary.documents += 1;
                if pending.len() >= IMPORT_BATCH_DOCUMENTS {
                    flush(&mut pending)?;
                }
            } else if let Some(index) = json.get("index") {
                flush(&mut pending)?;
                let table = index.get("table").and_then(|t| t.as_str()).ok_or_else(|| invalid(number, "index without a table"))?;
                let name = index.get("name").and_then(|t| t.as_str()).ok_or_else(|| invalid(number, "index without a name"))?;
                let fields: Vec<String> = index
                    .get("fields")
                    .and_then(|f| f.as_array())
                    .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .ok_or_else(|| invalid(number, "index without fields"))?;
                self.run_system(0, |tx| tx.create_index(table, name, &fields))?;
                summary.indexes += 1;
            } else if let Some(text) = json.get("schema").and_then(|s| s.as_str()) {
                flush(&mut pending)?;
                let schema = Schema::parse(text)?;
                self.run_system(0, |tx| tx.set_schema(Some(schema.clone())))?;
                summary.schema = true;
            } else {
                return Err(invalid(number, "unknown entry"));
            }
        }
        if !seen_header {
            return Err(invalid(1, "the file is empty"));
        }
        flush(&mut pending)?;
        Ok(summary)
    }
}
