//! Transactions: snapshot reads, recorded read sets, buffered writes, limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use hull_errors::{Error, Result};
use hull_store::{DocumentKey, IndexId, KeyRange, Order, TableNumber, Timestamp};
use hull_values::{DocumentId, Object, Value};

use crate::catalog::{
    index_document, table_document, Catalog, IndexInfo, IndexState, TableInfo, BY_CREATION_TIME, BY_ID, INDEXES_TABLE,
    SCHEMAS_TABLE, TABLES_TABLE,
};
use crate::committer::{now_nanos, DocumentWrite};
use crate::database::Shared;
use crate::document::{Document, CREATION_TIME_FIELD, ID_FIELD};
use crate::limits::*;
use crate::reads::ReadSet;
use crate::schema::Schema;

/// How a patch changes one field.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchField {
    /// Set the field to this value.
    Set(Value),
    /// Remove the field (JS `undefined` in `db.patch`).
    Remove,
}

/// Counters of what a transaction read and wrote, checked against the limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Documents read (including those a filter dropped).
    pub documents_read: usize,
    /// Bytes of documents read.
    pub bytes_read: usize,
    /// Documents written.
    pub documents_written: usize,
    /// Bytes of documents written.
    pub bytes_written: usize,
}

#[derive(Clone)]
struct PendingWrite {
    old: Option<(Document, Timestamp)>,
    new: Option<Document>,
}

/// The state of a transaction's writes at some point, to return to if a nested call fails
/// (`ctx.runMutation` inside a mutation: the callee's writes are undone when it throws, its
/// reads stay in the read set because the caller observed their outcome).
pub struct Savepoint {
    writes: BTreeMap<DocumentKey, PendingWrite>,
    catalog: Catalog,
    usage: Usage,
    created_indexes: usize,
}

/// A transaction: reads at a fixed snapshot, buffers writes until [`crate::Database::commit`].
pub struct Transaction {
    shared: Arc<Shared>,
    begin_ts: Timestamp,
    catalog: Catalog,
    reads: ReadSet,
    writes: BTreeMap<DocumentKey, PendingWrite>,
    usage: Usage,
    last_creation_time: f64,
    created_indexes: Vec<IndexId>,
    /// A transaction of Hull itself (deploys, loading deployed code): exempt from the
    /// per-function read and write limits, which exist to bound user code.
    system: bool,
}

fn too_many(what: &str, limit: usize, unit: &str) -> Error {
    Error::bad_request(
        "TooManyReads",
        format!(
            "Too many {what} in a single function execution (limit: {limit}{unit}). Consider using smaller limits in your queries, paginating your queries, or using indexed queries with a selective index range expressions."
        ),
    )
}

impl Transaction {
    pub(crate) fn new(shared: Arc<Shared>, begin_ts: Timestamp, catalog: Catalog) -> Transaction {
        // Creation times are the later of the snapshot and the wall clock, in ms.
        let base_nanos = begin_ts.0.max(now_nanos());
        Transaction {
            shared,
            begin_ts,
            catalog,
            reads: ReadSet::default(),
            writes: BTreeMap::new(),
            usage: Usage::default(),
            last_creation_time: (base_nanos / 1_000_000) as f64 + (base_nanos % 1_000_000) as f64 / 1e6,
            created_indexes: Vec::new(),
            system: false,
        }
    }

    /// Makes this a system transaction; see [`crate::Database::begin_system`].
    pub(crate) fn into_system(mut self) -> Transaction {
        self.system = true;
        self
    }

    /// The snapshot this transaction reads at.
    pub fn begin_ts(&self) -> Timestamp {
        self.begin_ts
    }

    /// The catalog as this transaction sees it (its own table and index creations included).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// What the transaction has read and written so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The read set so far.
    pub fn reads(&self) -> &ReadSet {
        &self.reads
    }

