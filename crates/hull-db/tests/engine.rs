//! The engine's behaviour as a Convex user relies on it, on every persistence engine.

mod common;

use std::collections::BTreeMap;

use common::*;
use hull_db::{paginate, Database, PageRequest, PatchField, Schema};
use hull_values::{DocumentId, Value};

#[test]
fn insert_get_patch_replace_delete() {
    on_each_engine(|engine, db| {
        let (id, _) = db.run(0, |tx| tx.insert("messages", object(&[("body", s("hi")), ("n", f(1.0))]))).unwrap();
        assert_eq!(id.table_number, 10001, "{engine}: first user table is 10001");
        assert_eq!(id.encode().len(), 32);

        let mut tx = db.begin();
        let doc = tx.get(id).unwrap().expect("inserted");
        assert_eq!(doc.object().get("body"), Some(&s("hi")));
        assert_eq!(doc.object().get("_id"), Some(&s(&id.encode())));
        assert!(doc.creation_time() > 1.6e12, "{engine}: _creationTime is ms since the epoch");

        db.run(0, |tx| {
            let patch = BTreeMap::from([("n".to_string(), PatchField::Remove), ("extra".to_string(), PatchField::Set(i(7)))]);
            tx.patch(id, patch)
        })
        .unwrap();
        let doc = db.begin().get(id).unwrap().unwrap();
        assert_eq!(doc.object().get("n"), None);
        assert_eq!(doc.object().get("extra"), Some(&i(7)));

        db.run(0, |tx| tx.replace(id, object(&[("only", Value::Boolean(true))]))).unwrap();
        let replaced = db.begin().get(id).unwrap().unwrap();
        assert_eq!(replaced.user_fields(), object(&[("only", Value::Boolean(true))]));
        assert_eq!(replaced.creation_time(), doc.creation_time(), "{engine}: replace keeps _creationTime");

        db.run(0, |tx| tx.delete(id)).unwrap();
        assert!(db.begin().get(id).unwrap().is_none());
        let error = db.run(0, |tx| tx.delete(id)).unwrap_err();
        assert_eq!(error.message, format!("Delete on nonexistent document ID {id}"));
    });
}

#[test]
fn creation_times_strictly_increase_within_a_transaction() {
    on_each_engine(|_, db| {
        let (ids, _) = db
            .run(0, |tx| (0..50).map(|n| tx.insert("t", object(&[("n", f(n as f64))]))).collect::<Result<Vec<_>, _>>())
            .unwrap();
        let mut tx = db.begin();
        let times: Vec<f64> = ids.iter().map(|id| tx.get(*id).unwrap().unwrap().creation_time()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        let scanned = collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"t","order":"asc"},"operators":[]}"#);
        assert_eq!(field(&scanned, "n"), (0..50).map(|n| f(n as f64)).collect::<Vec<_>>());
    });
}

