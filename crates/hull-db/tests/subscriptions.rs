//! Subscriptions fire exactly for the commits that change what a query read.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use hull_db::{Database, PatchField, QueryStream};
use hull_store::Timestamp;

/// Runs `json` in a read transaction and subscribes to its reads; returns the result and a
/// receiver that gets the invalidating commit's ts.
fn watch(db: &Database, json: &str) -> (Vec<hull_values::Value>, hull_db::Subscription, mpsc::Receiver<Timestamp>) {
    let mut tx = db.begin();
    let mut stream = QueryStream::open(&mut tx, query(json)).unwrap();
    let mut documents = Vec::new();
    while let Some(document) = stream.next(&mut tx).unwrap() {
        documents.push(document);
    }
    let (sender, receiver) = mpsc::channel();
    let subscription = db.subscribe(tx.reads(), tx.begin_ts(), move |ts| sender.send(ts).unwrap());
    (field(&documents, "n"), subscription, receiver)
}

/// One write to apply in a transaction.
type Change<'a> = dyn Fn(&mut hull_db::Transaction) -> hull_errors::Result<()> + 'a;

const FIRST_TWO: &str = r#"{"source":{"type":"IndexRange","indexName":"t.by_n","range":[],"order":"asc"},"operators":[{"limit":2}]}"#;

#[test]
fn a_commit_inside_the_read_range_invalidates_and_one_outside_does_not() {
    on_each_engine(|engine, db| {
        db.run(0, |tx| tx.create_index("t", "by_n", &["n".to_string()])).unwrap();
        let ((ids, _), _) = (db.run(0, |tx| (0..5).map(|n| tx.insert("t", object(&[("n", f(n as f64 * 10.0))]))).collect::<Result<Vec<_>, _>>()).unwrap(), ());
        let (first, _subscription, invalidated) = watch(&db, FIRST_TWO);
        assert_eq!(first, vec![f(0.0), f(10.0)]);

        // take(2) read only up to the second key: writes beyond it do not matter.
        db.run(0, |tx| tx.insert("t", object(&[("n", f(35.0))]))).unwrap();
        db.run(0, |tx| tx.patch(ids[4], BTreeMap::from([("n".to_string(), PatchField::Set(f(45.0)))]))).unwrap();
        db.run(0, |tx| tx.insert("other", object(&[("n", f(1.0))]))).unwrap();
        assert!(invalidated.recv_timeout(Duration::from_millis(100)).is_err(), "{engine}: invalidated by a write outside its reads");

        // A write inside the range invalidates, with that commit's ts, once.
        let (_, ts) = db.run(0, |tx| tx.insert("t", object(&[("n", f(5.0))]))).unwrap();
        assert_eq!(invalidated.recv_timeout(Duration::from_secs(5)).unwrap(), ts, "{engine}");
        db.run(0, |tx| tx.insert("t", object(&[("n", f(6.0))]))).unwrap();
        assert!(invalidated.recv_timeout(Duration::from_millis(100)).is_err(), "{engine}: a subscription fires once");
        assert_eq!(db.subscription_count(), 0);
    });
}

#[test]
fn updates_deletes_and_moves_out_of_the_range_invalidate() {
    on_each_engine(|engine, db| {
        db.run(0, |tx| tx.create_index("t", "by_n", &["n".to_string()])).unwrap();
        let (ids, _) = db.run(0, |tx| (0..3).map(|n| tx.insert("t", object(&[("n", f(n as f64))]))).collect::<Result<Vec<_>, _>>()).unwrap();
        let changes: Vec<Box<Change<'_>>> = vec![
            // A field the query did not filter on still changes a document it returned.
            Box::new(|tx| tx.patch(ids[0], BTreeMap::from([("extra".to_string(), PatchField::Set(f(1.0)))])).map(|_| ())),
            Box::new(|tx| tx.patch(ids[1], BTreeMap::from([("n".to_string(), PatchField::Set(f(100.0)))])).map(|_| ())),
            Box::new(|tx| tx.delete(ids[0]).map(|_| ())),
        ];
        for (step, change) in changes.iter().enumerate() {
            let (_, _subscription, invalidated) = watch(&db, FIRST_TWO);
            let (_, ts) = db.run(0, |tx| change(tx)).unwrap();
            assert_eq!(invalidated.recv_timeout(Duration::from_secs(5)).unwrap(), ts, "{engine} step {step}");
        }
    });
}

