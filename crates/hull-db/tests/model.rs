//! Thousands of random transactions against the engine and a plain in-memory model of the
//! same tables; every read the engine answers is compared with the model's answer.
//!
//! Reads cover `db.get`, index ranges in both orders with limits, filtered full scans and
//! pagination, inside transactions that also write (read-your-writes). Interleaved pairs of
//! transactions check serializability: when a transaction whose snapshot is stale commits,
//! everything it read must still be what a read at its commit point returns.

mod common;

use std::collections::BTreeMap;

use common::*;
use hull_db::{paginate, Database, PageRequest, PatchField, Transaction};
use hull_values::{DocumentId, Object, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The model: document id -> (creation time, user fields) for table `t`.
type Model = BTreeMap<DocumentId, (f64, Object)>;

fn random_k(rng: &mut StdRng) -> Option<Value> {
    match rng.random_range(0..10) {
        0 => None,
        1 => Some(Value::Int64(rng.random_range(-3..4))),
        2 => Some(s(["a", "b", ""][rng.random_range(0..3)])),
        3 => Some(Value::Null),
        _ => Some(f(rng.random_range(0..8) as f64)),
    }
}

fn random_fields(rng: &mut StdRng) -> Object {
    let mut fields = object(&[("tag", s(["x", "y"][rng.random_range(0..2)]))]);
    if let Some(k) = random_k(rng) {
        fields.insert("k".into(), k);
    }
    fields
}

/// The by_k key of a model document, as a comparable tuple.
fn sort_tuple(id: &DocumentId, (creation, fields): &(f64, Object)) -> (Option<Value>, Value, Value) {
    (fields.get("k").cloned(), f(*creation), s(&id.encode()))
}

struct Bounds {
    lower: Option<(Value, bool)>,
    upper: Option<(Value, bool)>,
}

fn random_bounds(rng: &mut StdRng) -> Bounds {
    let bound = |rng: &mut StdRng| rng.random_bool(0.5).then(|| (random_k(rng).unwrap_or(Value::Null), rng.random_bool(0.5)));
    Bounds { lower: bound(rng), upper: bound(rng) }
}

fn range_json(bounds: &Bounds) -> String {
    let mut parts = Vec::new();
    if let Some((value, inclusive)) = &bounds.lower {
        parts.push(format!(r#"{{"type":"{}","fieldPath":"k","value":{}}}"#, if *inclusive { "Gte" } else { "Gt" }, value.to_json()));
    }
    if let Some((value, inclusive)) = &bounds.upper {
        parts.push(format!(r#"{{"type":"{}","fieldPath":"k","value":{}}}"#, if *inclusive { "Lte" } else { "Lt" }, value.to_json()));
    }
    format!("[{}]", parts.join(","))
}

fn in_bounds(k: &Option<Value>, bounds: &Bounds) -> bool {
    let lower_ok = bounds.lower.as_ref().is_none_or(|(v, inclusive)| {
        let v = Some(v.clone());
        if *inclusive { *k >= v } else { *k > v }
    });
    let upper_ok = bounds.upper.as_ref().is_none_or(|(v, inclusive)| {
        let v = Some(v.clone());
        if *inclusive { *k <= v } else { *k < v }
    });
    lower_ok && upper_ok
}

/// A read, its engine answer, and a way to recompute it from a model.
#[derive(Clone, Debug)]
enum Read {
    Get(DocumentId),
    Range { bounds_json: String, lower: Option<(Value, bool)>, upper: Option<(Value, bool)>, desc: bool, limit: Option<usize> },
    Scan { tag: &'static str },
    Paginate { page_size: usize, desc: bool },
}

fn expected(model: &Model, read: &Read) -> Vec<Object> {
    let full = |id: &DocumentId, entry: &(f64, Object)| {
        let mut fields = entry.1.clone();
        fields.insert("_id".into(), s(&id.encode()));
        fields.insert("_creationTime".into(), f(entry.0));
        fields
    };
    match read {
        Read::Get(id) => model.get(id).map(|e| full(id, e)).into_iter().collect(),
        Read::Range { lower, upper, desc, limit, .. } => {
            let bounds = Bounds { lower: lower.clone(), upper: upper.clone() };
            let mut hits: Vec<_> = model.iter().filter(|(_, e)| in_bounds(&e.1.get("k").cloned(), &bounds)).collect();
            hits.sort_by_cached_key(|(id, e)| sort_tuple(id, e));
            if *desc {
                hits.reverse();
            }
            hits.into_iter().take(limit.unwrap_or(usize::MAX)).map(|(id, e)| full(id, e)).collect()
        }
        Read::Scan { tag } => {
            let mut hits: Vec<_> = model.iter().filter(|(_, e)| e.1.get("tag") == Some(&s(tag))).collect();
            hits.sort_by_cached_key(|(id, e)| (f(e.0), id.encode()));
            hits.into_iter().map(|(id, e)| full(id, e)).collect()
        }
        Read::Paginate { desc, .. } => {
            let mut hits: Vec<_> = model.iter().collect();
            hits.sort_by_cached_key(|(id, e)| (f(e.0), id.encode()));
            if *desc {
                hits.reverse();
            }
            hits.into_iter().map(|(id, e)| full(id, e)).collect()
        }
    }
}

fn perform(tx: &mut Transaction, read: &Read) -> Vec<Object> {
    let objects = |documents: Vec<hull_db::Document>| documents.into_iter().map(|d| d.object().clone()).collect();
    match read {
        Read::Get(id) => tx.get(*id).unwrap().map(|d| d.object().clone()).into_iter().collect(),
        Read::Range { bounds_json, desc, limit, .. } => {
            let operators = limit.map_or("[]".to_string(), |n| format!(r#"[{{"limit":{n}}}]"#));
            let order = if *desc { "desc" } else { "asc" };
            objects(collect_in(tx, &format!(r#"{{"source":{{"type":"IndexRange","indexName":"t.by_k","range":{bounds_json},"order":"{order}"}},"operators":{operators}}}"#)))
        }
        Read::Scan { tag } => objects(collect_in(tx, &format!(r#"{{"source":{{"type":"FullTableScan","tableName":"t","order":"asc"}},"operators":[{{"filter":{{"$eq":[{{"$field":"tag"}},{{"$literal":"{tag}"}}]}}}}]}}"#))),
        Read::Paginate { page_size, desc } => {
            let order = if *desc { "desc" } else { "asc" };
            let json = format!(r#"{{"source":{{"type":"FullTableScan","tableName":"t","order":"{order}"}},"operators":[]}}"#);
            let mut out = Vec::new();
            let mut cursor = None;
            loop {
                let page = paginate(tx, query(&json), &PageRequest { cursor, page_size: *page_size, ..Default::default() }).unwrap();
                out.extend(page.page.into_iter().map(|d| d.object().clone()));
                if page.is_done {
                    return out;
                }
                cursor = Some(page.continue_cursor);
            }
        }
    }
}

fn random_read(rng: &mut StdRng, model: &Model, forgotten: &[DocumentId]) -> Read {
    match rng.random_range(0..10) {
        0..=3 => {
            let id = if !model.is_empty() && rng.random_bool(0.7) {
                *model.keys().nth(rng.random_range(0..model.len())).unwrap()
            } else if !forgotten.is_empty() {
                forgotten[rng.random_range(0..forgotten.len())]
            } else {
                DocumentId { table_number: 10001, internal_id: rng.random() }
            };
            Read::Get(id)
        }
        4..=7 => {
            let bounds = random_bounds(rng);
            Read::Range {
                bounds_json: range_json(&bounds),
                lower: bounds.lower,
                upper: bounds.upper,
                desc: rng.random_bool(0.5),
                limit: rng.random_bool(0.5).then(|| rng.random_range(0..6)),
            }
        }
        8 => Read::Scan { tag: ["x", "y"][rng.random_range(0..2)] },
        _ => Read::Paginate { page_size: rng.random_range(1..7), desc: rng.random_bool(0.5) },
    }
}

/// Applies one random write to both the transaction and its model.
fn random_write(rng: &mut StdRng, tx: &mut Transaction, model: &mut Model, forgotten: &mut Vec<DocumentId>) {
    let existing = (!model.is_empty()).then(|| *model.keys().nth(rng.random_range(0..model.len())).unwrap());
    match (rng.random_range(0..10), existing) {
        (0..=3, _) | (_, None) => {
            let fields = random_fields(rng);
            let id = tx.insert("t", fields.clone()).unwrap();
            let creation = tx.get(id).unwrap().unwrap().creation_time();
            model.insert(id, (creation, fields));
        }
        (4..=6, Some(id)) => {
            let change = match random_k(rng) {
                Some(k) => PatchField::Set(k),
                None => PatchField::Remove,
            };
            tx.patch(id, BTreeMap::from([("k".to_string(), change.clone())])).unwrap();
            let fields = &mut model.get_mut(&id).unwrap().1;
            match change {
                PatchField::Set(k) => fields.insert("k".into(), k),
                PatchField::Remove => fields.remove("k"),
            };
        }
        (7, Some(id)) => {
            let fields = random_fields(rng);
            tx.replace(id, fields.clone()).unwrap();
            model.get_mut(&id).unwrap().1 = fields;
        }
        (_, Some(id)) => {
            tx.delete(id).unwrap();
            model.remove(&id);
            forgotten.push(id);
        }
    }
}

fn run_model(engine: &str, db: Database, transactions: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    db.run(0, |tx| tx.create_index("t", "by_k", &["k".to_string()])).unwrap();
    let mut committed = Model::new();
    let mut forgotten = Vec::new();
    let (mut conflicts, mut stale_commits) = (0, 0);
    for round in 0..transactions {
        if round % 7 == 3 {
            // A stale transaction B reads, then A commits writes, then B writes and commits.
            let mut stale = db.begin();
            let reads: Vec<(Read, Vec<Object>)> = (0..rng.random_range(1..4))
                .map(|_| {
                    let read = random_read(&mut rng, &committed, &forgotten);
                    let got = perform(&mut stale, &read);
                    assert_eq!(got, expected(&committed, &read), "{engine} round {round}: stale read {read:?}");
                    (read, got)
                })
                .collect();
            let mut tx = db.begin();
            let mut after_a = committed.clone();
            for _ in 0..rng.random_range(1..3) {
                random_write(&mut rng, &mut tx, &mut after_a, &mut forgotten);
            }
            db.commit(tx).unwrap();
            // B writes only documents its snapshot has and A left alone, so its writes are
            // valid in its snapshot and, if it commits, apply on top of A's.
            let untouched: Model = committed.iter().filter(|(id, entry)| after_a.get(id) == Some(entry)).map(|(id, e)| (*id, e.clone())).collect();
            let mut b_view = untouched.clone();
            random_write(&mut rng, &mut stale, &mut b_view, &mut forgotten);
            let mut after_b = after_a.clone();
            for id in untouched.keys().chain(b_view.keys()) {
                match b_view.get(id) {
                    Some(entry) => after_b.insert(*id, entry.clone()),
                    None => after_b.remove(id),
                };
            }
            match db.commit(stale) {
                Ok(_) => {
                    stale_commits += 1;
                    for (read, got) in &reads {
                        assert_eq!(got, &expected(&after_a, read), "{engine} round {round}: a committed transaction read {read:?} that a concurrent commit changed");
                    }
                    committed = after_b;
                }
                Err(error) => {
                    assert_eq!(error.short, "OptimisticConcurrencyControlFailure", "{}", error.message);
                    conflicts += 1;
                    committed = after_a;
                }
            }
            continue;
        }
        let mut tx = db.begin();
        let mut model = committed.clone();
        for _ in 0..rng.random_range(1..8) {
            if rng.random_bool(0.5) {
                random_write(&mut rng, &mut tx, &mut model, &mut forgotten);
            } else {
                let read = random_read(&mut rng, &model, &forgotten);
                assert_eq!(perform(&mut tx, &read), expected(&model, &read), "{engine} round {round}: {read:?}");
            }
        }
        if rng.random_bool(0.9) {
            db.commit(tx).unwrap();
            committed = model;
        }
    }
    // Both outcomes of the stale pairs must have happened, or the check proved nothing.
    assert!(conflicts > 0 && stale_commits > 0, "{engine}: conflicts {conflicts}, stale commits {stale_commits}");
    // A final full comparison.
    let read = Read::Paginate { page_size: 1000, desc: false };
    assert_eq!(perform(&mut db.begin(), &read), expected(&committed, &read));
}

#[test]
fn random_transactions_match_the_model_in_memory() {
    let seed = std::env::var("HULL_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    run_model("memory", Database::open(std::sync::Arc::new(hull_store::MemoryPersistence::new())).unwrap(), 2000, seed);
}

#[test]
fn random_transactions_match_the_model_on_sqlite() {
    let seed = std::env::var("HULL_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11);
    let dir = tempfile::tempdir().unwrap();
    run_model("sqlite", open_sqlite(dir.path()), 1500, seed);
}

#[test]
fn random_transactions_match_the_model_on_postgres() {
    let seed = std::env::var("HULL_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(13);
    let store = open_postgres(&fresh_postgres_schema());
    run_model("postgres", Database::open(std::sync::Arc::new(store)).unwrap(), 1000, seed);
}
