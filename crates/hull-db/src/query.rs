//! The query engine: the serialized queries `ctx.db.query(...)` produces, executed as streams
//! over one index range with filters and limits, plus cursor pagination.
//!
//! A stream merges the snapshot's index entries (paged from persistence) with the
//! transaction's own writes, and records as read exactly the key interval it consumed: a
//! `take(5)` depends on the first five keys, not on the whole table.

use std::collections::{BTreeMap, VecDeque};

use base64::Engine;
use hull_errors::{Error, Result};
use hull_store::{successor, prefix_end, IndexId, KeyRange, Order, TableNumber};
use hull_values::Value;

use crate::catalog::{IndexInfo, IndexState, BY_CREATION_TIME, BY_ID, TABLES_TABLE};
use crate::document::{Document, FieldPath};
use crate::limits::{MAX_QUERY_OPERATORS, PAGE_SPLIT_RECOMMENDED_BYTES, PAGE_SPLIT_RECOMMENDED_ROWS, QUERY_FIRST_PAGE_ROWS, QUERY_PAGE_ROWS};
use crate::transaction::Transaction;

fn invalid_query(message: impl Into<String>) -> Error {
    Error::bad_request("InvalidQuery", message)
}

/// A comparison in an index range expression (`q.eq`, `q.gt`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    /// `eq`
    Eq,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
}

/// One bound of an index range; `value: None` is `undefined` (a missing field).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeExpression {
    /// The comparison.
    pub op: RangeOp,
    /// The index field compared.
    pub field: String,
    /// The value compared with.
    pub value: Option<Value>,
}

/// Where a query's documents come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Every document of a table, by creation time.
    FullTableScan {
        /// The table.
        table: String,
        /// The order.
        order: Order,
    },
    /// A range of an index.
    IndexRange {
        /// The table.
        table: String,
        /// The index name within the table.
        index: String,
        /// The range, a chain of `eq` then at most one lower and one upper bound.
        range: Vec<RangeExpression>,
        /// The order.
        order: Order,
    },
}

/// A binary operator of the filter language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `$eq`
    Eq,
    /// `$neq`
    Neq,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
    /// `$add`
    Add,
    /// `$sub`
    Sub,
    /// `$mul`
    Mul,
    /// `$div`
    Div,
    /// `$mod`
    Mod,
}

/// A filter expression (`q` in `.filter(q => ...)`).
#[derive(Clone, Debug, PartialEq)]
pub enum Expression {
    /// A binary operation.
    Binary(BinaryOp, Box<Expression>, Box<Expression>),
    /// `$neg`
    Neg(Box<Expression>),
    /// `$not`
    Not(Box<Expression>),
    /// `$and`
    And(Vec<Expression>),
    /// `$or`
    Or(Vec<Expression>),
    /// `$field`: a document field (`None` when missing).
    Field(FieldPath),
    /// `$literal` (`None` is `undefined`).
    Literal(Option<Value>),
}

/// A step applied to the stream, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Operator {
    /// Keep documents for which the expression is `true`.
    Filter(Expression),
    /// Stop after this many documents reach this point.
    Limit(usize),
}

/// A query: a source and operators.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The source.
    pub source: Source,
    /// The operators, in call order.
    pub operators: Vec<Operator>,
}

/// Decodes a literal that may be `{"$undefined": null}`.
fn optional_value(json: &serde_json::Value) -> Result<Option<Value>> {
    if let Some(object) = json.as_object()
        && object.len() == 1 && object.contains_key("$undefined") {
            return Ok(None);
        }
    Value::from_json(json).map(Some)
}

fn parse_order(json: Option<&serde_json::Value>) -> Result<Order> {
    match json.and_then(|o| o.as_str()) {
        None | Some("asc") => Ok(Order::Asc),
        Some("desc") => Ok(Order::Desc),
        Some(other) => Err(invalid_query(format!("invalid order \"{other}\""))),
    }
}

