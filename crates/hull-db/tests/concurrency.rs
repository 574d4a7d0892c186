//! Transfers between accounts from many threads under heavy contention: the total never
//! changes, and no reader ever sees a transfer half done.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use hull_db::Database;
use hull_values::{DocumentId, Value};
use rand::{Rng, SeedableRng};

const ACCOUNTS: usize = 10;
const INITIAL_BALANCE: i64 = 1000;
const THREADS: usize = 8;
const TRANSFERS_PER_THREAD: usize = 150;

fn balance(tx: &mut hull_db::Transaction, id: DocumentId) -> i64 {
    match tx.get(id).unwrap().unwrap().object().get("balance") {
        Some(Value::Int64(b)) => *b,
        other => panic!("bad balance {other:?}"),
    }
}

fn transfers(engine: &str, db: Database) {
    let (accounts, _) = db
        .run(0, |tx| (0..ACCOUNTS).map(|_| tx.insert("accounts", object(&[("balance", i(INITIAL_BALANCE))]))).collect::<Result<Vec<_>, _>>())
        .unwrap();
    let accounts = Arc::new(accounts);
    let done = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let audits = Arc::new(AtomicUsize::new(0));

    std::thread::scope(|scope| {
        // Auditors: every snapshot must hold the full total.
        for _ in 0..2 {
            let (db, done, audits) = (db.clone(), done.clone(), audits.clone());
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let documents = collect(&db, r#"{"source":{"type":"FullTableScan","tableName":"accounts","order":"asc"},"operators":[]}"#);
                    let total: i64 = field(&documents, "balance").iter().map(|b| b.as_i64().unwrap()).sum();
                    assert_eq!(total, ACCOUNTS as i64 * INITIAL_BALANCE, "{engine}: a reader saw a partial transfer");
                    audits.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let writers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (db, accounts, attempts) = (db.clone(), accounts.clone(), attempts.clone());
                scope.spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(thread as u64);
                    for _ in 0..TRANSFERS_PER_THREAD {
                        let from = accounts[rng.random_range(0..ACCOUNTS)];
                        let to = accounts[rng.random_range(0..ACCOUNTS)];
                        let amount = rng.random_range(1..50);
                        db.run(usize::MAX, |tx| {
                            attempts.fetch_add(1, Ordering::Relaxed);
                            let from_balance = balance(tx, from);
                            if from == to || from_balance < amount {
                                return Ok(());
                            }
                            let to_balance = balance(tx, to);
                            tx.replace(from, object(&[("balance", i(from_balance - amount))]))?;
                            tx.replace(to, object(&[("balance", i(to_balance + amount))]))?;
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });

    let mut tx = db.begin();
    let balances: Vec<i64> = accounts.iter().map(|id| balance(&mut tx, *id)).collect();
    assert_eq!(balances.iter().sum::<i64>(), ACCOUNTS as i64 * INITIAL_BALANCE, "{engine}: {balances:?}");
    assert!(balances.iter().all(|b| *b >= 0), "{engine}: overdrawn {balances:?}");
    let attempts = attempts.load(Ordering::Relaxed);
    assert!(attempts > THREADS * TRANSFERS_PER_THREAD, "{engine}: no conflict happened ({attempts} attempts), so contention was not tested");
    assert!(audits.load(Ordering::Relaxed) > 0);
    eprintln!("{engine}: {} transfers, {attempts} attempts, {} audits", THREADS * TRANSFERS_PER_THREAD, audits.load(Ordering::Relaxed));
}

#[test]
fn transfers_keep_the_total_on_memory() {
    transfers("memory", Database::open(Arc::new(hull_store::MemoryPersistence::new())).unwrap());
}

#[test]
fn transfers_keep_the_total_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    transfers("sqlite", open_sqlite(dir.path()));
}

#[test]
fn transfers_keep_the_total_on_postgres() {
    transfers("postgres", Database::open(Arc::new(open_postgres(&fresh_postgres_schema()))).unwrap());
}

/// Counter increments from many threads are never lost (the classic lost-update check).
#[test]
fn concurrent_increments_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_sqlite(dir.path());
    let (counter, _) = db.run(0, |tx| tx.insert("counters", object(&[("n", i(0))]))).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let db = db.clone();
            scope.spawn(move || {
                for _ in 0..50 {
                    db.run(usize::MAX, |tx| {
                        let n = tx.get(counter)?.unwrap().object()["n"].as_i64().unwrap();
                        tx.replace(counter, object(&[("n", i(n + 1))]))
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(db.begin().get(counter).unwrap().unwrap().object()["n"], i(THREADS as i64 * 50));
}
