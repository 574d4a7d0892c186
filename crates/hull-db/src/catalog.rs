//! The catalog: which tables and indexes exist, and the active schema.
//!
//! The catalog is itself stored as documents in three bootstrap system tables, `_tables`,
//! `_index` and `_schemas`, whose own indexes are fixed (index ids 1–6) so the store can be
//! read before anything else is known. A transaction sees the catalog of its snapshot plus its
//! own catalog writes; the committer applies the same writes to the published catalog, so both
//! derive it the same way: [`Catalog::apply`].

use std::collections::BTreeMap;
use std::sync::Arc;

use hull_errors::{Error, Result};
use hull_store::{IndexId, InternalId, TableNumber};
use hull_values::{Object, Value};

use crate::document::{Document, FieldPath, CREATION_TIME_FIELD, ID_FIELD};
use crate::schema::Schema;

/// `_tables`: one document per table (`name`, `number`).
pub const TABLES_TABLE: TableNumber = 1;
/// `_index`: one document per index (`table`, `name`, `fields`, `indexId`, `state`).
pub const INDEXES_TABLE: TableNumber = 2;
/// `_schemas`: the active schema, at most one document (`schema`, the JSON text).
pub const SCHEMAS_TABLE: TableNumber = 3;
/// Other system tables (`_scheduled_functions`, `_storage`, …) are numbered from here, as in
/// Convex (`crates/database/src/bootstrap_model/table.rs`).
pub const FIRST_SYSTEM_TABLE_NUMBER: TableNumber = 513;
/// User tables are numbered from here, as in Convex, so IDs look the same (32 characters).
pub const FIRST_USER_TABLE_NUMBER: TableNumber = 10001;
/// Index ids below this are reserved for the bootstrap tables' fixed indexes.
pub const FIRST_ALLOCATED_INDEX_ID: u32 = 100;

/// The name of the index every table has on `_id`.
pub const BY_ID: &str = "by_id";
/// The name of the index every table has on `_creationTime` (then `_id`).
pub const BY_CREATION_TIME: &str = "by_creation_time";

/// Whether an index serves reads yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexState {
    /// Maintained by every commit, but existing documents are still being added.
    Backfilling,
    /// Complete: serves reads.
    Enabled,
}

/// One index of one table.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexInfo {
    /// The index id used in the store.
    pub id: IndexId,
    /// The `_index` document describing it (`None` for the bootstrap tables' fixed indexes).
    pub document: Option<InternalId>,
    /// The table it indexes.
    pub table: TableNumber,
    /// Its name, unique within the table.
    pub name: String,
    /// The fields the developer declared (empty for `by_id` / `by_creation_time`).
    pub declared_fields: Vec<String>,
    /// The key's fields in order, ending with `_id`: declared fields, `_creationTime`, `_id`.
    pub key_fields: Vec<FieldPath>,
    /// Whether it serves reads.
    pub state: IndexState,
}

impl IndexInfo {
    fn new(id: IndexId, document: Option<InternalId>, table: TableNumber, name: &str, declared: Vec<String>, state: IndexState) -> Result<IndexInfo> {
        let mut key_fields = declared.iter().map(|f| FieldPath::parse(f)).collect::<Result<Vec<_>>>()?;
        if name != BY_ID {
            key_fields.push(FieldPath::top_level(CREATION_TIME_FIELD));
        }
        key_fields.push(FieldPath::top_level(ID_FIELD));
        Ok(IndexInfo { id, document, table, name: name.to_owned(), declared_fields: declared, key_fields, state })
    }

    /// The encoded key of `document` in this index.
    pub fn key_of(&self, document: &Document) -> Vec<u8> {
        let values: Vec<Option<&Value>> = self.key_fields.iter().map(|path| path.get(document.object())).collect();
        hull_values::sort_key(&values)
    }
}

/// One table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// The table's name.
    pub name: String,
    /// The number embedded in its documents' IDs.
    pub number: TableNumber,
    /// The `_tables` document describing it (`None` for bootstrap tables).
    pub document: Option<InternalId>,
}