#[test]
fn reads_see_the_transactions_own_writes() {
    on_each_engine(|engine, db| {
        db.run(0, |tx| {
            for n in [1.0, 3.0] {
                tx.insert("t", object(&[("n", f(n))]))?;
            }
            Ok(())
        })
        .unwrap();
        db.run(0, |tx| tx.create_index("t", "by_n", &["n".to_string()])).unwrap();
        let mut tx = db.begin();
        let existing = collect_in(&mut tx, r#"{"source":{"type":"IndexRange","indexName":"t.by_n","range":[],"order":"asc"},"operators":[]}"#);
        let first = existing[0].id();
        tx.insert("t", object(&[("n", f(2.0))])).unwrap();
        tx.patch(first, BTreeMap::from([("n".to_string(), PatchField::Set(f(4.0)))])).unwrap();
        let seen = collect_in(&mut tx, r#"{"source":{"type":"IndexRange","indexName":"t.by_n","range":[],"order":"asc"},"operators":[]}"#);
        assert_eq!(field(&seen, "n"), vec![f(2.0), f(3.0), f(4.0)], "{engine}");
        let descending = collect_in(&mut tx, r#"{"source":{"type":"IndexRange","indexName":"t.by_n","range":[],"order":"desc"},"operators":[]}"#);
        assert_eq!(field(&descending, "n"), vec![f(4.0), f(3.0), f(2.0)], "{engine}");
        tx.delete(first).unwrap();
        let after_delete = collect_in(&mut tx, r#"{"source":{"type":"FullTableScan","tableName":"t","order":null},"operators":[]}"#);
        assert_eq!(field(&after_delete, "n"), vec![f(3.0), f(2.0)], "{engine}: creation order");
        // Nothing is visible outside the transaction until it commits.
        assert_eq!(collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"t","order":null},"operators":[]}"#).len(), 2);
        db.commit(tx).unwrap();
        assert_eq!(collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"t","order":null},"operators":[]}"#).len(), 2);
    });
}

fn seed_people(db: &Database) {
    db.run(0, |tx| {
        for (name, age, city) in [("ann", 31.0, "oslo"), ("bob", 25.0, "rome"), ("cid", 40.0, "oslo"), ("dee", 25.0, "oslo"), ("eve", 35.0, "rome")] {
            tx.insert("people", object(&[("name", s(name)), ("age", f(age)), ("city", s(city))]))?;
        }
        tx.insert("people", object(&[("name", s("fay")), ("city", s("oslo"))]))?; // no age: undefined
        tx.create_index("people", "by_city_age", &["city".to_string(), "age".to_string()])?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn index_ranges_filters_and_limits() {
    on_each_engine(|engine, db| {
        seed_people(&db);
        let names = |json: &str| field(&collect(&db, json), "name");
        let q = |range: &str, order: &str, operators: &str| {
            format!(r#"{{"source":{{"type":"IndexRange","indexName":"people.by_city_age","range":{range},"order":{order}}},"operators":{operators}}}"#)
        };
        assert_eq!(names(&q(r#"[{"type":"Eq","fieldPath":"city","value":"oslo"}]"#, "\"asc\"", "[]")), vec![s("fay"), s("dee"), s("ann"), s("cid")], "{engine}: undefined sorts first");
        assert_eq!(
            names(&q(r#"[{"type":"Eq","fieldPath":"city","value":"oslo"},{"type":"Gt","fieldPath":"age","value":25},{"type":"Lte","fieldPath":"age","value":40}]"#, "\"desc\"", "[]")),
            vec![s("cid"), s("ann")]
        );
        assert_eq!(names(&q(r#"[{"type":"Eq","fieldPath":"city","value":"oslo"},{"type":"Gte","fieldPath":"age","value":25}]"#, "null", r#"[{"limit":2}]"#)), vec![s("dee"), s("ann")]);
        assert_eq!(names(&q(r#"[{"type":"Eq","fieldPath":"city","value":"oslo"},{"type":"Eq","fieldPath":"age","value":{"$undefined":null}}]"#, "null", "[]")), vec![s("fay")]);
        assert_eq!(names(&q(r#"[{"type":"Lt","fieldPath":"city","value":"p"}]"#, "null", r#"[{"filter":{"$gt":[{"$field":"age"},{"$literal":30}]}}]"#)), vec![s("ann"), s("cid")]);
        // Filters: arithmetic, boolean logic, cross-type comparison.
        let full = |operators: &str| format!(r#"{{"source":{{"type":"FullTableScan","tableName":"people","order":"asc"}},"operators":{operators}}}"#);
        assert_eq!(names(&full(r#"[{"filter":{"$and":[{"$eq":[{"$field":"city"},{"$literal":"rome"}]},{"$not":{"$eq":[{"$mod":[{"$field":"age"},{"$literal":2}]},{"$literal":0}]}}]}}]"#)), vec![s("bob"), s("eve")]);
        assert_eq!(names(&full(r#"[{"filter":{"$or":[{"$eq":[{"$field":"age"},{"$literal":{"$undefined":null}}]},{"$eq":[{"$add":[{"$field":"age"},{"$literal":5}]},{"$literal":30}]}]}}]"#)), vec![s("bob"), s("dee"), s("fay")]);
        assert_eq!(names(&full(r#"[{"filter":{"$eq":[{"$field":"city"},{"$literal":"oslo"}]}},{"limit":2}]"#)), vec![s("ann"), s("cid")]);
        assert_eq!(names(&full(r#"[{"limit":2},{"filter":{"$eq":[{"$field":"city"},{"$literal":"oslo"}]}}]"#)), vec![s("ann")], "{engine}: limit then filter");
        assert_eq!(names(&full(r#"[{"limit":0}]"#)), Vec::<Value>::new());
        // A table that does not exist is empty, as in Convex.
        assert!(collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"nothing","order":"asc"},"operators":[]}"#).is_empty());
    });
}

#[test]
fn bad_queries_get_clear_errors() {
    on_each_engine(|_, db| {
        seed_people(&db);
        let open = |json: &str| {
            let mut tx = db.begin();
            let query = hull_db::Query::from_json(&serde_json::from_str(json).unwrap())?;
            let mut stream = hull_db::QueryStream::open(&mut tx, query)?;
            while stream.next(&mut tx)?.is_some() {}
            Ok::<_, hull_errors::Error>(())
        };
        let error = open(r#"{"source":{"type":"IndexRange","indexName":"people.by_nope","range":[],"order":"asc"},"operators":[]}"#).unwrap_err();
        assert_eq!(error.message, "Index people.by_nope not found.");
        let error = open(r#"{"source":{"type":"IndexRange","indexName":"people.by_city_age","range":[{"type":"Eq","fieldPath":"age","value":1}],"order":"asc"},"operators":[]}"#).unwrap_err();
        assert!(error.message.contains("must compare the index fields in order"), "{}", error.message);
        let error = open(r#"{"source":{"type":"FullTableScan","tableName":"people","order":"asc"},"operators":[{"filter":{"$add":[{"$field":"age"},{"$literal":"x"}]}}]}"#).unwrap_err();
        assert!(error.message.contains("$add requires two numbers"), "{}", error.message);
        assert!(open(r#"{"source":{"type":"Nope"},"operators":[]}"#).is_err());
        assert!(open(r#"{"source":{"type":"FullTableScan","tableName":"people"},"operators":[{"limit":-1}]}"#).is_err());
        assert!(open(r#"{"source":{"type":"FullTableScan","tableName":"people"},"operators":[{"filter":{"$bogus":1}}]}"#).is_err());
    });
}

#[test]
fn pagination_covers_every_document_once() {
    on_each_engine(|engine, db| {
        db.run(0, |tx| {
            for n in 0..23 {
                tx.insert("items", object(&[("n", f(n as f64)), ("even", Value::Boolean(n % 2 == 0))]))?;
            }
            Ok(())
        })
        .unwrap();
        for order in ["asc", "desc"] {
            let json = format!(r#"{{"source":{{"type":"FullTableScan","tableName":"items","order":"{order}"}},"operators":[{{"filter":{{"$eq":[{{"$field":"even"}},{{"$literal":true}}]}}}}]}}"#);
            let mut cursor = None;
            let mut seen = Vec::new();
            let mut pages = Vec::new();
            loop {
                let mut tx = db.begin();
                let page = paginate(&mut tx, query(&json), &PageRequest { cursor: cursor.clone(), page_size: 5, ..Default::default() }).unwrap();
                assert!(page.page.len() <= 5);
                seen.extend(field(&page.page, "n"));
                pages.push((cursor.clone(), page.continue_cursor.clone(), page.page.len()));
                cursor = Some(page.continue_cursor);
                if page.is_done {
                    break;
                }
            }
            let mut expected: Vec<Value> = (0..23).filter(|n| n % 2 == 0).map(|n| f(n as f64)).collect();
            if order == "desc" {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{engine} {order}");
            // Re-reading a page with its end cursor gives the same page, even after inserts elsewhere.
            let (start, end, len) = pages[1].clone();
            let mut tx = db.begin();
            let again = paginate(&mut tx, query(&json), &PageRequest { cursor: start, end_cursor: Some(end), page_size: 1, ..Default::default() }).unwrap();
            assert_eq!(again.page.len(), len, "{engine} {order}: endCursor fixes the page");
        }
        // The split cursor divides a page in two that together give the same documents.
        let json = r#"{"source":{"type":"FullTableScan","tableName":"items","order":"asc"},"operators":[]}"#;
        let mut tx = db.begin();
        let whole = paginate(&mut tx, query(json), &PageRequest { page_size: 9, ..Default::default() }).unwrap();
        let split = whole.split_cursor.clone().expect("a page of 9 can be split");
        assert_eq!(whole.page_status, None, "a small page needs no split");
        let first = paginate(&mut tx, query(json), &PageRequest { end_cursor: Some(split.clone()), page_size: 1, ..Default::default() }).unwrap();
        let second = paginate(&mut tx, query(json), &PageRequest { cursor: Some(split), end_cursor: Some(whole.continue_cursor.clone()), page_size: 1, ..Default::default() }).unwrap();
        assert_eq!((first.page.len(), second.page.len()), (4, 5), "{engine}");
        assert_eq!([field(&first.page, "n"), field(&second.page, "n")].concat(), field(&whole.page, "n"));
        // maximumRowsRead stops early with a cursor to continue from.
        let json = r#"{"source":{"type":"FullTableScan","tableName":"items","order":"asc"},"operators":[{"filter":{"$eq":[{"$field":"n"},{"$literal":22}]}}]}"#;
        let mut tx = db.begin();
        let page = paginate(&mut tx, query(json), &PageRequest { page_size: 5, maximum_rows_read: Some(10), ..Default::default() }).unwrap();
        assert!(page.page.is_empty() && !page.is_done);
        assert_eq!(page.page_status, Some("SplitRequired"), "{engine}: stopped by maximumRowsRead");
        let page = paginate(&mut tx, query(json), &PageRequest { cursor: Some(page.continue_cursor), page_size: 5, ..Default::default() }).unwrap();
        assert_eq!(field(&page.page, "n"), vec![f(22.0)]);
        // A cursor from another query is refused.
        let other = r#"{"source":{"type":"FullTableScan","tableName":"items","order":"desc"},"operators":[]}"#;
        let first = paginate(&mut tx, query(other), &PageRequest { page_size: 2, ..Default::default() }).unwrap();
        let error = paginate(&mut tx, query(json), &PageRequest { cursor: Some(first.continue_cursor), page_size: 2, ..Default::default() }).unwrap_err();
        assert!(error.message.starts_with("Invalid cursor"), "{}", error.message);
        let error = paginate(&mut tx, query(json), &PageRequest { cursor: Some("garbage!".into()), page_size: 2, ..Default::default() }).unwrap_err();
        assert_eq!(error.short, "InvalidCursor");
    });
}

#[test]
fn new_index_is_backfilled_and_maintained() {
    on_each_engine(|engine, db| {
        db.run(0, |tx| {
            for n in (0..300).rev() {
                tx.insert("t", object(&[("k", f(n as f64))]))?;
            }
            Ok(())
        })
        .unwrap();
        db.run(0, |tx| tx.create_index("t", "by_k", &["k".to_string()])).unwrap();
        let catalog = db.catalog();
        let table = catalog.table_by_name("t").unwrap();
        assert_eq!(catalog.index_by_name(table.number, "by_k").unwrap().state, hull_db::catalog::IndexState::Enabled);
        let json = r#"{"source":{"type":"IndexRange","indexName":"t.by_k","range":[{"type":"Gte","fieldPath":"k","value":295}],"order":"asc"},"operators":[]}"#;
        assert_eq!(field(&collect(&db, json), "k"), (295..300).map(|n| f(n as f64)).collect::<Vec<_>>(), "{engine}");
        db.run(0, |tx| tx.insert("t", object(&[("k", f(1000.0))]))).unwrap();
        assert_eq!(collect(&db, json).len(), 6);
        db.run(0, |tx| tx.drop_index("t", "by_k")).unwrap();
        let mut tx = db.begin();
        assert!(hull_db::QueryStream::open(&mut tx, query(json)).is_err());
    });
}

#[test]
fn bad_input_gets_clear_errors_and_writes_nothing() {
    on_each_engine(|engine, db| {
        let (id, _) = db.run(0, |tx| tx.insert("users", object(&[("name", s("a"))]))).unwrap();
        db.run(0, |tx| tx.insert("other", object(&[("x", f(1.0))]))).unwrap();
        let tx = db.begin();
        // Malformed IDs and IDs of another table do not normalize.
        assert_eq!(tx.normalize_id("users", &id.encode()), Some(id));
        assert_eq!(tx.normalize_id("other", &id.encode()), None, "{engine}: ID of another table");
        assert_eq!(tx.normalize_id("users", "not-an-id"), None);
        assert_eq!(tx.normalize_id("users", &id.encode().to_uppercase()), None);
        assert!(DocumentId::decode(&id.encode()[..31]).is_err());
        drop(tx);
        let insert = |fields: hull_values::Object| db.run(0, |tx| tx.insert("users", fields.clone()));
        let error = insert(object(&[("_secret", s("x"))])).unwrap_err();
        assert!(error.message.contains("starts with an underscore"), "{}", error.message);
        let error = insert(object(&[("$bad", s("x"))])).unwrap_err();
        assert_eq!(error.code, hull_errors::Code::BadRequest, "{}", error.message);
        let error = insert(object(&[("_id", s("x"))])).unwrap_err();
        assert!(error.message.contains("system field `_id`"), "{}", error.message);
        let error = insert(object(&[("big", Value::Bytes(vec![0; 1 << 20]))])).unwrap_err();
        assert_eq!(error.short, "ValueTooLargeError", "{}", error.message);
        let mut deep = Value::Null;
        for _ in 0..20 {
            deep = Value::Array(vec![deep]);
        }
        let error = insert(object(&[("deep", deep)])).unwrap_err();
        assert_eq!(error.short, "TooNestedError", "{}", error.message);
        let error = db.run(0, |tx| tx.insert("bad-name", object(&[]))).unwrap_err();
        assert!(error.message.contains("Invalid table name"), "{}", error.message);
        let error = db.run(0, |tx| tx.insert("_system", object(&[]))).unwrap_err();
        assert!(error.message.contains("reserved for system tables"), "{}", error.message);
        let error = db.run(0, |tx| tx.patch(id, BTreeMap::from([("_id".to_string(), PatchField::Set(s("other")))]))).unwrap_err();
        assert!(error.message.contains("cannot be modified"), "{}", error.message);
        // Nothing of the failed writes landed.
        let users = collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"users","order":"asc"},"operators":[]}"#);
        assert_eq!(users.len(), 1, "{engine}");
        assert!(db.catalog().table_by_name("bad-name").is_none());
    });
}

const SCHEMA: &str = r#"{"tables":[{"tableName":"messages","indexes":[{"indexDescriptor":"by_author","fields":["author"]}],"searchIndexes":[],"vectorIndexes":[],"documentType":{"type":"object","value":{"author":{"fieldType":{"type":"string"},"optional":false},"body":{"fieldType":{"type":"string"},"optional":false},"likes":{"fieldType":{"type":"number"},"optional":true},"channel":{"fieldType":{"type":"id","tableName":"channels"},"optional":true}}}}],"schemaValidation":true}"#;

#[test]
fn schema_is_enforced_on_writes_and_checked_against_existing_data() {
    on_each_engine(|engine, db| {
        let (channel, _) = db.run(0, |tx| tx.insert("channels", object(&[("name", s("general"))]))).unwrap();
        db.run(0, |tx| tx.insert("messages", object(&[("author", s("a")), ("body", s("b"))]))).unwrap();
        db.run(0, |tx| tx.set_schema(Some(Schema::parse(SCHEMA)?))).unwrap();
        db.run(0, |tx| tx.insert("messages", object(&[("author", s("a")), ("body", s("ok")), ("channel", s(&channel.encode()))]))).unwrap();
        let error = db.run(0, |tx| tx.insert("messages", object(&[("body", s("no author"))]))).unwrap_err();
        assert!(error.message.starts_with("Failed to insert or update a document in table \"messages\" because it does not match the schema: Object is missing the required field `author`"), "{engine}: {}", error.message);
        let error = db.run(0, |tx| tx.insert("messages", object(&[("author", s("a")), ("body", s("b")), ("likes", s("many"))]))).unwrap_err();
        assert!(error.message.contains("Path: .likes"), "{}", error.message);
        let error = db.run(0, |tx| tx.insert("messages", object(&[("author", s("a")), ("body", s("b")), ("extra", s("x"))]))).unwrap_err();
        assert!(error.message.contains("extra field `extra`"), "{}", error.message);
        let (message, _) = db.run(0, |tx| tx.insert("messages", object(&[("author", s("a")), ("body", s("b"))]))).unwrap();
        let error = db.run(0, |tx| tx.insert("messages", object(&[("author", s("a")), ("body", s("b")), ("channel", s(&message.encode()))]))).unwrap_err();
        assert!(error.message.contains("v.id(\"channels\")"), "{}", error.message);
        // Tables outside the schema are unconstrained.
        db.run(0, |tx| tx.insert("free", object(&[("anything", i(1))]))).unwrap();
        // A schema that existing documents violate is refused and changes nothing.
        let stricter = SCHEMA.replace(r#""likes":{"fieldType":{"type":"number"},"optional":true}"#, r#""likes":{"fieldType":{"type":"number"},"optional":false}"#);
        let error = db.run(0, |tx| tx.set_schema(Some(Schema::parse(&stricter)?))).unwrap_err();
        assert!(error.message.starts_with("Schema validation failed.\nDocument with ID"), "{}", error.message);
        assert_eq!(db.catalog().schema().unwrap().source, SCHEMA);
        db.run(0, |tx| tx.set_schema(None)).unwrap();
        db.run(0, |tx| tx.insert("messages", object(&[("whatever", s("now"))]))).unwrap();
    });
}

#[test]
fn catalog_and_data_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let db = open_sqlite(dir.path());
        db.run(0, |tx| tx.set_schema(Some(Schema::parse(SCHEMA)?))).unwrap();
        db.run(0, |tx| tx.create_index("notes", "by_tag", &["tag".to_string()])).unwrap();
        db.run(0, |tx| tx.insert("notes", object(&[("tag", s("x"))]))).unwrap().0
    };
    let db = open_sqlite(dir.path());
    let mut tx = db.begin();
    assert_eq!(tx.get(id).unwrap().unwrap().object().get("tag"), Some(&s("x")));
    assert!(db.catalog().schema().is_some());
    let found = collect(&db, r#"{"source":{"type":"IndexRange","indexName":"notes.by_tag","range":[{"type":"Eq","fieldPath":"tag","value":"x"}],"order":"asc"},"operators":[]}"#);
    assert_eq!(found.len(), 1);
    // New tables continue numbering after the existing ones.
    let (other, _) = db.run(0, |tx| tx.insert("later", object(&[]))).unwrap();
    assert!(other.table_number > id.table_number);
    let first_ts = db.latest_ts();
    db.run(0, |tx| tx.insert("later", object(&[]))).unwrap();
    assert!(db.latest_ts() > first_ts);
}

#[test]
fn transaction_limits_are_enforced() {
    on_each_engine(|_, db| {
        let error = db
            .run(0, |tx| {
                for _ in 0..=hull_db::limits::TRANSACTION_MAX_NUM_USER_WRITES {
                    tx.insert("many", object(&[]))?;
                }
                Ok(())
            })
            .unwrap_err();
        assert_eq!(error.message, "Too many documents written in a single function execution (limit: 16000). Consider splitting the work across several mutations.");
        assert!(db.catalog().table_by_name("many").is_none(), "a failed transaction leaves nothing");
        let (existing, _) = db.run(0, |tx| tx.insert("things", object(&[]))).unwrap();
        let error = db
            .run(0, |tx| {
                for n in 0..=hull_db::limits::TRANSACTION_MAX_READ_SET_INTERVALS {
                    let id = DocumentId { table_number: existing.table_number, internal_id: (n as u128).to_be_bytes() };
                    tx.get(id)?;
                }
                Ok(())
            })
            .unwrap_err();
        assert_eq!(error.short, "TooManyReads");
        assert!(error.message.starts_with("Too many reads in a single function execution (limit: 4096)."), "{}", error.message);
    });
}

#[test]
fn reading_more_than_the_document_limit_fails() {
    let db = Database::open(std::sync::Arc::new(hull_store::MemoryPersistence::new())).unwrap();
    for _ in 0..2 {
        db.run(0, |tx| {
            for _ in 0..hull_db::limits::TRANSACTION_MAX_READ_SIZE_ROWS / 2 {
                tx.insert("rows", object(&[]))?;
            }
            Ok(())
        })
        .unwrap();
    }
    db.run(0, |tx| tx.insert("rows", object(&[]))).unwrap();
    let mut tx = db.begin();
    let mut stream = hull_db::QueryStream::open(&mut tx, query(r#"{"source":{"type":"FullTableScan","tableName":"rows","order":"asc"},"operators":[]}"#)).unwrap();
    let error = loop {
        match stream.next(&mut tx) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("read past the limit"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.message, "Too many documents read in a single function execution (limit: 32000). Consider using smaller limits in your queries, paginating your queries, or using indexed queries with a selective index range expressions.");
    assert_eq!(tx.usage().documents_read, hull_db::limits::TRANSACTION_MAX_READ_SIZE_ROWS + 1);
}

#[test]
fn rolling_back_to_a_savepoint_undoes_only_later_writes() {
    on_each_engine(|engine, db| {
        let (kept, _) = db.run(0, |tx| tx.insert("t", object(&[("n", f(1.0))]))).unwrap();
        let mut tx = db.begin();
        let before = tx.insert("t", object(&[("n", f(2.0))])).unwrap();
        let savepoint = tx.savepoint();
        let undone = tx.insert("t", object(&[("n", f(3.0))])).unwrap();
        tx.patch(kept, BTreeMap::from([("n".to_string(), PatchField::Set(f(10.0)))])).unwrap();
        tx.insert("new_table", object(&[])).unwrap();
        tx.rollback_to(savepoint);
        assert!(tx.get(undone).unwrap().is_none(), "{engine}");
        assert_eq!(tx.get(kept).unwrap().unwrap().object()["n"], f(1.0));
        assert!(tx.catalog().table_by_name("new_table").is_none());
        assert_eq!(tx.usage().documents_written, 1);
        db.commit(tx).unwrap();
        let names = field(&collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"t","order":"asc"},"operators":[]}"#), "n");
        assert_eq!(names, vec![f(1.0), f(2.0)], "{engine}");
        assert!(db.begin().get(before).unwrap().is_some());
        assert!(db.catalog().table_by_name("new_table").is_none());
    });
}

#[test]
fn index_definitions_follow_convex_limits() {
    on_each_engine(|engine, db| {
        let seventeen: Vec<String> = (0..17).map(|n| format!("f{n}")).collect();
        let error = db.run(0, |tx| tx.create_index("t", "too_wide", &seventeen)).unwrap_err();
        assert_eq!(error.message, "Index \"t.too_wide\" must have between 1 and 16 fields; it has 17.", "{engine}");
        db.run(0, |tx| tx.create_index("t", "sixteen", &seventeen[..16])).unwrap();
        let error = db.run(0, |tx| tx.create_index("t", "by_time", &["_creationTime".to_string()])).unwrap_err();
        assert!(error.message.contains("appends _creationTime and _id"), "{}", error.message);
        let error = db.run(0, |tx| tx.create_index("t", "sixteen", &["a".to_string()])).unwrap_err();
        assert_eq!(error.message, "Index \"t.sixteen\" already exists.");
        let error = db.run(0, |tx| tx.create_index("t", "by_id", &["a".to_string()])).unwrap_err();
        assert_eq!(error.short, "InvalidIndexName");
        for n in 0..63 {
            db.run(0, |tx| tx.create_index("t", &format!("i{n}"), &["a".to_string()])).unwrap();
        }
        let error = db.run(0, |tx| tx.create_index("t", "one_too_many", &["a".to_string()])).unwrap_err();
        assert_eq!(error.message, "Table \"t\" cannot have more than 64 indexes.", "{engine}");
    });
}

#[test]
fn system_work_is_exempt_from_user_function_limits() {
    on_each_engine(|engine, db| {
        // A deployed bundle larger than a user document may be.
        let bundle = object(&[("source", s(&"x".repeat(3 << 20)))]);
        let (id, _) = db.run_system(0, |tx| tx.insert_system_table("_modules", bundle.clone())).unwrap();
        assert_eq!(db.begin_system().get(id).unwrap().unwrap().object()["source"], bundle["source"], "{engine}");
        let error = db.run(0, |tx| tx.insert("users", bundle.clone())).unwrap_err();
        assert_eq!(error.short, "ValueTooLargeError", "{engine}: user documents keep the 1 MiB limit");
        // A user transaction that reads it counts the bytes; a system one is not limited.
        let mut user = db.begin();
        user.get(id).unwrap();
        assert!(user.usage().bytes_read > 3 << 20);
    });
}
