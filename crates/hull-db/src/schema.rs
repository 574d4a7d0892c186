//! Schemas and validators, in the JSON form `defineSchema(...).export()` produces.
//!
//! A [`Schema`] lists tables with their document validator and indexes. When a schema is
//! active and has `schemaValidation: true`, every document written to a table it defines must
//! match that table's validator; tables it does not define are unconstrained (as in Convex).

use std::collections::BTreeMap;

use hull_errors::{Error, Result};
use hull_store::TableNumber;
use hull_values::{DocumentId, Object, Value};

use crate::document::{CREATION_TIME_FIELD, ID_FIELD};

/// A validator, as `v.*` builders serialize them (`ValidatorJSON` in convex/values).
#[derive(Clone, Debug, PartialEq)]
pub enum Validator {
    /// `v.null()`
    Null,
    /// `v.number()` / `v.float64()` (serialized as `number`)
    Float64,
    /// `v.int64()` / `v.bigint()` (serialized as `bigint`)
    Int64,
    /// `v.boolean()`
    Boolean,
    /// `v.string()`
    String,
    /// `v.bytes()`
    Bytes,
    /// `v.any()`
    Any,
    /// `v.literal(x)`
    Literal(Value),
    /// `v.id("table")`
    Id(String),
    /// `v.array(v)`
    Array(Box<Validator>),
    /// `v.record(keys, values)`
    Record(Box<Validator>, Box<Validator>),
    /// `v.object({...})`: field name -> (validator, optional)
    Object(BTreeMap<String, (Validator, bool)>),
    /// `v.union(...)`
    Union(Vec<Validator>),
}

fn invalid(message: impl Into<String>) -> Error {
    Error::bad_request("InvalidSchema", message)
}

impl Validator {
    /// Parses a `ValidatorJSON`.
    pub fn from_json(json: &serde_json::Value) -> Result<Validator> {
        let kind = json.get("type").and_then(|t| t.as_str()).ok_or_else(|| invalid(format!("validator without a type: {json}")))?;
        let value = || json.get("value").ok_or_else(|| invalid(format!("validator {kind} without a value")));
        Ok(match kind {
            "null" => Validator::Null,
            "number" | "float64" => Validator::Float64,
            "bigint" | "int64" => Validator::Int64,
            "boolean" => Validator::Boolean,
            "string" => Validator::String,
            "bytes" => Validator::Bytes,
            "any" => Validator::Any,
            "literal" => Validator::Literal(Value::from_json(value()?)?),
            "id" => Validator::Id(
                json.get("tableName").and_then(|t| t.as_str()).ok_or_else(|| invalid("v.id without tableName"))?.to_owned(),
            ),
            "array" => Validator::Array(Box::new(Validator::from_json(value()?)?)),
            "record" => {
                let keys = json.get("keys").ok_or_else(|| invalid("v.record without keys"))?;
                let values = json
                    .get("values")
                    .and_then(|v| v.get("fieldType"))
                    .ok_or_else(|| invalid("v.record without values"))?;
                Validator::Record(Box::new(Validator::from_json(keys)?), Box::new(Validator::from_json(values)?))
            }
            "object" => {
                let fields = value()?.as_object().ok_or_else(|| invalid("v.object value is not an object"))?;
                let mut parsed = BTreeMap::new();
                for (name, field) in fields {
                    let field_type = field.get("fieldType").ok_or_else(|| invalid(format!("field {name} without fieldType")))?;
                    let optional = field.get("optional").and_then(|o| o.as_bool()).unwrap_or(false);
                    parsed.insert(name.clone(), (Validator::from_json(field_type)?, optional));
                }
                Validator::Object(parsed)
            }
            "union" => {
                let members = value()?.as_array().ok_or_else(|| invalid("v.union value is not an array"))?;
                Validator::Union(members.iter().map(Validator::from_json).collect::<Result<_>>()?)
            }
            other => return Err(invalid(format!("unknown validator type '{other}'"))),
        })
    }

    /// Checks `value`, returning why it does not match in Convex's words (the text after
    /// `ArgumentValidationError: ` or inside a schema error): `Value does not match
    /// validator.` with the path, value and validator, or a missing or extra object field.
    ///
    /// `table_number` resolves a table name for `v.id` checks.
    pub fn check(&self, value: &Value, table_number: &dyn Fn(&str) -> Option<TableNumber>) -> std::result::Result<(), String> {
        check(self, value, table_number, &mut Vec::new())
    }
}

fn path_line(path: &[String]) -> String {
    if path.is_empty() { String::new() } else { format!("Path: {}", path.concat()) }
}

fn mismatch(validator: &Validator, value: &Value, path: &[String]) -> String {
    format!("Value does not match validator.\n{}\nValue: {}\nValidator: {}", path_line(path), display_value(value), validator)
}

type TableLookup<'a> = &'a dyn Fn(&str) -> Option<TableNumber>;