/// An immutable view of tables, indexes and schema. Cheap to clone (shared maps).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    tables: Arc<BTreeMap<TableNumber, TableInfo>>,
    table_numbers: Arc<BTreeMap<String, TableNumber>>,
    indexes: Arc<BTreeMap<IndexId, IndexInfo>>,
    /// index name by table, for lookups and the committer's per-table index list.
    indexes_by_table: Arc<BTreeMap<TableNumber, BTreeMap<String, IndexId>>>,
    schema: Option<(InternalId, Arc<Schema>)>,
}

impl Catalog {
    /// The catalog of an empty store: just the bootstrap tables.
    pub fn bootstrap() -> Catalog {
        let mut tables = BTreeMap::new();
        let mut indexes = BTreeMap::new();
        for (number, name) in [(TABLES_TABLE, "_tables"), (INDEXES_TABLE, "_index"), (SCHEMAS_TABLE, "_schemas")] {
            tables.insert(number, TableInfo { name: name.to_owned(), number, document: None });
            let by_id = IndexId(number * 2 - 1);
            let by_creation_time = IndexId(number * 2);
            indexes.insert(by_id, IndexInfo::new(by_id, None, number, BY_ID, vec![], IndexState::Enabled).expect("valid"));
            indexes.insert(
                by_creation_time,
                IndexInfo::new(by_creation_time, None, number, BY_CREATION_TIME, vec![], IndexState::Enabled).expect("valid"),
            );
        }
        let mut catalog = Catalog { tables: Arc::new(tables), indexes: Arc::new(indexes), ..Catalog::default() };
        catalog.rebuild_lookups();
        catalog
    }

    fn rebuild_lookups(&mut self) {
        self.table_numbers = Arc::new(self.tables.values().map(|t| (t.name.clone(), t.number)).collect());
        let mut by_table: BTreeMap<TableNumber, BTreeMap<String, IndexId>> = BTreeMap::new();
        for index in self.indexes.values() {
            by_table.entry(index.table).or_default().insert(index.name.clone(), index.id);
        }
        self.indexes_by_table = Arc::new(by_table);
    }

    /// The table called `name`.
    pub fn table_by_name(&self, name: &str) -> Option<&TableInfo> {
        self.table_numbers.get(name).and_then(|number| self.tables.get(number))
    }

    /// The table numbered `number`.
    pub fn table(&self, number: TableNumber) -> Option<&TableInfo> {
        self.tables.get(&number)
    }

