//! Documents as the engine sees them: a Convex object with `_id` and `_creationTime`.

use std::sync::Arc;

use hull_errors::{Error, Result};
use hull_store::{DocumentKey, TableNumber};
use hull_values::{DocumentId, Object, Value};

/// The name of the system field holding a document's ID.
pub const ID_FIELD: &str = "_id";
/// The name of the system field holding a document's creation time (ms since the epoch, f64).
pub const CREATION_TIME_FIELD: &str = "_creationTime";

/// A dotted path to a (possibly nested) field, e.g. `author.name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parses `a.b.c`. Each segment must be a valid field name and not empty.
    pub fn parse(path: &str) -> Result<FieldPath> {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        for segment in &segments {
            if segment.is_empty() {
                return Err(Error::bad_request(
                    "InvalidFieldPath",
                    format!("Invalid field path '{path}': field paths may not contain empty segments."),
                ));
            }
            hull_values::check_field_name(segment)?;
        }
        Ok(FieldPath(segments))
    }

    /// The path to one top-level field.
    pub fn top_level(name: &str) -> FieldPath {
        FieldPath(vec![name.to_owned()])
    }

    /// Looks the path up in `object`; `None` (Convex's `undefined`) when any step is missing or
    /// not an object.
    pub fn get<'a>(&self, object: &'a Object) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut current = object.get(first)?;
        for segment in rest {
            current = current.as_object()?.get(segment)?;
        }
        Some(current)
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// One document: its fields including `_id` and `_creationTime`. Cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    id: DocumentId,
    object: Arc<Object>,
}

impl Document {
    /// Builds a document from user fields and its system fields. The caller has validated the
    /// user fields.
    pub fn new(id: DocumentId, creation_time: f64, mut fields: Object) -> Document {
        fields.insert(ID_FIELD.to_owned(), Value::String(id.encode()));
        fields.insert(CREATION_TIME_FIELD.to_owned(), Value::Float64(creation_time));
        Document { id, object: Arc::new(fields) }
    }

    /// The document's ID.
    pub fn id(&self) -> DocumentId {
        self.id
    }

    /// The document's identity in the store.
    pub fn key(&self) -> DocumentKey {
        DocumentKey { table: self.id.table_number, id: self.id.internal_id }
    }

    /// The document's table number.
    pub fn table(&self) -> TableNumber {
        self.id.table_number
    }

    /// The creation time in ms since the epoch.
    pub fn creation_time(&self) -> f64 {
        match self.object.get(CREATION_TIME_FIELD) {
            Some(Value::Float64(time)) => *time,
            other => unreachable!("document without a float _creationTime: {other:?}"),
        }
    }

    /// All fields, system fields included.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The user fields only (without `_id` and `_creationTime`).
    pub fn user_fields(&self) -> Object {
        let mut fields = (*self.object).clone();
        fields.remove(ID_FIELD);
        fields.remove(CREATION_TIME_FIELD);
        fields
    }

    /// The document as a Convex value.
    pub fn to_value(&self) -> Value {
        Value::Object((*self.object).clone())
    }

    /// Convex's size of the whole document (`2 + Σ(name + 1 + value)`, as for any object).
    pub fn size(&self) -> usize {
        2 + self.object.iter().map(|(name, value)| name.len() + 1 + value.size()).sum::<usize>()
    }

    /// The stored form: Convex JSON text.
    pub fn to_stored(&self) -> String {
        let fields: serde_json::Map<String, serde_json::Value> =
            self.object.iter().map(|(name, value)| (name.clone(), value.to_json())).collect();
        serde_json::Value::Object(fields).to_string()
    }

    /// Decodes the stored form, checking that it is a well-formed document with the expected ID.
    /// A failure means the store is corrupt, so it is an internal error.
    pub fn from_stored(key: DocumentKey, text: &str) -> Result<Document> {
        let corrupt = |what: &str| Error::internal("CorruptDocument", format!("stored document is corrupt: {what}"));
        let json: serde_json::Value = serde_json::from_str(text).map_err(|_| corrupt("not JSON"))?;
        let Value::Object(object) = Value::from_json(&json).map_err(|e| corrupt(&e.message))? else {
            return Err(corrupt("not an object"));
        };
        let id = match object.get(ID_FIELD) {
            Some(Value::String(id)) => DocumentId::decode(id).map_err(|_| corrupt("bad _id"))?,
            _ => return Err(corrupt("missing _id")),
        };
        if id.table_number != key.table || id.internal_id != key.id {
            return Err(corrupt("_id does not match its key"));
        }
        if !matches!(object.get(CREATION_TIME_FIELD), Some(Value::Float64(_))) {
            return Err(corrupt("missing _creationTime"));
        }
        Ok(Document { id, object: Arc::new(object) })
    }
}