fn check(validator: &Validator, value: &Value, tables: TableLookup<'_>, path: &mut Vec<String>) -> std::result::Result<(), String> {
    match (validator, value) {
        (Validator::Any, _) => Ok(()),
        (Validator::Null, Value::Null)
        | (Validator::Float64, Value::Float64(_))
        | (Validator::Int64, Value::Int64(_))
        | (Validator::Boolean, Value::Boolean(_))
        | (Validator::String, Value::String(_))
        | (Validator::Bytes, Value::Bytes(_)) => Ok(()),
        (Validator::Literal(expected), actual) if expected == actual => Ok(()),
        (Validator::Id(table), Value::String(id)) => match (DocumentId::decode(id), tables(table)) {
            (Ok(id), Some(number)) if id.table_number == number => Ok(()),
            _ => Err(mismatch(validator, value, path)),
        },
        (Validator::Array(element), Value::Array(items)) => {
            for (position, item) in items.iter().enumerate() {
                path.push(format!("[{position}]"));
                check(element, item, tables, path)?;
                path.pop();
            }
            Ok(())
        }
        (Validator::Record(keys, values), Value::Object(object)) => {
            for (name, item) in object {
                path.push(format!(".{name}"));
                check(keys, &Value::String(name.clone()), tables, path)?;
                check(values, item, tables, path)?;
                path.pop();
            }
            Ok(())
        }
        (Validator::Object(fields), Value::Object(object)) => check_object(validator, fields, object, tables, path),
        (Validator::Union(members), _) => {
            if members.iter().any(|member| check(member, value, tables, &mut path.clone()).is_ok()) {
                Ok(())
            } else {
                Err(mismatch(validator, value, path))
            }
        }
        _ => Err(mismatch(validator, value, path)),
    }
}

fn check_object(
    validator: &Validator,
    fields: &BTreeMap<String, (Validator, bool)>,
    object: &Object,
    tables: TableLookup<'_>,
    path: &mut Vec<String>,
) -> std::result::Result<(), String> {
    let context = |head: String, path: &[String]| {
        format!("{head}\n{}\nObject: {}\nValidator: {}", path_line(path), display_value(&Value::Object(object.clone())), validator)
    };
    for (name, (field_validator, optional)) in fields {
        match object.get(name) {
            None if *optional => {}
            None => {
                return Err(context(
                    format!("Object is missing the required field `{name}`. Consider wrapping the field validator in `v.optional(...)` if this is expected."),
                    path,
                ));
            }
            Some(value) => {
                path.push(format!(".{name}"));
                check(field_validator, value, tables, path)?;
                path.pop();
            }
        }
    }
    if let Some(extra) = object.keys().find(|name| !fields.contains_key(*name)) {
        return Err(context(format!("Object contains extra field `{extra}` that is not in the validator."), path));
    }
    Ok(())
}

/// Formats a value the way Convex's error messages do (JavaScript-like).
pub fn display_value(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    if out.len() > 2000 {
        let cut = out.floor_char_boundary(2000);
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int64(i) => out.push_str(&format!("{i}n")),
        Value::Float64(f) => out.push_str(&format_number(*f)),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        Value::Bytes(b) => out.push_str(&format!("ArrayBuffer({})", b.len())),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (name, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A number as JavaScript's `String(n)` prints it (for the common cases).
pub fn format_number(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if f == 0.0 {
        if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        }
    } else {
        format!("{f}")
    }
}


impl std::fmt::Display for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Validator::Null => f.write_str("v.null()"),
            Validator::Float64 => f.write_str("v.float64()"),
            Validator::Int64 => f.write_str("v.int64()"),
            Validator::Boolean => f.write_str("v.boolean()"),
            Validator::String => f.write_str("v.string()"),
            Validator::Bytes => f.write_str("v.bytes()"),
            Validator::Any => f.write_str("v.any()"),
            Validator::Literal(value) => write!(f, "v.literal({})", value.to_json()),
            Validator::Id(table) => write!(f, "v.id(\"{table}\")"),
            Validator::Array(element) => write!(f, "v.array({element})"),
            Validator::Record(keys, values) => write!(f, "v.record({keys}, {values})"),
            Validator::Object(fields) => {
                f.write_str("v.object({")?;
                for (position, (name, (validator, optional))) in fields.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    if *optional { write!(f, "{name}: v.optional({validator})")? } else { write!(f, "{name}: {validator}")? }
                }
                f.write_str("})")
            }
            Validator::Union(members) => {
                f.write_str("v.union(")?;
                for (position, member) in members.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{member}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// One index declared in a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDefinition {
    /// The index name (`indexDescriptor`).
    pub name: String,
    /// The declared fields, in order.
    pub fields: Vec<String>,
}

/// One table declared in a schema.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDefinition {
    /// The table name.
    pub name: String,
    /// The document validator.
    pub document_type: Validator,
    /// Database indexes (not search or vector indexes).
    pub indexes: Vec<IndexDefinition>,
    /// Vector indexes (`.vectorIndex(name, {vectorField, dimensions, filterFields})`).
    pub vector_indexes: Vec<VectorIndexDefinition>,
}