fn split_index_name(name: &str) -> Result<(String, String)> {
    name.split_once('.')
        .map(|(table, index)| (table.to_owned(), index.to_owned()))
        .ok_or_else(|| invalid_query(format!("invalid index name \"{name}\": expected \"<table>.<index>\"")))
}

impl Query {
    /// Parses the JSON `ctx.db.query(...)` serializes (convex-runtime-abi.md section 4).
    pub fn from_json(json: &serde_json::Value) -> Result<Query> {
        let source = json.get("source").ok_or_else(|| invalid_query("query without a source"))?;
        let field = |name: &str| source.get(name).and_then(|v| v.as_str()).ok_or_else(|| invalid_query(format!("query source without {name}")));
        let source = match source.get("type").and_then(|t| t.as_str()) {
            Some("FullTableScan") => Source::FullTableScan { table: field("tableName")?.to_owned(), order: parse_order(source.get("order"))? },
            Some("IndexRange") => {
                let (table, index) = split_index_name(field("indexName")?)?;
                let mut range = Vec::new();
                for bound in source.get("range").and_then(|r| r.as_array()).ok_or_else(|| invalid_query("index range without range"))? {
                    let op = match bound.get("type").and_then(|t| t.as_str()) {
                        Some("Eq") => RangeOp::Eq,
                        Some("Gt") => RangeOp::Gt,
                        Some("Gte") => RangeOp::Gte,
                        Some("Lt") => RangeOp::Lt,
                        Some("Lte") => RangeOp::Lte,
                        other => return Err(invalid_query(format!("invalid range type {other:?}"))),
                    };
                    let field = bound.get("fieldPath").and_then(|f| f.as_str()).ok_or_else(|| invalid_query("range without fieldPath"))?;
                    let value = optional_value(bound.get("value").ok_or_else(|| invalid_query("range without value"))?)?;
                    range.push(RangeExpression { op, field: field.to_owned(), value });
                }
                Source::IndexRange { table, index, range, order: parse_order(source.get("order"))? }
            }
            Some("Search") => {
                return Err(Error::bad_request("SearchNotSupported", "Text search queries (`.withSearchIndex`) are not supported by this Hull version yet."));
            }
            other => return Err(invalid_query(format!("invalid query source type {other:?}"))),
        };
        let mut operators = Vec::new();
        for operator in json.get("operators").and_then(|o| o.as_array()).map(Vec::as_slice).unwrap_or_default() {
            if let Some(filter) = operator.get("filter") {
                operators.push(Operator::Filter(Expression::from_json(filter)?));
            } else if let Some(limit) = operator.get("limit") {
                let limit = limit.as_f64().filter(|l| *l >= 0.0 && l.fract() == 0.0).ok_or_else(|| invalid_query("limit must be a non-negative integer"))?;
                operators.push(Operator::Limit(limit as usize));
            } else {
                return Err(invalid_query(format!("invalid query operator {operator}")));
            }
        }
        if operators.len() > MAX_QUERY_OPERATORS {
            return Err(invalid_query(format!("A query may have at most {MAX_QUERY_OPERATORS} operators (filters and limits); this one has {}.", operators.len())));
        }
        Ok(Query { source, operators })
    }
}