    /// True when the transaction has written something.
    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    /// Marks the current state of the writes; see [`Savepoint`].
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            writes: self.writes.clone(),
            catalog: self.catalog.clone(),
            usage: self.usage,
            created_indexes: self.created_indexes.len(),
        }
    }

    /// Undoes every write made since `savepoint` was taken. Reads are kept.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        self.writes = savepoint.writes;
        self.catalog = savepoint.catalog;
        // Documents read since then were read; only the write counters go back.
        self.usage.documents_written = savepoint.usage.documents_written;
        self.usage.bytes_written = savepoint.usage.bytes_written;
        self.created_indexes.truncate(savepoint.created_indexes);
    }

    pub(crate) fn into_parts(self) -> (Timestamp, ReadSet, Vec<DocumentWrite>, Vec<IndexId>) {
        let writes = self
            .writes
            .into_iter()
            .filter(|(_, w)| w.old.is_some() || w.new.is_some())
            .map(|(key, w)| DocumentWrite { key, old: w.old, new: w.new })
            .collect();
        (self.begin_ts, self.reads, writes, self.created_indexes)
    }

    // ----- reads -------------------------------------------------------------------------

    pub(crate) fn record_read(&mut self, index: IndexId, range: &KeyRange) -> Result<()> {
        self.reads.record(index, range);
        if self.reads.interval_count() > TRANSACTION_MAX_READ_SET_INTERVALS {
            return Err(too_many("reads", TRANSACTION_MAX_READ_SET_INTERVALS, ""));
        }
        Ok(())
    }

    pub(crate) fn count_read(&mut self, document: &Document) -> Result<()> {
        self.usage.documents_read += 1;
        self.usage.bytes_read += document.size();
        if self.system {
            return Ok(());
        }
        if self.usage.documents_read > TRANSACTION_MAX_READ_SIZE_ROWS {
            return Err(too_many("documents read", TRANSACTION_MAX_READ_SIZE_ROWS, ""));
        }
        if self.usage.bytes_read > TRANSACTION_MAX_READ_SIZE_BYTES {
            return Err(too_many("bytes read", TRANSACTION_MAX_READ_SIZE_BYTES, " bytes"));
        }
        Ok(())
    }

    pub(crate) fn persistence_scan(&self, index: IndexId, range: &KeyRange, order: Order, limit: usize) -> Result<hull_store::ScanPage> {
        self.shared.persistence.index_scan(index, self.begin_ts, range, order, limit)
    }

    /// The documents this transaction wrote to `table` whose key in `index` lies in `range`:
    /// key -> new document (`None` hides a key the snapshot still has).
    pub(crate) fn overlay(&self, index: &IndexInfo, range: &KeyRange) -> BTreeMap<Vec<u8>, Option<Document>> {
        let mut overlay = BTreeMap::new();
        let lower = DocumentKey { table: index.table, id: [0; 16] };
        let upper = DocumentKey { table: index.table, id: [0xFF; 16] };
        for write in self.writes.range(lower..=upper).map(|(_, w)| w) {
            if let Some((old, _)) = &write.old {
                let key = index.key_of(old);
                if range.contains(&key) {
                    overlay.insert(key, None);
                }
            }
            if let Some(new) = &write.new {
                let key = index.key_of(new);
                if range.contains(&key) {
                    overlay.insert(key, Some(new.clone()));
                }
            }
        }
        overlay
    }

    fn table_for(&self, id: &DocumentId) -> Option<&TableInfo> {
        self.catalog.table(id.table_number)
    }

    /// Reads the document `id` with the ts of its revision; records the read.
    fn get_with_revision(&mut self, id: DocumentId) -> Result<Option<(Document, Option<Timestamp>)>> {
        let key = DocumentKey { table: id.table_number, id: id.internal_id };
        if let Some(write) = self.writes.get(&key) {
            return Ok(write.new.clone().map(|d| (d, None)));
        }
        let Some(table) = self.table_for(&id) else { return Ok(None) };
        let by_id = self.catalog.index_by_name(table.number, BY_ID).expect("every table has by_id").id;
        let index_key = hull_values::sort_key(&[Some(&Value::String(id.encode()))]);
        let range = KeyRange::exact(&index_key);
        self.record_read(by_id, &range)?;
        let page = self.persistence_scan(by_id, &range, Order::Asc, 1)?;
        let Some(entry) = page.entries.into_iter().next() else { return Ok(None) };
        let document = Document::from_stored(entry.document.key, entry.document.value.as_deref().expect("visible entries are live"))?;
        self.count_read(&document)?;
        Ok(Some((document, Some(entry.document.ts))))
    }

    /// Reads the document `id` (any table), or `None` if it does not exist.
    pub fn get(&mut self, id: DocumentId) -> Result<Option<Document>> {
        Ok(self.get_with_revision(id)?.map(|(document, _)| document))
    }

    /// Reads the document `id` with the commit timestamp of its current revision (`None` when
    /// this transaction wrote it), or `None` if it does not exist. The sync protocol answers a
    /// replayed mutation with the commit timestamp of the record its first run wrote.
    pub fn get_with_commit_ts(&mut self, id: DocumentId) -> Result<Option<(Document, Option<Timestamp>)>> {
        self.get_with_revision(id)
    }

    /// Resolves an ID string for `table`: `Some` when it is a well-formed ID of that table.
    pub fn normalize_id(&self, table: &str, id: &str) -> Option<DocumentId> {
        let id = DocumentId::decode(id).ok()?;
        let table = self.catalog.table_by_name(table)?;
        (id.table_number == table.number).then_some(id)
    }

    // ----- writes ------------------------------------------------------------------------

    fn next_creation_time(&mut self) -> f64 {
        let time = self.last_creation_time;
        self.last_creation_time = time.next_up();
        time
    }

    fn check_write_limits(&mut self, document: Option<&Document>) -> Result<()> {
        self.usage.documents_written += 1;
        self.usage.bytes_written += document.map_or(0, Document::size);
        if self.usage.documents_written > TRANSACTION_MAX_NUM_USER_WRITES {
            return Err(Error::bad_request(
                "TooManyWrites",
                format!("Too many documents written in a single function execution (limit: {TRANSACTION_MAX_NUM_USER_WRITES}). Consider splitting the work across several mutations."),
            ));
        }
        if self.usage.bytes_written > TRANSACTION_MAX_USER_WRITE_SIZE_BYTES {
            return Err(Error::bad_request(
                "TooManyBytesWritten",
                format!("Too many bytes written in a single function execution (limit: {TRANSACTION_MAX_USER_WRITE_SIZE_BYTES} bytes). Consider splitting the work across several mutations."),
            ));
        }
        Ok(())
    }

    fn check_document(&self, table: &TableInfo, document: &Document) -> Result<()> {
        if table.number < crate::catalog::FIRST_USER_TABLE_NUMBER {
            // System documents are written by Hull itself (deployed bundles and source maps
            // can exceed a user document's 1 MiB); they still obey the limits of any value.
            return hull_values::check_value(&document.to_value());
        }
        hull_values::check_user_document(document.object())?;
        if let Some(schema) = self.catalog.schema() {
            let catalog = &self.catalog;
            schema.check_document(&table.name, document.object(), &|name| catalog.table_by_name(name).map(|t| t.number))?;
        }
        Ok(())
    }

    fn buffer_write(&mut self, key: DocumentKey, old: Option<(Document, Option<Timestamp>)>, new: Option<Document>) -> Result<()> {
        // Like Convex, only writes to user tables count against the user write limits.
        if key.table >= crate::catalog::FIRST_USER_TABLE_NUMBER && !self.system {
            self.check_write_limits(new.as_ref())?;
        }
        match self.writes.get_mut(&key) {
            // Written before in this transaction: keep the snapshot's revision as `old`.
            Some(write) => write.new = new,
            None => {
                let old = old.map(|(document, ts)| (document, ts.expect("a snapshot revision has a ts")));
                self.writes.insert(key, PendingWrite { old, new });
            }
        }
        Ok(())
    }

    /// Inserts a document into the user table `table`, creating the table if it does not
    /// exist. `fields` must not contain system fields.
    pub fn insert(&mut self, table: &str, fields: Object) -> Result<DocumentId> {
        if table.starts_with('_') {
            return Err(Error::bad_request(
                "InvalidTableName",
                format!("Invalid table name: \"{table}\". Table names starting with an underscore are reserved for system tables."),
            ));
        }
        self.insert_into(table, fields, false)
    }

    /// Inserts into a system table (name starting with `_`), creating it if needed.
    pub fn insert_system_table(&mut self, table: &str, fields: Object) -> Result<DocumentId> {
        debug_assert!(table.starts_with('_'));
        self.insert_into(table, fields, true)
    }

    fn insert_into(&mut self, table: &str, fields: Object, system: bool) -> Result<DocumentId> {
        reject_system_fields(&fields)?;
        let info = match self.catalog.table_by_name(table) {
            Some(info) => info.clone(),
            None => self.create_table(table, system)?,
        };
        self.insert_document(&info, fields).map(|d| d.id())
    }

    fn insert_document(&mut self, table: &TableInfo, fields: Object) -> Result<Document> {
        let days = (now_nanos() / 86_400_000_000_000) as u16;
        // IDs need uniqueness, not determinism: the thread-local CSPRNG avoids a getrandom
        // syscall per transaction.
        let id = DocumentId { table_number: table.number, internal_id: hull_values::new_internal_id(&mut rand::rng(), days) };
        let creation_time = self.next_creation_time();
        let document = Document::new(id, creation_time, fields);
        self.check_document(table, &document)?;
        self.buffer_write(document.key(), None, Some(document.clone()))?;
        if Catalog::is_catalog_table(table.number) {
            self.catalog = self.catalog.apply(None, Some(&document))?;
        }
        Ok(document)
    }

    fn existing(&mut self, id: DocumentId, operation: &str) -> Result<(TableInfo, Document, Option<Timestamp>)> {
        let Some((document, revision)) = self.get_with_revision(id)? else {
            return Err(Error::bad_request(
                "NonexistentDocument",
                format!("{operation} on nonexistent document ID {id}"),
            ));
        };
        let table = self.table_for(&id).expect("a document's table exists").clone();
        Ok((table, document, revision))
    }

    /// Sets or removes top-level fields of the document `id` (`db.patch`).
    pub fn patch(&mut self, id: DocumentId, patch: BTreeMap<String, PatchField>) -> Result<Document> {
        let (table, old, revision) = self.existing(id, "Update")?;
        let mut fields = old.user_fields();
        for (name, change) in patch {
            let new_value = match &change {
                PatchField::Set(value) => Some(value),
                PatchField::Remove => None,
            };
            if check_system_field(&name, new_value, &old)? {
                continue;
            }
            match change {
                PatchField::Set(value) => {
                    fields.insert(name, value);
                }
                PatchField::Remove => {
                    fields.remove(&name);
                }
            }
        }
        self.write_replacement(table, old, revision, fields)
    }

    /// Replaces every user field of the document `id` (`db.replace`).
    pub fn replace(&mut self, id: DocumentId, mut fields: Object) -> Result<Document> {
        let (table, old, revision) = self.existing(id, "Replace")?;
        for name in [ID_FIELD, CREATION_TIME_FIELD] {
            if let Some(value) = fields.remove(name) {
                check_system_field(name, Some(&value), &old)?;
            }
        }
        self.write_replacement(table, old, revision, fields)
    }

    fn write_replacement(&mut self, table: TableInfo, old: Document, revision: Option<Timestamp>, fields: Object) -> Result<Document> {
        let new = Document::new(old.id(), old.creation_time(), fields);
        self.check_document(&table, &new)?;
        self.buffer_write(old.key(), Some((old.clone(), revision)), Some(new.clone()))?;
        if Catalog::is_catalog_table(table.number) {
            self.catalog = self.catalog.apply(Some(&old), Some(&new))?;
        }
        Ok(new)
    }

    /// Deletes the document `id` (`db.delete`), returning it.
    pub fn delete(&mut self, id: DocumentId) -> Result<Document> {
        let (table, old, revision) = self.existing(id, "Delete")?;
        self.buffer_write(old.key(), Some((old.clone(), revision)), None)?;
        if Catalog::is_catalog_table(table.number) {
            self.catalog = self.catalog.apply(Some(&old), None)?;
        }
        Ok(old)
    }

    // ----- catalog -----------------------------------------------------------------------

    /// Records reads of the whole catalog tables, so that concurrent catalog changes conflict.
    fn read_catalog_tables(&mut self) -> Result<()> {
        for table in [TABLES_TABLE, INDEXES_TABLE, SCHEMAS_TABLE] {
            let by_id = self.catalog.index_by_name(table, BY_ID).expect("bootstrap").id;
            self.record_read(by_id, &KeyRange::all())?;
        }
        Ok(())
    }

    fn create_table(&mut self, name: &str, system: bool) -> Result<TableInfo> {
        self.read_catalog_tables()?;
        let number = self.catalog.next_table_number(system);
        self.create_table_numbered(name, number)
    }

    fn create_table_numbered(&mut self, name: &str, number: TableNumber) -> Result<TableInfo> {
        hull_values::check_identifier(name.trim_start_matches('_')).map_err(|_| {
            Error::bad_request("InvalidTableName", format!("Invalid table name: \"{name}\". Table names must be valid identifiers: letters, digits and underscores, starting with a letter, at most 64 characters."))
        })?;
        self.read_catalog_tables()?;
        let tables = self.catalog.table(TABLES_TABLE).expect("bootstrap").clone();
        self.insert_document(&tables, table_document(name, number))?;
        for index in [BY_ID, BY_CREATION_TIME] {
            self.add_index(number, index, &[], IndexState::Enabled)?;
        }
        Ok(self.catalog.table(number).expect("just created").clone())
    }

    fn add_index(&mut self, table: u32, name: &str, fields: &[String], state: IndexState) -> Result<IndexId> {
        let id = self.catalog.next_index_id();
        let indexes = self.catalog.table(INDEXES_TABLE).expect("bootstrap").clone();
        self.insert_document(&indexes, index_document(table, name, fields, id, state))?;
        Ok(id)
    }

    /// Creates the table `name` with the number it had where it was exported, so that the
    /// IDs of its documents (which embed the number) stay valid.
    pub fn import_table(&mut self, name: &str, number: TableNumber) -> Result<()> {
        if self.catalog.table_by_name(name).is_some() || self.catalog.table(number).is_some() || number < crate::catalog::FIRST_SYSTEM_TABLE_NUMBER {
            return Err(Error::bad_request(
                "ImportConflict",
                format!("Cannot import table \"{name}\" as number {number}: that name or number is already taken."),
            ));
        }
        self.create_table_numbered(name, number).map(|_| ())
    }

    /// Inserts a document exactly as exported, with its `_id` and `_creationTime`.
    pub fn import_document(&mut self, table: &str, mut object: Object) -> Result<DocumentId> {
        let info = self
            .catalog
            .table_by_name(table)
            .cloned()
            .ok_or_else(|| Error::bad_request("ImportConflict", format!("Cannot import into table \"{table}\": it was not declared first.")))?;
        let id = match object.remove(ID_FIELD) {
            Some(Value::String(id)) => DocumentId::decode(&id)?,
            _ => return Err(Error::bad_request("InvalidImport", format!("A document of table \"{table}\" has no string _id."))),
        };
        let creation_time = match object.remove(CREATION_TIME_FIELD) {
            Some(Value::Float64(time)) => time,
            _ => return Err(Error::bad_request("InvalidImport", format!("Document {id} has no float _creationTime."))),
        };
        if id.table_number != info.number {
            return Err(Error::bad_request("InvalidImport", format!("Document {id} belongs to table number {}, not to \"{table}\" ({}).", id.table_number, info.number)));
        }
        if self.get(id)?.is_some() {
            return Err(Error::bad_request("ImportConflict", format!("Document {id} is imported twice.")));
        }
        let document = Document::new(id, creation_time, object);
        self.check_document(&info, &document)?;
        self.buffer_write(document.key(), None, Some(document))?;
        Ok(id)
    }

    /// Creates a user index on `table` (creating the table if needed). Existing documents are
    /// backfilled when the transaction commits; until then the index serves no reads.
    pub fn create_index(&mut self, table: &str, name: &str, fields: &[String]) -> Result<IndexId> {
        hull_values::check_identifier(name)?;
        if name == BY_ID || name == BY_CREATION_TIME || name.starts_with('_') {
            return Err(Error::bad_request("InvalidIndexName", format!("Index name \"{name}\" is reserved.")));
        }
        if fields.is_empty() || fields.len() > MAX_INDEX_FIELDS {
            return Err(Error::bad_request(
                "InvalidIndexFields",
                format!("Index \"{table}.{name}\" must have between 1 and {MAX_INDEX_FIELDS} fields; it has {}.", fields.len()),
            ));
        }
        for field in fields {
            crate::document::FieldPath::parse(field)?;
            if field == ID_FIELD || field == CREATION_TIME_FIELD {
                return Err(Error::bad_request(
                    "InvalidIndexFields",
                    format!("Index \"{table}.{name}\" may not contain \"{field}\": Convex appends _creationTime and _id to every index automatically."),
                ));
            }
        }
        self.read_catalog_tables()?;
        let info = match self.catalog.table_by_name(table) {
            Some(info) => info.clone(),
            None => self.create_table(table, table.starts_with('_'))?,
        };
        if self.catalog.index_by_name(info.number, name).is_some() {
            return Err(Error::bad_request("IndexExists", format!("Index \"{table}.{name}\" already exists.")));
        }
        if self.catalog.indexes_of(info.number).count() >= MAX_INDEXES_PER_TABLE + 2 {
            return Err(Error::bad_request(
                "TooManyIndexes",
                format!("Table \"{table}\" cannot have more than {MAX_INDEXES_PER_TABLE} indexes."),
            ));
        }
        let id = self.add_index(info.number, name, fields, IndexState::Backfilling)?;
        self.created_indexes.push(id);
        Ok(id)
    }

    /// Drops the user index `name` of `table`.
    pub fn drop_index(&mut self, table: &str, name: &str) -> Result<()> {
        self.read_catalog_tables()?;
        let index = self.catalog.table_by_name(table).and_then(|t| self.catalog.index_by_name(t.number, name)).cloned();
        let Some(index) = index else {
            return Err(Error::not_found("IndexNotFound", format!("Index \"{table}.{name}\" not found.")));
        };
        if index.name == BY_ID || index.name == BY_CREATION_TIME {
            return Err(Error::bad_request("InvalidIndexName", format!("Index \"{table}.{name}\" cannot be dropped.")));
        }
        let document = index.document.expect("user indexes have a document");
        self.delete(DocumentId { table_number: INDEXES_TABLE, internal_id: document })?;
        Ok(())
    }

    /// Makes `schema` the active schema (or removes it), after checking every existing
    /// document of every table it defines. The check reads those tables whole, so a
    /// concurrent write to them makes this transaction conflict instead of slipping past.
    pub fn set_schema(&mut self, schema: Option<Schema>) -> Result<()> {
        self.read_catalog_tables()?;
        if let Some(schema) = &schema {
            let catalog = self.catalog.clone();
            for definition in schema.tables.values() {
                let Some(table) = catalog.table_by_name(&definition.name) else { continue };
                let mut stream = crate::query::QueryStream::full_table(self, table.number, Order::Asc)?;
                while let Some(document) = stream.next(self)? {
                    schema
                        .check_document(&table.name, document.object(), &|name| catalog.table_by_name(name).map(|t| t.number))
                        .map_err(|error| {
                            Error::bad_request(
                                "SchemaValidationError",
                                format!("Schema validation failed.\nDocument with ID \"{}\" in table \"{}\" does not match the schema: {}", document.id(), table.name, error.message),
                            )
                        })?;
                }
            }
        }
        if let Some(existing) = self.catalog.schema_document() {
            self.delete(DocumentId { table_number: SCHEMAS_TABLE, internal_id: existing })?;
        }
        if let Some(schema) = schema {
            let schemas = self.catalog.table(SCHEMAS_TABLE).expect("bootstrap").clone();
            let fields = Object::from([("schema".to_owned(), Value::String(schema.source.clone()))]);
            self.insert_document(&schemas, fields)?;
        }
        Ok(())
    }

    /// Replaces a system-table document by its internal id (used by the engine itself).
    pub(crate) fn replace_system(&mut self, table: u32, internal_id: [u8; 16], fields: Object) -> Result<()> {
        let id = DocumentId { table_number: table, internal_id };
        let (info, old, revision) = self.existing(id, "Replace")?;
        self.write_replacement(info, old, revision, fields)?;
        Ok(())
    }
}

fn reject_system_fields(fields: &Object) -> Result<()> {
    for name in [ID_FIELD, CREATION_TIME_FIELD] {
        if fields.contains_key(name) {
            return Err(Error::bad_request(
                "InvalidDocument",
                format!("Provided document contains the system field `{name}`, which is set by the database. Remove it from the document."),
            ));
        }
    }
    Ok(())
}

/// For `_id` / `_creationTime` in a patch or replacement: `true` (skip it) when it keeps the
/// document's own value, an error when it would change or remove it, `false` for other fields.
fn check_system_field(name: &str, value: Option<&Value>, document: &Document) -> Result<bool> {
    if name != ID_FIELD && name != CREATION_TIME_FIELD {
        return Ok(false);
    }
    if value == document.object().get(name) {
        return Ok(true);
    }
    Err(Error::bad_request(
        "InvalidDocument",
        format!("Provided update contains the system field `{name}`, which cannot be modified. Document ID: {}", document.id()),
    ))
}
