//! Crash safety under load: `hull serve` takes mutations from several concurrent HTTP clients
//! and is killed with SIGKILL at a random moment, cycle after cycle, on SQLite and on
//! PostgreSQL. After each restart, every mutation a client saw acknowledged is present exactly
//! once, a mutation that was not acknowledged is present at most once, and no half-transaction is
//! visible: each mutation (hull-js's `tests/projects/reliability`, `ledger:append`) writes one
//! row to each of two tables, which must hold exactly the same rows.
//!
//! `HULL_CRASH_CYCLES` sets the number of kill cycles (default 4; a release check soaks with
//! hundreds). The PostgreSQL half needs `TEST_POSTGRES_URL` (scripts/test.sh provides it).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{fixture, hull, http, serve, try_http, Server};

/// Concurrent writers; each sends its own sequence of appends, one at a time.
const WRITERS: usize = 6;
/// Kill cycles by default.
const DEFAULT_CYCLES: usize = 4;
/// Rows per page of `ledger:dump` (the fixture's `PAGE`).
const PAGE: usize = 4000;
/// The kill comes this long after the writers start, at random within the range.
const KILL_AFTER_MS: std::ops::Range<u64> = 200..1_200;

/// One writer's outcome: the sequence numbers acknowledged and the one in flight when the server
/// died (sent, no answer).
#[derive(Default)]
struct Writes {
    acknowledged: BTreeSet<u64>,
    unacknowledged: BTreeSet<u64>,
}

fn append(port: u16, client: &str, seq: u64) -> Option<bool> {
    let body = serde_json::json!({"path": "ledger:append", "args": {"client": client, "seq": seq as f64}}).to_string();
    // No answer (the connection failed or died): the outcome is unknown.
    let (status, answer) = try_http(port, "POST", "/api/mutation", &[("Content-Type", "application/json")], &body).filter(|(status, _)| *status != 0)?;
    Some(status == 200 && answer.contains(r#""status":"success""#))
}

/// `(entries, mirror)` as (client, seq) multisets, read page by page through the deployed query.
fn dump(server: &Server, admin_key: &str) -> (BTreeMap<(String, u64), usize>, BTreeMap<(String, u64), usize>) {
    let (mut entries, mut mirror) = (BTreeMap::new(), BTreeMap::new());
    for writer in 0..WRITERS {
        let client = format!("writer-{writer}");
        let mut after = -1.0;
        loop {
            let body = serde_json::json!({"path": "ledger:dump", "args": {"client": client, "after": after}}).to_string();
            let authorization = format!("Convex {admin_key}");
            let (status, answer) = http(server.port, "POST", "/api/query", &[("Content-Type", "application/json"), ("Authorization", &authorization)], &body);
            assert_eq!(status, 200, "{answer}");
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(answer["status"], "success", "{answer}");
            let seqs = |name: &str| -> Vec<u64> { answer["value"][name].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as u64).collect() };
            let (page_entries, page_mirror) = (seqs("entries"), seqs("mirror"));
            // A full page may stop short of what the other table's page reached: keep rows up
            // to the lower of the full pages' ends, and read on from there.
            let cut = [&page_entries, &page_mirror].iter().filter(|page| page.len() == PAGE).filter_map(|page| page.last().copied()).min();
            let keep = |seq: &&u64| cut.is_none_or(|cut| **seq <= cut);
            for seq in page_entries.iter().filter(keep) {
                *entries.entry((client.clone(), *seq)).or_insert(0) += 1;
            }
            for seq in page_mirror.iter().filter(keep) {
                *mirror.entry((client.clone(), *seq)).or_insert(0) += 1;
            }
            match cut {
                Some(cut) => after = cut as f64,
                None => break,
            }
        }
    }
    (entries, mirror)
}

/// Runs the kill cycles against the store `extra` selects (`--db ...`, or none for SQLite).
fn crash_cycles(tag: &str, extra: &[&str]) {
    let cycles: usize = std::env::var("HULL_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(DEFAULT_CYCLES);
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let data = data_dir.to_str().unwrap();
    let mut deploy = vec!["deploy-push-request", "--data-dir", data];
    deploy.extend(extra);
    let fixture = fixture("reliability");
    deploy.push(fixture.to_str().unwrap());
    hull(&deploy);
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    let writes: Vec<Arc<Mutex<Writes>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let mut next_seq = vec![0u64; WRITERS];

    for cycle in 0..cycles {
        let logs = temp.path().join(format!("cycle-{cycle}"));
        std::fs::create_dir_all(&logs).unwrap();
        let mut server = serve(&data_dir, &logs, extra);
        check(tag, cycle, &server, &admin_key, &writes);

        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (stop, record, port) = (stop.clone(), writes[writer].clone(), server.port);
                let mut seq = next_seq[writer];
                std::thread::spawn(move || {
                    let client = format!("writer-{writer}");
                    while !stop.load(Ordering::Relaxed) {
                        match append(port, &client, seq) {
                            Some(true) => {
                                record.lock().unwrap().acknowledged.insert(seq);
                            }
                            // Refused (overload, say): most likely not written, but only a success
                            // is a promise, so it counts as "at most once".
                            Some(false) => {
                                record.lock().unwrap().unacknowledged.insert(seq);
                            }
                            None => {
                                record.lock().unwrap().unacknowledged.insert(seq);
                                seq += 1;
                                break;
                            }
                        }
                        seq += 1;
                    }
                    seq
                })
            })
            .collect();
        let wait = rand::random_range(KILL_AFTER_MS);
        std::thread::sleep(Duration::from_millis(wait));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for (writer, thread) in threads.into_iter().enumerate() {
            next_seq[writer] = thread.join().unwrap();
        }
    }
    let logs = temp.path().join("final");
    std::fs::create_dir_all(&logs).unwrap();
    let server = serve(&data_dir, &logs, extra);
    check(tag, cycles, &server, &admin_key, &writes);
    let acknowledged: usize = writes.iter().map(|w| w.lock().unwrap().acknowledged.len()).sum();
    let in_flight: usize = writes.iter().map(|w| w.lock().unwrap().unacknowledged.len()).sum();
    eprintln!("{tag}: {cycles} SIGKILL cycles, {acknowledged} acknowledged mutations all present once, {in_flight} in flight at a kill");
    assert!(acknowledged >= cycles, "{tag}: the writers barely wrote ({acknowledged} acknowledged in {cycles} cycles)");
}