impl Expression {
    /// Parses a filter expression.
    pub fn from_json(json: &serde_json::Value) -> Result<Expression> {
        let object = json.as_object().filter(|o| o.len() == 1).ok_or_else(|| invalid_query(format!("invalid filter expression {json}")))?;
        let (op, arguments) = object.iter().next().expect("one entry");
        let pair = |arguments: &serde_json::Value| -> Result<(Box<Expression>, Box<Expression>)> {
            match arguments.as_array().map(Vec::as_slice) {
                Some([left, right]) => Ok((Box::new(Expression::from_json(left)?), Box::new(Expression::from_json(right)?))),
                _ => Err(invalid_query(format!("{op} takes two arguments"))),
            }
        };
        let list = |arguments: &serde_json::Value| -> Result<Vec<Expression>> {
            arguments.as_array().ok_or_else(|| invalid_query(format!("{op} takes a list")))?.iter().map(Expression::from_json).collect()
        };
        let binary = |kind| pair(arguments).map(|(l, r)| Expression::Binary(kind, l, r));
        match op.as_str() {
            "$eq" => binary(BinaryOp::Eq),
            "$neq" => binary(BinaryOp::Neq),
            "$lt" => binary(BinaryOp::Lt),
            "$lte" => binary(BinaryOp::Lte),
            "$gt" => binary(BinaryOp::Gt),
            "$gte" => binary(BinaryOp::Gte),
            "$add" => binary(BinaryOp::Add),
            "$sub" => binary(BinaryOp::Sub),
            "$mul" => binary(BinaryOp::Mul),
            "$div" => binary(BinaryOp::Div),
            "$mod" => binary(BinaryOp::Mod),
            "$neg" => Ok(Expression::Neg(Box::new(Expression::from_json(arguments)?))),
            "$not" => Ok(Expression::Not(Box::new(Expression::from_json(arguments)?))),
            "$and" => Ok(Expression::And(list(arguments)?)),
            "$or" => Ok(Expression::Or(list(arguments)?)),
            "$field" => Ok(Expression::Field(FieldPath::parse(arguments.as_str().ok_or_else(|| invalid_query("$field takes a string"))?)?)),
            "$literal" => Ok(Expression::Literal(optional_value(arguments)?)),
            other => Err(invalid_query(format!("unknown filter operator {other}"))),
        }
    }

    /// Evaluates the expression against a document.
    pub fn evaluate(&self, document: &hull_values::Object) -> Result<Option<Value>> {
        Ok(match self {
            Expression::Field(path) => path.get(document).cloned(),
            Expression::Literal(value) => value.clone(),
            Expression::Not(inner) => Some(Value::Boolean(!as_bool(inner.evaluate(document)?, "$not")?)),
            // Both short-circuit, so a later operand is only evaluated when it matters.
            Expression::And(items) => {
                for item in items {
                    if !as_bool(item.evaluate(document)?, "$and")? {
                        return Ok(Some(Value::Boolean(false)));
                    }
                }
                Some(Value::Boolean(true))
            }
            Expression::Or(items) => {
                for item in items {
                    if as_bool(item.evaluate(document)?, "$or")? {
                        return Ok(Some(Value::Boolean(true)));
                    }
                }
                Some(Value::Boolean(false))
            }
            Expression::Neg(inner) => Some(match inner.evaluate(document)? {
                Some(Value::Int64(n)) => Value::Int64(n.wrapping_neg()),
                Some(Value::Float64(n)) => Value::Float64(-n),
                other => return Err(type_error("$neg", &other, &None)),
            }),
            Expression::Binary(op, left, right) => {
                let (left, right) = (left.evaluate(document)?, right.evaluate(document)?);
                match op {
                    // Convex compares across types with its total order; undefined sorts first.
                    BinaryOp::Eq => Some(Value::Boolean(left == right)),
                    BinaryOp::Neq => Some(Value::Boolean(left != right)),
                    BinaryOp::Lt => Some(Value::Boolean(left < right)),
                    BinaryOp::Lte => Some(Value::Boolean(left <= right)),
                    BinaryOp::Gt => Some(Value::Boolean(left > right)),
                    BinaryOp::Gte => Some(Value::Boolean(left >= right)),
                    arithmetic => Some(arithmetic_op(*arithmetic, &left, &right)?),
                }
            }
        })
    }
}

fn as_bool(value: Option<Value>, op: &str) -> Result<bool> {
    match value {
        Some(Value::Boolean(b)) => Ok(b),
        other => Err(Error::bad_request("InvalidFilter", format!("{op} expects boolean operands, got {}", type_of(&other)))),
    }
}