/// One vector index declared in a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorIndexDefinition {
    /// The index name (`indexDescriptor`).
    pub name: String,
    /// The field holding the vector (an array of float64).
    pub vector_field: String,
    /// The vectors' length.
    pub dimensions: usize,
    /// Fields a search may filter on with equality.
    pub filter_fields: Vec<String>,
}

/// Vector dimensions Convex allows (`vectorIndex` docs: 2 to 4096).
pub const VECTOR_DIMENSIONS_MIN: usize = 2;
/// See [`VECTOR_DIMENSIONS_MIN`].
pub const VECTOR_DIMENSIONS_MAX: usize = 4096;

/// A deployment's schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// Tables by name.
    pub tables: BTreeMap<String, TableDefinition>,
    /// Whether documents are validated on write.
    pub schema_validation: bool,
    /// The JSON it was parsed from, kept verbatim so it can be stored and reported.
    pub source: String,
}

impl Schema {
    /// Parses the JSON text `defineSchema(...).export()` returns.
    pub fn parse(source: &str) -> Result<Schema> {
        let json: serde_json::Value = serde_json::from_str(source).map_err(|e| invalid(format!("schema is not JSON: {e}")))?;
        let tables_json = json.get("tables").and_then(|t| t.as_array()).ok_or_else(|| invalid("schema without tables"))?;
        let mut tables = BTreeMap::new();
        for table in tables_json {
            let name = table.get("tableName").and_then(|n| n.as_str()).ok_or_else(|| invalid("table without tableName"))?;
            hull_values::check_identifier(name)?;
            let document_type =
                Validator::from_json(table.get("documentType").ok_or_else(|| invalid(format!("table {name} without documentType")))?)?;
            let mut indexes = Vec::new();
            for index in table.get("indexes").and_then(|i| i.as_array()).into_iter().flatten() {
                let index_name =
                    index.get("indexDescriptor").and_then(|n| n.as_str()).ok_or_else(|| invalid("index without indexDescriptor"))?;
                let fields = index
                    .get("fields")
                    .and_then(|f| f.as_array())
                    .ok_or_else(|| invalid(format!("index {index_name} without fields")))?
                    .iter()
                    .map(|f| f.as_str().map(str::to_owned).ok_or_else(|| invalid("index field is not a string")))
                    .collect::<Result<Vec<_>>>()?;
                indexes.push(IndexDefinition { name: index_name.to_owned(), fields });
            }
            let mut vector_indexes = Vec::new();
            for index in table.get("vectorIndexes").and_then(|i| i.as_array()).into_iter().flatten() {
                let index_name =
                    index.get("indexDescriptor").and_then(|n| n.as_str()).ok_or_else(|| invalid("vector index without indexDescriptor"))?;
                let vector_field = index.get("vectorField").and_then(|f| f.as_str()).ok_or_else(|| invalid(format!("vector index {index_name} without vectorField")))?;
                let dimensions = index
                    .get("dimensions")
                    .and_then(|d| d.as_u64())
                    .map(|d| d as usize)
                    .filter(|d| (VECTOR_DIMENSIONS_MIN..=VECTOR_DIMENSIONS_MAX).contains(d))
                    .ok_or_else(|| invalid(format!("vector index {index_name}: dimensions must be between {VECTOR_DIMENSIONS_MIN} and {VECTOR_DIMENSIONS_MAX}")))?;
                let filter_fields = index
                    .get("filterFields")
                    .and_then(|f| f.as_array())
                    .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                vector_indexes.push(VectorIndexDefinition { name: index_name.to_owned(), vector_field: vector_field.to_owned(), dimensions, filter_fields });
            }
            if tables.insert(name.to_owned(), TableDefinition { name: name.to_owned(), document_type, indexes, vector_indexes }).is_some() {
                return Err(invalid(format!("table {name} is defined twice")));
            }
        }
        let schema_validation = json.get("schemaValidation").and_then(|v| v.as_bool()).unwrap_or(true);
        Ok(Schema { tables, schema_validation, source: source.to_owned() })
    }

    /// Checks a document (system fields included) written to `table` against the schema.
    pub fn check_document(
        &self,
        table: &str,
        document: &Object,
        table_number: &dyn Fn(&str) -> Option<TableNumber>,
    ) -> Result<()> {
        if !self.schema_validation {
            return Ok(());
        }
        let Some(definition) = self.tables.get(table) else { return Ok(()) };
        let mut user_fields = document.clone();
        user_fields.remove(ID_FIELD);
        user_fields.remove(CREATION_TIME_FIELD);
        // A table defined with a non-object validator (e.g. a union of objects) is checked whole.
        definition.document_type.check(&Value::Object(user_fields.clone()), table_number).map_err(|reason| {
            Error::bad_request(
                "SchemaValidationError",
                format!(
                    "Failed to insert or update a document in table \"{table}\" because it does not match the schema: {reason}\n\nObject: {}\nValidator: {}",
                    display_value(&Value::Object(user_fields)),
                    definition.document_type
                ),
            )
        })
    }
}
