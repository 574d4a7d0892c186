//! A whole deployment moves between engines: export from one, import into another, and every
//! table, document (with its ID and creation time), index and the schema arrive intact.

mod common;

use std::sync::Arc;

use common::*;
use hull_db::{Database, Schema};
use hull_values::Value;

const SCHEMA: &str = r#"{"tables":[{"tableName":"messages","indexes":[{"indexDescriptor":"by_channel","fields":["channel"]}],"searchIndexes":[],"vectorIndexes":[],"documentType":{"type":"object","value":{"channel":{"fieldType":{"type":"id","tableName":"channels"},"optional":false},"body":{"fieldType":{"type":"string"},"optional":false}}}}],"schemaValidation":true}"#;

fn source() -> Database {
    let db = Database::open(Arc::new(hull_store::MemoryPersistence::new())).unwrap();
    let (general, _) = db.run(0, |tx| tx.insert("channels", object(&[("name", s("general"))]))).unwrap();
    db.run(0, |tx| tx.set_schema(Some(Schema::parse(SCHEMA)?))).unwrap();
    for n in 0..2500 {
        db.run(0, |tx| tx.insert("messages", object(&[("channel", s(&general.encode())), ("body", s(&format!("m{n}")))]))).unwrap_or_else(|e| panic!("{e}"));
    }
    db.run(0, |tx| tx.insert_system_table("_modules", object(&[("path", s("messages.js")), ("source", s("export {}"))]))).unwrap();
    db.run(0, |tx| tx.create_index("channels", "by_name", &["name".to_string()])).unwrap();
    db.run(0, |tx| tx.create_index("messages", "by_channel", &["channel".to_string()])).unwrap();
    db
}

fn all(db: &Database, table: &str) -> Vec<hull_values::Object> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let mut tx = db.begin();
        let json = format!(r#"{{"source":{{"type":"FullTableScan","tableName":"{table}","order":"asc"}},"operators":[]}}"#);
        let page = hull_db::paginate(&mut tx, query(&json), &hull_db::PageRequest { cursor, page_size: 1000, ..Default::default() }).unwrap();
        out.extend(page.page.iter().map(|d| d.object().clone()));
        if page.is_done {
            return out;
        }
        cursor = Some(page.continue_cursor);
    }
}

#[test]
fn a_deployment_moves_from_one_engine_to_another() {
    let from = source();
    let mut file = Vec::new();
    let exported = from.export(&mut file).unwrap();
    assert_eq!((exported.tables, exported.documents, exported.indexes, exported.schema), (3, 2502, 2, true));

    for (engine, persistence, _dir) in engines() {
        let to = Database::open(persistence).unwrap();
        let imported = to.import(&mut file.as_slice()).unwrap();
        assert_eq!(imported, exported, "{engine}");
        for table in ["channels", "messages", "_modules"] {
            assert_eq!(all(&to, table), all(&from, table), "{engine}: table {table}");
            assert_eq!(to.catalog().table_by_name(table).unwrap().number, from.catalog().table_by_name(table).unwrap().number);
        }
        assert_eq!(to.catalog().schema().unwrap().source, SCHEMA);
        let channel = all(&to, "channels")[0]["_id"].clone();
        let json = format!(r#"{{"source":{{"type":"IndexRange","indexName":"messages.by_channel","range":[{{"type":"Eq","fieldPath":"channel","value":{}}}],"order":"desc"}},"operators":[{{"limit":1}}]}}"#, channel.to_json());
        assert_eq!(field(&collect(&to, &json), "body"), vec![s("m2499")], "{engine}: the index came along");
        // References still resolve: the schema's v.id("channels") accepts the old channel ID.
        let Value::String(channel) = channel else { panic!() };
        to.run(0, |tx| tx.insert("messages", object(&[("channel", s(&channel)), ("body", s("after the move"))]))).unwrap();
        // A second import into the now non-empty database is refused.
        let error = to.import(&mut file.as_slice()).unwrap_err();
        assert_eq!(error.short, "ImportTargetNotEmpty");
    }
}

#[test]
fn a_damaged_export_is_refused_with_its_reason() {
    let from = source();
    let mut file = Vec::new();
    from.export(&mut file).unwrap();
    let text = String::from_utf8(file).unwrap();
    let into = || Database::open(Arc::new(hull_store::MemoryPersistence::new())).unwrap();

    let tampered = text.replacen(r#""body":"m7""#, r#""body":7"#, 1);
    let error = into().import(&mut tampered.as_bytes()).unwrap_err();
    assert!(error.message.contains("does not match the schema"), "{}", error.message);

    let error = into().import(&mut "{\"something\":1}\n".as_bytes()).unwrap_err();
    assert!(error.message.starts_with("Import file line 1: not a Hull export"), "{}", error.message);
    let error = into().import(&mut "".as_bytes()).unwrap_err();
    assert!(error.message.contains("empty"), "{}", error.message);
    let truncated: String = text.lines().take(6).collect::<Vec<_>>().join("\n") + "\n{\"document\":{\"table\":\"messages\",";
    let error = into().import(&mut truncated.as_bytes()).unwrap_err();
    assert!(error.message.contains("not JSON"), "{}", error.message);
}