    /// Every table.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values()
    }

    /// The index `id`.
    pub fn index(&self, id: IndexId) -> Option<&IndexInfo> {
        self.indexes.get(&id)
    }

    /// The index called `name` on table `table`.
    pub fn index_by_name(&self, table: TableNumber, name: &str) -> Option<&IndexInfo> {
        self.indexes_by_table.get(&table)?.get(name).and_then(|id| self.indexes.get(id))
    }

    /// Every index of `table` (enabled or backfilling): those every write must maintain.
    pub fn indexes_of(&self, table: TableNumber) -> impl Iterator<Item = &IndexInfo> {
        self.indexes_by_table.get(&table).into_iter().flat_map(|m| m.values()).filter_map(|id| self.indexes.get(id))
    }

    /// Every index.
    pub fn indexes(&self) -> impl Iterator<Item = &IndexInfo> {
        self.indexes.values()
    }

    /// The active schema, if any.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.schema.as_ref().map(|(_, schema)| schema)
    }

    /// The `_schemas` document holding the active schema.
    pub fn schema_document(&self) -> Option<InternalId> {
        self.schema.as_ref().map(|(id, _)| *id)
    }

    /// The next free number for a user table (or a system table, when `system`).
    pub fn next_table_number(&self, system: bool) -> TableNumber {
        let (first, last) = if system { (FIRST_SYSTEM_TABLE_NUMBER, FIRST_USER_TABLE_NUMBER - 1) } else { (FIRST_USER_TABLE_NUMBER, u32::MAX) };
        self.tables.range(first..=last).next_back().map_or(first, |(number, _)| number + 1)
    }

    /// The next free index id.
    pub fn next_index_id(&self) -> IndexId {
        IndexId(self.indexes.keys().next_back().map_or(FIRST_ALLOCATED_INDEX_ID, |id| id.0 + 1).max(FIRST_ALLOCATED_INDEX_ID))
    }

    /// True when a write to `table` changes the catalog.
    pub fn is_catalog_table(table: TableNumber) -> bool {
        matches!(table, TABLES_TABLE | INDEXES_TABLE | SCHEMAS_TABLE)
    }

    /// Applies one write to a catalog table (`old` → `new`) and returns the new catalog.
    pub fn apply(&self, old: Option<&Document>, new: Option<&Document>) -> Result<Catalog> {
        let table = new.or(old).expect("a write has an old or a new document").table();
        debug_assert!(Catalog::is_catalog_table(table));
        let mut next = self.clone();
        match table {
            TABLES_TABLE => {
                let tables = Arc::make_mut(&mut next.tables);
                if let Some(old) = old {
                    tables.retain(|_, t| t.document != Some(old.key().id));
                }
                if let Some(new) = new {
                    let fields = new.object();
                    let info = TableInfo { name: string_field(fields, "name")?, number: int_field(fields, "number")? as TableNumber, document: Some(new.key().id) };
                    tables.insert(info.number, info);
                }
            }
            INDEXES_TABLE => {
                let indexes = Arc::make_mut(&mut next.indexes);
                if let Some(old) = old {
                    indexes.retain(|_, i| i.document != Some(old.key().id));
                }
                if let Some(new) = new {
                    let fields = new.object();
                    let declared = match fields.get("fields") {
                        Some(Value::Array(items)) => items.iter().map(|f| f.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>(),
                        _ => None,
                    }
                    .ok_or_else(|| corrupt("_index.fields"))?;
                    let state = match string_field(fields, "state")?.as_str() {
                        "backfilling" => IndexState::Backfilling,
                        "enabled" => IndexState::Enabled,
                        _ => return Err(corrupt("_index.state")),
                    };
                    let id = IndexId(int_field(fields, "indexId")? as u32);
                    let info = IndexInfo::new(id, Some(new.key().id), int_field(fields, "table")? as TableNumber, &string_field(fields, "name")?, declared, state)?;
                    indexes.insert(id, info);
                }
            }
            SCHEMAS_TABLE => {
                next.schema = match new {
                    Some(new) => Some((new.key().id, Arc::new(Schema::parse(&string_field(new.object(), "schema")?)?))),
                    None => None,
                };
            }
            _ => unreachable!("not a catalog table"),
        }
        next.rebuild_lookups();
        Ok(next)
    }
}

/// The fields of a `_tables` document.
pub fn table_document(name: &str, number: TableNumber) -> Object {
    Object::from([("name".to_owned(), Value::String(name.to_owned())), ("number".to_owned(), Value::Int64(number.into()))])
}

/// The fields of an `_index` document.
pub fn index_document(table: TableNumber, name: &str, fields: &[String], id: IndexId, state: IndexState) -> Object {
    let state = match state {
        IndexState::Backfilling => "backfilling",
        IndexState::Enabled => "enabled",
    };
    Object::from([
        ("table".to_owned(), Value::Int64(table.into())),
        ("name".to_owned(), Value::String(name.to_owned())),
        ("fields".to_owned(), Value::Array(fields.iter().map(|f| Value::String(f.clone())).collect())),
        ("indexId".to_owned(), Value::Int64(id.0.into())),
        ("state".to_owned(), Value::String(state.to_owned())),
    ])
}

fn corrupt(what: &str) -> Error {
    Error::internal("CorruptCatalog", format!("catalog document is corrupt: {what}"))
}

fn string_field(object: &Object, name: &str) -> Result<String> {
    object.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| corrupt(name))
}

fn int_field(object: &Object, name: &str) -> Result<i64> {
    match object.get(name) {
        Some(Value::Int64(n)) => Ok(*n),
        _ => Err(corrupt(name)),
    }
}