#[test]
fn a_stale_token_is_invalidated_at_once_and_dropping_unsubscribes() {
    on_each_engine(|engine, db| {
        let (id, _) = db.run(0, |tx| tx.insert("t", object(&[("n", f(1.0))]))).unwrap();
        let mut tx = db.begin();
        tx.get(id).unwrap();
        let (_, ts) = db.run(0, |tx| tx.replace(id, object(&[("n", f(2.0))]))).unwrap();
        // Subscribing with the older token: the commit already happened.
        let (sender, receiver) = mpsc::channel();
        let _subscription = db.subscribe(tx.reads(), tx.begin_ts(), move |at| sender.send(at).unwrap());
        assert_eq!(receiver.recv_timeout(Duration::from_secs(1)).unwrap(), ts, "{engine}");

        let mut tx = db.begin();
        tx.get(id).unwrap();
        let (sender, receiver) = mpsc::channel();
        let subscription = db.subscribe(tx.reads(), tx.begin_ts(), move |at| sender.send(at).unwrap());
        assert_eq!(db.subscription_count(), 1);
        drop(subscription);
        assert_eq!(db.subscription_count(), 0);
        db.run(0, |tx| tx.replace(id, object(&[("n", f(3.0))]))).unwrap();
        assert!(receiver.recv_timeout(Duration::from_millis(100)).is_err(), "{engine}: a dropped subscription stays silent");
    });
}

#[test]
fn many_identical_subscriptions_all_fire() {
    let db = Database::open(std::sync::Arc::new(hull_store::MemoryPersistence::new())).unwrap();
    let (id, _) = db.run(0, |tx| tx.insert("t", object(&[("n", f(1.0))]))).unwrap();
    let (sender, receiver) = mpsc::channel();
    let subscriptions: Vec<_> = (0..10_000)
        .map(|_| {
            let mut tx = db.begin();
            tx.get(id).unwrap();
            let sender = sender.clone();
            db.subscribe(tx.reads(), tx.begin_ts(), move |_| sender.send(()).unwrap())
        })
        .collect();
    db.run(0, |tx| tx.replace(id, object(&[("n", f(2.0))]))).unwrap();
    for _ in 0..10_000 {
        receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    drop(subscriptions);
    assert_eq!(db.subscription_count(), 0);
}

#[test]
fn reads_at_an_earlier_snapshot_see_that_snapshot() {
    on_each_engine(|engine, db| {
        let (id, ts) = db.run(0, |tx| tx.insert("t", object(&[("n", f(1.0))]))).unwrap();
        db.run(0, |tx| tx.replace(id, object(&[("n", f(2.0))]))).unwrap();
        let mut then = db.begin_at(ts).unwrap();
        assert_eq!(then.get(id).unwrap().unwrap().object()["n"], f(1.0), "{engine}");
        let mut now = db.begin_at(db.latest_ts()).unwrap();
        assert_eq!(now.get(id).unwrap().unwrap().object()["n"], f(2.0));
        assert_eq!(db.begin_at(Timestamp(db.latest_ts().0 + 1)).err().unwrap().short, "TimestampInFuture");
    });
}

#[test]
fn first_change_since_finds_the_commit_that_changed_the_reads() {
    on_each_engine(|engine, db| {
        db.run(0, |tx| tx.create_index("t", "by_n", &["n".to_string()])).unwrap();
        db.run(0, |tx| (0..3).map(|n| tx.insert("t", object(&[("n", f(n as f64 * 10.0))]))).collect::<Result<Vec<_>, _>>()).unwrap();
        let mut tx = db.begin();
        let mut stream = QueryStream::open(&mut tx, query(FIRST_TWO)).unwrap();
        while stream.next(&mut tx).unwrap().is_some() {}
        let (reads, ts) = (tx.reads().clone(), tx.begin_ts());
        assert_eq!(db.first_change_since(&reads, ts), None, "{engine}");
        // Outside the reads: the result carries forward.
        db.run(0, |tx| tx.insert("t", object(&[("n", f(35.0))]))).unwrap();
        assert_eq!(db.first_change_since(&reads, ts), None, "{engine}");
        let (_, changed) = db.run(0, |tx| tx.insert("t", object(&[("n", f(5.0))]))).unwrap();
        db.run(0, |tx| tx.insert("t", object(&[("n", f(6.0))]))).unwrap();
        assert_eq!(db.first_change_since(&reads, ts), Some(changed), "{engine}");
        assert_eq!(db.first_change_since(&reads, changed), Some(db.latest_ts()), "{engine}");
    });
}
