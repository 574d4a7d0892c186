//! Keys longer than the B-tree prefix, many sharing one prefix: pages cut such a group in
//! PostgreSQL's (hash) order, and the engine must still return them in key order, with no
//! key lost or repeated across pages, in both directions.
mod common;

use hull_store::{DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, Timestamp, WriteBatch};
use hull_store_postgres::KEY_PREFIX_LEN;

#[test]
fn pages_through_a_large_group_of_long_keys_in_key_order() {
    let store = common::fresh_store();
    let shared = vec![b'p'; KEY_PREFIX_LEN + 10];
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut batch = WriteBatch::default();
    for n in 0u16..700 {
        let mut key = shared.clone();
        key.extend_from_slice(&n.to_be_bytes());
        let document = DocumentKey { table: 10001, id: (u128::from(n)).to_be_bytes() };
        batch.documents.push(DocumentRow { ts: Timestamp(1), key: document, value: Some(format!("{n}")), prev_ts: None });
        batch.index_rows.push(IndexRow { index: IndexId(1), key: key.clone(), ts: Timestamp(1), document: Some(document) });
        keys.push(key);
    }
    // Short keys before and after the group.
    for (n, key) in [(1000u16, b"a".to_vec()), (1001, b"z".to_vec())] {
        let document = DocumentKey { table: 10001, id: (u128::from(n)).to_be_bytes() };
        batch.documents.push(DocumentRow { ts: Timestamp(1), key: document, value: Some(format!("{n}")), prev_ts: None });
        batch.index_rows.push(IndexRow { index: IndexId(1), key: key.clone(), ts: Timestamp(1), document: Some(document) });
        keys.push(key);
    }
    store.write(&batch).unwrap();
    keys.sort();
    for (order, limit) in [(Order::Asc, 1), (Order::Asc, 100), (Order::Asc, 300), (Order::Desc, 7), (Order::Desc, 300)] {
        let mut range = KeyRange::all();
        let mut seen = Vec::new();
        loop {
            let page = store.index_scan(IndexId(1), Timestamp(1), &range, order, limit).unwrap();
            assert!(page.entries.len() <= limit);
            seen.extend(page.entries.into_iter().map(|e| e.key));
            match page.resume_after {
                Some(last) => range = range.after(&last, order),
                None => break,
            }
        }
        let mut expected = keys.clone();
        if order == Order::Desc {
            expected.reverse();
        }
        assert_eq!(seen.len(), expected.len(), "{order:?} limit {limit}");
        assert!(seen == expected, "{order:?} limit {limit}: keys out of order");
    }
    // A range that starts and ends inside the group.
    let range = KeyRange { start: keys[100].clone(), end: Some(keys[600].clone()) };
    let page = store.index_scan(IndexId(1), Timestamp(1), &range, Order::Asc, 1000).unwrap();
    assert_eq!(page.entries.iter().map(|e| e.key.clone()).collect::<Vec<_>>(), keys[100..600].to_vec());
    let page = store.index_scan(IndexId(1), Timestamp(1), &range, Order::Desc, 1000).unwrap();
    assert_eq!(page.entries.len(), 500);
    assert_eq!(page.entries[0].key, keys[599]);
}