fn type_of(value: &Option<Value>) -> &'static str {
    value.as_ref().map_or("undefined", Value::type_name)
}

fn type_error(op: &str, left: &Option<Value>, right: &Option<Value>) -> Error {
    Error::bad_request(
        "InvalidFilter",
        format!("{op} requires two numbers of the same type (both float64 or both int64); got {} and {}", type_of(left), type_of(right)),
    )
}

fn arithmetic_op(op: BinaryOp, left: &Option<Value>, right: &Option<Value>) -> Result<Value> {
    let name = match op {
        BinaryOp::Add => "$add",
        BinaryOp::Sub => "$sub",
        BinaryOp::Mul => "$mul",
        BinaryOp::Div => "$div",
        _ => "$mod",
    };
    match (left, right) {
        (Some(Value::Int64(a)), Some(Value::Int64(b))) => {
            let (a, b) = (*a, *b);
            if matches!(op, BinaryOp::Div | BinaryOp::Mod) && b == 0 {
                return Err(Error::bad_request("InvalidFilter", format!("{name}: division by zero")));
            }
            Ok(Value::Int64(match op {
                BinaryOp::Add => a.wrapping_add(b),
                BinaryOp::Sub => a.wrapping_sub(b),
                BinaryOp::Mul => a.wrapping_mul(b),
                BinaryOp::Div => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            }))
        }
        (Some(Value::Float64(a)), Some(Value::Float64(b))) => Ok(Value::Float64(match op {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            _ => a % b,
        })),
        _ => Err(type_error(name, left, right)),
    }
}

/// Turns a range expression chain into a key interval of `index`.
pub fn index_range(index: &IndexInfo, table: &str, range: &[RangeExpression]) -> Result<KeyRange> {
    let mut prefix = Vec::new();
    let mut position = 0;
    let mut lower: Option<(bool, Option<Value>)> = None; // (inclusive, value)
    let mut upper: Option<(bool, Option<Value>)> = None;
    let mut bound_field: Option<&str> = None;
    for expression in range {
        let expected = index.key_fields.get(position).map(|f| f.to_string());
        match expression.op {
            RangeOp::Eq => {
                if bound_field.is_some() || expected.as_deref() != Some(expression.field.as_str()) {
                    return Err(range_order_error(index, table, &expression.field, expected));
                }
                hull_values::write_sort_key(expression.value.as_ref(), &mut prefix);
                position += 1;
            }
            op => {
                let field_ok = match bound_field {
                    Some(field) => field == expression.field,
                    None => expected.as_deref() == Some(expression.field.as_str()),
                };
                if !field_ok {
                    return Err(range_order_error(index, table, &expression.field, expected));
                }
                bound_field = Some(&expression.field);
                let slot = if matches!(op, RangeOp::Gt | RangeOp::Gte) { &mut lower } else { &mut upper };
                if slot.is_some() {
                    return Err(invalid_query(format!("Index range on {table}.{} has two {} bounds on \"{}\".", index.name, if matches!(op, RangeOp::Gt | RangeOp::Gte) { "lower" } else { "upper" }, expression.field)));
                }
                *slot = Some((matches!(op, RangeOp::Gte | RangeOp::Lte), expression.value.clone()));
            }
        }
    }
    let with = |value: &Option<Value>| {
        let mut key = prefix.clone();
        hull_values::write_sort_key(value.as_ref(), &mut key);
        key
    };
    let start = match &lower {
        None => prefix.clone(),
        Some((true, value)) => with(value),
        Some((false, value)) => match prefix_end(&with(value)) {
            Some(end) => end,
            None => return Ok(KeyRange { start: vec![0xFF; 1], end: Some(vec![0xFF; 1]) }),
        },
    };
    let end = match &upper {
        None => prefix_end(&prefix),
        Some((false, value)) => Some(with(value)),
        Some((true, value)) => prefix_end(&with(value)),
    };
    Ok(KeyRange { start, end })
}