/// The invariants after a restart.
fn check(tag: &str, cycle: usize, server: &Server, admin_key: &str, writes: &[Arc<Mutex<Writes>>]) {
    let (entries, mirror) = dump(server, admin_key);
    assert_eq!(entries, mirror, "{tag} cycle {cycle}: a half-written transaction is visible");
    for (writer, record) in writes.iter().enumerate() {
        let record = record.lock().unwrap();
        let client = format!("writer-{writer}");
        for seq in &record.acknowledged {
            let copies = entries.get(&(client.clone(), *seq)).copied().unwrap_or(0);
            assert_eq!(copies, 1, "{tag} cycle {cycle}: acknowledged {client}/{seq} is present {copies} times");
        }
        for seq in &record.unacknowledged {
            let copies = entries.get(&(client.clone(), *seq)).copied().unwrap_or(0);
            assert!(copies <= 1, "{tag} cycle {cycle}: unacknowledged {client}/{seq} is present {copies} times");
        }
    }
    let known: usize = writes.iter().map(|w| {
        let w = w.lock().unwrap();
        w.acknowledged.len() + w.unacknowledged.len()
    }).sum();
    let stored: usize = entries.values().sum();
    assert!(stored <= known, "{tag} cycle {cycle}: {stored} rows but only {known} appends were ever sent");
}

#[test]
fn acknowledged_mutations_survive_sigkill_exactly_once_on_sqlite() {
    crash_cycles("sqlite", &[]);
}

#[test]
fn acknowledged_mutations_survive_sigkill_exactly_once_on_postgres() {
    let base = std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: start a test server with `scripts/postgres.sh start` and export the URL it prints, or run ./scripts/test.sh",
    );
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("hull_crash_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}schema={schema}");
    crash_cycles("postgres", &["--db", &url]);
}
