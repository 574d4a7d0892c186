//! Vector search (`ctx.vectorSearch` in actions): exact nearest neighbours by cosine
//! similarity, computed by scanning the table.
//!
//! Convex serves vector search from an approximate index; an exact scan returns the same
//! neighbours (better ones, if anything) and is fast enough up to about 10^5 vectors, which is
//! where a real index (HNSW) becomes worth its complexity. Like Convex's, it is not
//! transactional: it reads the newest snapshot and returns IDs and scores only.

use hull_errors::{Error, Result};
use hull_store::Order;
use hull_values::{DocumentId, Value};

use crate::document::FieldPath;
use crate::query::{BinaryOp, Expression, QueryStream};
use crate::Database;

/// The most results one search returns (Convex's limit).
pub const VECTOR_SEARCH_LIMIT_MAX: usize = 256;
/// Results when the query gives no `limit` (Convex's default).
pub const VECTOR_SEARCH_LIMIT_DEFAULT: usize = 10;

fn invalid(message: String) -> Error {
    Error::bad_request("InvalidVectorSearch", message)
}

/// Every field `filter` compares, checked to be among `allowed` (Convex only filters on the
/// index's filter fields, with `eq` and `or`).
fn check_filter(filter: &Expression, allowed: &[String], index: &str) -> Result<()> {
    match filter {
        Expression::Or(items) => items.iter().try_for_each(|item| check_filter(item, allowed, index)),
        Expression::Binary(BinaryOp::Eq, left, right) => match (&**left, &**right) {
            (Expression::Field(field), Expression::Literal(_)) | (Expression::Literal(_), Expression::Field(field)) => {
                if allowed.contains(&field.to_string()) {
                    Ok(())
                } else {
                    Err(invalid(format!(
                        "Vector search on {index} filters on \"{field}\", which is not one of the index's filterFields ({}).",
                        allowed.join(", ")
                    )))
                }
            }
            _ => Err(invalid(format!("Vector search filters compare a field with a value (q.eq(field, value)); see {index}."))),
        },
        _ => Err(invalid("Vector search filters may only use q.eq and q.or.".to_owned())),
    }
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 || norm_b == 0.0 { 0.0 } else { dot / (norm_a.sqrt() * norm_b.sqrt()) }
}

impl Database {
    /// The `limit` documents of `table` whose vector in index `index` is most similar to
    /// `vector` (cosine), among those matching `filter`; best first.
    pub fn vector_search(
        &self,
        table: &str,
        index: &str,
        vector: &[f64],
        limit: Option<usize>,
        filter: Option<&Expression>,
    ) -> Result<Vec<(DocumentId, f64)>> {
        let qualified = format!("{table}.{index}");
        let catalog = self.catalog();
        let definition = catalog
            .schema()
            .and_then(|schema| schema.tables.get(table))
            .and_then(|t| t.vector_indexes.iter().find(|v| v.name == index))
            .cloned()
            .ok_or_else(|| invalid(format!("Index {qualified} not found: declare it with .vectorIndex() in your schema.")))?;
        if vector.len() != definition.dimensions {
            return Err(invalid(format!("Vector search on {qualified} needs a vector of {} dimensions; got {}.", definition.dimensions, vector.len())));
        }
        let limit = limit.unwrap_or(VECTOR_SEARCH_LIMIT_DEFAULT);
        if limit == 0 || limit > VECTOR_SEARCH_LIMIT_MAX {
            return Err(invalid(format!("Vector search limit must be between 1 and {VECTOR_SEARCH_LIMIT_MAX}; got {limit}.")));
        }
        if let Some(filter) = filter {
            check_filter(filter, &definition.filter_fields, &qualified)?;
        }
        let Some(table_info) = catalog.table_by_name(table) else { return Ok(Vec::new()) };
        let field = FieldPath::parse(&definition.vector_field)?;
        let mut tx = self.begin_system();
        let mut stream = QueryStream::full_table(&mut tx, table_info.number, Order::Asc)?;
        let mut scored = Vec::new();
        while let Some(document) = stream.next(&mut tx)? {
            let Some(Value::Array(items)) = field.get(document.object()) else { continue };
            let candidate: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
            let Some(candidate) = candidate.filter(|c| c.len() == definition.dimensions) else { continue };
            if let Some(filter) = filter
                && filter.evaluate(document.object())? != Some(Value::Boolean(true))
            {
                continue;
            }
            scored.push((document.id(), cosine(vector, &candidate)));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(limit);
        Ok(scored)
    }
}