fn range_order_error(index: &IndexInfo, table: &str, field: &str, expected: Option<String>) -> Error {
    let fields: Vec<String> = index.key_fields.iter().map(|f| f.to_string()).collect();
    invalid_query(format!(
        "Uncaught Error: The index range for {table}.{} must compare the index fields in order ({}): found \"{field}\"{}. Use .eq() on a prefix of the fields, then at most one lower and one upper bound on the next field.",
        index.name,
        fields.join(", "),
        expected.map_or(String::new(), |e| format!(" where \"{e}\" was expected")),
    ))
}

/// A query being read, one document at a time.
pub struct QueryStream {
    index: IndexId,
    /// The whole interval the query covers.
    range: KeyRange,
    order: Order,
    /// The part of `range` persistence has not been asked for yet.
    unfetched: KeyRange,
    fetched: VecDeque<hull_store::IndexEntry>,
    persistence_done: bool,
    page_rows: usize,
    overlay: BTreeMap<Vec<u8>, Option<Document>>,
    operators: Vec<Operator>,
    passed: Vec<usize>,
    /// The key of the last entry consumed; the read set covers everything up to it.
    last_key: Option<Vec<u8>>,
    /// Entries consumed so far (before filters), for `maximumRowsRead`.
    entries_consumed: usize,
    /// Stop (without being exhausted) once this many entries were consumed.
    entry_budget: Option<usize>,
    done: bool,
}

impl QueryStream {
    /// Opens a stream for `query`.
    pub fn open(tx: &mut Transaction, query: Query) -> Result<QueryStream> {
        let (table, order) = match &query.source {
            Source::FullTableScan { table, order } | Source::IndexRange { table, order, .. } => (table.clone(), *order),
        };
        let Some(table_info) = tx.catalog().table_by_name(&table).cloned() else {
            // No such table: empty, but depends on the table being created.
            let tables_by_id = tx.catalog().index_by_name(TABLES_TABLE, BY_ID).expect("bootstrap").id;
            tx.record_read(tables_by_id, &KeyRange::all())?;
            return Ok(QueryStream::empty(tables_by_id));
        };
        let (index, range) = match &query.source {
            Source::FullTableScan { .. } => {
                let index = tx.catalog().index_by_name(table_info.number, BY_CREATION_TIME).expect("every table has one").clone();
                (index, KeyRange::all())
            }
            Source::IndexRange { index, range, .. } => {
                let info = tx
                    .catalog()
                    .index_by_name(table_info.number, index)
                    .ok_or_else(|| Error::bad_request("IndexNotFound", format!("Index {table}.{index} not found.")))?
                    .clone();
                if info.state != IndexState::Enabled {
                    return Err(Error::bad_request("IndexNotReady", format!("Index {table}.{index} is currently backfilling and not available to query yet.")));
                }
                let key_range = index_range(&info, &table, range)?;
                (info, key_range)
            }
        };
        let limit_hint = query.operators.iter().find_map(|op| match op {
            Operator::Limit(n) => Some(*n),
            Operator::Filter(_) => None,
        });
        Ok(QueryStream::over(tx, &index, range, order, query.operators, limit_hint))
    }

    /// Every document of `table` in creation order.
    pub fn full_table(tx: &mut Transaction, table: TableNumber, order: Order) -> Result<QueryStream> {
        let index = tx.catalog().index_by_name(table, BY_CREATION_TIME).expect("every table has one").clone();
        Ok(QueryStream::over(tx, &index, KeyRange::all(), order, Vec::new(), None))
    }

    fn over(tx: &Transaction, index: &IndexInfo, range: KeyRange, order: Order, operators: Vec<Operator>, limit_hint: Option<usize>) -> QueryStream {
        let overlay = tx.overlay(index, &range);
        QueryStream {
            index: index.id,
            unfetched: range.clone(),
            range,
            order,
            fetched: VecDeque::new(),
            persistence_done: false,
            page_rows: limit_hint.map_or(QUERY_FIRST_PAGE_ROWS, |n| n + 1).clamp(1, QUERY_PAGE_ROWS),
            overlay,
            passed: vec![0; operators.len()],
            operators,
            last_key: None,
            entries_consumed: 0,
            entry_budget: None,
            done: false,
        }
    }

    fn empty(index: IndexId) -> QueryStream {
        QueryStream {
            index,
            range: KeyRange::all(),
            order: Order::Asc,
            unfetched: KeyRange::all(),
            fetched: VecDeque::new(),
            persistence_done: true,
            page_rows: 1,
            overlay: BTreeMap::new(),
            operators: Vec::new(),
            passed: Vec::new(),
            last_key: None,
            entries_consumed: 0,
            entry_budget: None,
            done: true,
        }
    }

    /// The index this stream reads.
    pub fn index(&self) -> IndexId {
        self.index
    }

    /// Records the consumed part of the range as read.
    fn record(&self, tx: &mut Transaction, exhausted: bool) -> Result<()> {
        let consumed = match (exhausted, &self.last_key, self.order) {
            (true, _, _) => self.range.clone(),
            (false, None, _) => return Ok(()),
            (false, Some(last), Order::Asc) => KeyRange { start: self.range.start.clone(), end: Some(successor(last)) },
            (false, Some(last), Order::Desc) => KeyRange { start: last.clone(), end: self.range.end.clone() },
        };
        tx.record_read(self.index, &consumed)
    }

    /// The next entry of the merged snapshot + own-writes sequence, before operators.
    fn next_entry(&mut self, tx: &mut Transaction) -> Result<Option<(Vec<u8>, Document)>> {
        loop {
            if self.fetched.is_empty() && !self.persistence_done {
                let page = tx.persistence_scan(self.index, &self.unfetched, self.order, self.page_rows)?;
                self.page_rows = (self.page_rows * 2).min(QUERY_PAGE_ROWS);
                match &page.resume_after {
                    Some(last) => self.unfetched = self.unfetched.after(last, self.order),
                    None => self.persistence_done = true,
                }
                self.fetched.extend(page.entries);
                continue;
            }
            let stored_key = self.fetched.front().map(|e| e.key.clone());
            let own = match self.order {
                Order::Asc => self.overlay.first_key_value().map(|(k, _)| k.clone()),
                Order::Desc => self.overlay.last_key_value().map(|(k, _)| k.clone()),
            };
            let take_own = match (&stored_key, &own) {
                (None, None) => return Ok(None),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(stored), Some(own)) => match self.order {
                    Order::Asc => own <= stored,
                    Order::Desc => own >= stored,
                },
            };
            if take_own {
                let key = own.expect("chosen");
                if stored_key.as_ref() == Some(&key) {
                    self.fetched.pop_front(); // the transaction's write replaces the snapshot's entry
                }
                let document = self.overlay.remove(&key).expect("present");
                self.last_key = Some(key.clone());
                match document {
                    Some(document) => return Ok(Some((key, document))),
                    None => continue,
                }
            }
            let entry = self.fetched.pop_front().expect("chosen");
            let document = Document::from_stored(entry.document.key, entry.document.value.as_deref().expect("visible entries are live"))?;
            tx.count_read(&document)?;
            self.last_key = Some(entry.key.clone());
            return Ok(Some((entry.key, document)));
        }
    }

    /// True when a limit has been reached, so nothing more can come out.
    fn limit_reached(&self) -> bool {
        self.operators.iter().zip(&self.passed).any(|(op, passed)| matches!(op, Operator::Limit(n) if passed >= n))
    }

    /// The next document, or `None` at the end. Records reads as it goes.
    pub fn next(&mut self, tx: &mut Transaction) -> Result<Option<Document>> {
        Ok(self.next_with_key(tx)?.map(|(_, document)| document))
    }

    fn next_with_key(&mut self, tx: &mut Transaction) -> Result<Option<(Vec<u8>, Document)>> {
        'entries: loop {
            if self.done || self.limit_reached() {
                self.done = true;
                return Ok(None);
            }
            if self.entry_budget.is_some_and(|budget| self.entries_consumed >= budget) {
                return Ok(None); // paused, not exhausted
            }
            let Some((key, document)) = self.next_entry(tx)? else {
                self.done = true;
                self.record(tx, true)?;
                return Ok(None);
            };
            self.entries_consumed += 1;
            self.record(tx, false)?;
            for (position, operator) in self.operators.iter().enumerate() {
                match operator {
                    Operator::Filter(expression) => {
                        if expression.evaluate(document.object())? != Some(Value::Boolean(true)) {
                            continue 'entries;
                        }
                    }
                    Operator::Limit(_) => self.passed[position] += 1,
                }
            }
            return Ok(Some((key, document)));
        }
    }
}

/// A page of a paginated query (the `queryPage` syscall's result).
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The documents.
    pub page: Vec<Document>,
    /// True when the query's range is exhausted.
    pub is_done: bool,
    /// Where the next page starts.
    pub continue_cursor: String,
    /// A cursor splitting this page in two, when one is recommended.
    pub split_cursor: Option<String>,
    /// `"SplitRecommended"` / `"SplitRequired"` or `None`.
    pub page_status: Option<&'static str>,
}

/// Options of `paginate`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageRequest {
    /// Start after this cursor (`None`: from the beginning).
    pub cursor: Option<String>,
    /// End at this cursor, inclusive, ignoring `page_size`.
    pub end_cursor: Option<String>,
    /// Documents wanted.
    pub page_size: usize,
    /// Stop after scanning this many rows (before filters).
    pub maximum_rows_read: Option<usize>,
}

enum Position {
    Start,
    After(Vec<u8>),
    End,
}

const CURSOR_VERSION: u8 = 1;

fn fingerprint(index: IndexId, range: &KeyRange, order: Order) -> [u8; 8] {
    // FNV-1a: ties a cursor to the query shape it came from; not a secret.
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    };
    feed(&index.0.to_le_bytes());
    feed(&range.start);
    feed(&[range.end.is_some() as u8]);
    feed(range.end.as_deref().unwrap_or_default());
    feed(&[order as u8]);
    hash.to_le_bytes()
}

fn encode_cursor(shape: [u8; 8], position: &Position) -> String {
    let mut bytes = vec![CURSOR_VERSION];
    bytes.extend_from_slice(&shape);
    match position {
        Position::After(key) => {
            bytes.push(0);
            bytes.extend_from_slice(key);
        }
        Position::End => bytes.push(1),
        Position::Start => bytes.push(2),
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(shape: [u8; 8], cursor: &str) -> Result<Position> {
    let invalid = |why: &str| {
        Error::bad_request(
            "InvalidCursor",
            format!("Invalid cursor: {why}. A cursor is only valid for the query that returned it; pass null to start from the beginning."),
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid("not a cursor"))?;
    match bytes.as_slice() {
        [CURSOR_VERSION, rest @ ..] if rest.len() >= 9 => {
            if rest[..8] != shape {
                return Err(invalid("it belongs to a different query"));
            }
            match rest[8] {
                0 => Ok(Position::After(rest[9..].to_vec())),
                1 if rest.len() == 9 => Ok(Position::End),
                2 if rest.len() == 9 => Ok(Position::Start),
                _ => Err(invalid("not a cursor")),
            }
        }
        _ => Err(invalid("not a cursor")),
    }
}

/// Runs one page of `query` (`.paginate(opts)`).
pub fn paginate(tx: &mut Transaction, query: Query, request: &PageRequest) -> Result<Page> {
    if request.page_size == 0 && request.end_cursor.is_none() {
        return Err(invalid_query("paginate: numItems must be greater than 0"));
    }
    if query.operators.iter().any(|op| matches!(op, Operator::Limit(_))) {
        return Err(invalid_query("paginate cannot be combined with take() or limit()"));
    }
    let mut stream = QueryStream::open(tx, query)?;
    let shape = fingerprint(stream.index, &stream.range, stream.order);
    let end_cursor = || encode_cursor(shape, &Position::End);
    // Narrow the stream to (cursor, end_cursor].
    let mut narrowed = stream.range.clone();
    if let Some(cursor) = &request.cursor {
        match decode_cursor(shape, cursor)? {
            Position::End => return Ok(Page { page: vec![], is_done: true, continue_cursor: end_cursor(), split_cursor: None, page_status: None }),
            Position::After(key) => narrowed = narrowed.after(&key, stream.order),
            Position::Start => {}
        }
    }
    let end = match &request.end_cursor {
        Some(cursor) => Some(decode_cursor(shape, cursor)?),
        None => None,
    };
    match (&end, stream.order) {
        (Some(Position::Start), _) => {
            return Ok(Page { page: vec![], is_done: false, continue_cursor: request.end_cursor.clone().expect("set"), split_cursor: None, page_status: None });
        }
        (Some(Position::After(key)), Order::Asc) => {
            let through_key = successor(key);
            narrowed.end = Some(match narrowed.end.take() {
                Some(end) => end.min(through_key),
                None => through_key,
            });
        }
        (Some(Position::After(key)), Order::Desc) => narrowed.start = key.clone().max(narrowed.start.clone()),
        (Some(Position::End) | None, _) => {}
    }
    // Restart the stream over the narrowed range; the read set covers only what it consumes.
    stream.unfetched = narrowed.clone();
    stream.range = narrowed;
    stream.overlay.retain(|key, _| stream.range.contains(key));
    stream.entry_budget = if end.is_none() { request.maximum_rows_read } else { None };
    let usage_before = tx.usage();
    let mut page = Vec::new();
    let mut keys = Vec::new();
    loop {
        if end.is_none() && page.len() >= request.page_size {
            break;
        }
        match stream.next_with_key(tx)? {
            Some((key, document)) => {
                keys.push(key);
                page.push(document);
            }
            None => break,
        }
    }
    // A cursor after the middle document lets a client replace this page by two smaller ones
    // (`usePaginatedQuery` does when the status asks for it).
    let split_cursor = (keys.len() >= 2).then(|| encode_cursor(shape, &Position::After(keys[keys.len() / 2 - 1].clone())));
    let usage = tx.usage();
    let heavy = usage.documents_read - usage_before.documents_read > PAGE_SPLIT_RECOMMENDED_ROWS
        || usage.bytes_read - usage_before.bytes_read > PAGE_SPLIT_RECOMMENDED_BYTES;
    let recommended = (heavy && split_cursor.is_some()).then_some("SplitRecommended");
    if !stream.done {
        // Stopped by the page size or the row budget: continue after the last key consumed.
        let continue_cursor = match &stream.last_key {
            Some(key) => encode_cursor(shape, &Position::After(key.clone())),
            None => request.cursor.clone().unwrap_or_else(|| encode_cursor(shape, &Position::Start)),
        };
        let incomplete = stream.entry_budget.is_some_and(|budget| stream.entries_consumed >= budget && page.len() < request.page_size);
        let page_status = if incomplete { Some("SplitRequired") } else { recommended };
        return Ok(Page { page, is_done: false, continue_cursor, split_cursor, page_status });
    }
    let (is_done, continue_cursor) = match (&end, &request.end_cursor) {
        (Some(Position::After(_)), Some(cursor)) => (false, cursor.clone()),
        _ => (true, end_cursor()),
    };
    Ok(Page { page, is_done, continue_cursor, split_cursor, page_status: recommended })
}
