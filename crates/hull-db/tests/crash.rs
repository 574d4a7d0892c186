//! A child process commits in a loop from several threads and is killed with SIGKILL at a
//! random moment, again and again on the same store (an SQLite file, or a PostgreSQL schema). After each kill, every commit
//! the child saw acknowledged must be present, the store must open cleanly, and commit
//! timestamps must keep increasing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hull_values::Value;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "HULL_CRASH_TEST_CHILD_DIR";
const ACK: &str = "HULL-ACK ";
const WRITER_THREADS: i64 = 4;

/// Where the store lives: `sqlite:<dir>` or `postgres:<schema>`.
fn open_target(target: &str) -> hull_db::Database {
    match target.split_once(':') {
        Some(("sqlite", dir)) => open_sqlite(std::path::Path::new(dir)),
        Some(("postgres", schema)) => hull_db::Database::open(std::sync::Arc::new(open_postgres(schema))).unwrap(),
        _ => panic!("bad crash target {target}"),
    }
}

/// The child: the parent re-executes this test binary to run it, with `CHILD_ENV` set.
#[test]
#[ignore = "child process of the acknowledged_commits_survive_sigkill tests, not a test of its own"]
fn crash_child_writer() {
    let target = std::env::var(CHILD_ENV).expect("run by acknowledged_commits_survive_sigkill");
    let db = open_target(&target);
    let round: i64 = std::env::var("HULL_CRASH_ROUND").unwrap().parse().unwrap();
    std::thread::scope(|scope| {
        for thread in 0..WRITER_THREADS {
            let db = db.clone();
            scope.spawn(move || {
                for sequence in 0.. {
                    let fields = object(&[("round", i(round)), ("thread", i(thread)), ("seq", i(sequence)), ("pad", s(&"x".repeat(200)))]);
                    let (id, ts) = db.run(0, |tx| tx.insert("log", fields.clone())).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{ACK}{id} {ts}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn acknowledged_commits_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    survives_sigkill(&format!("sqlite:{}", dir.path().display()));
}

#[test]
fn acknowledged_commits_survive_sigkill_on_postgres() {
    survives_sigkill(&format!("postgres:{}", fresh_postgres_schema()));
}

fn survives_sigkill(target: &str) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(std::env::var("HULL_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(3));
    let mut acknowledged: Vec<(String, u64)> = Vec::new();
    let mut last_ts = 0u64;
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child_writer", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, target)
            .env("HULL_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let acks_before_kill = rng.random_range(0..300);
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(50..1500));
        let mut seen = 0;
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split(ACK).nth(1) {
                    let (id, ts) = rest.split_once(' ').unwrap();
                    acks.push((id.to_string(), ts.parse::<u64>().unwrap()));
                }
            }
            acks
        });
        // Kill after a random delay or a random number of acks, whichever first.
        while Instant::now() < deadline && seen < acks_before_kill {
            std::thread::sleep(Duration::from_millis(5));
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        acknowledged.extend(acks);

        let db = open_target(target);
        let mut tx = db.begin();
        for (position, (id, ts)) in acknowledged.iter().enumerate() {
            // A fresh transaction per 1000 reads keeps each within the read-set limit.
            if position % 1000 == 0 {
                tx = db.begin();
            }
            let id = hull_values::DocumentId::decode(id).unwrap();
            let document = tx.get(id).unwrap().unwrap_or_else(|| panic!("round {round}: acknowledged commit {id} at ts {ts} lost"));
            assert_eq!(document.object().get("pad"), Some(&Value::String("x".repeat(200))));
        }
        let max_acked = acknowledged.iter().map(|(_, ts)| *ts).max().unwrap_or(0);
        assert!(db.latest_ts().0 >= max_acked && db.latest_ts().0 >= last_ts, "round {round}: timestamps went backwards");
        // The store accepts new commits after recovery, at a later timestamp.
        let (_, ts) = db.run(0, |tx| tx.insert("after_crash", object(&[("round", i(round))]))).unwrap();
        assert!(ts.0 > max_acked.max(last_ts));
        last_ts = ts.0;
    }
    assert!(acknowledged.len() > 20, "too few acknowledged commits ({}) to mean anything", acknowledged.len());
    eprintln!("{target}: {} acknowledged commits survived 12 SIGKILLs", acknowledged.len());
}

/// Two processes on one PostgreSQL schema: the primary commits, a standby waits for the writer
/// lock; the primary is SIGKILLed; the standby takes over within a bounded time with every
/// acknowledged commit present, and commits itself.
#[test]
fn a_standby_takes_over_when_the_primary_dies() {
    let schema = fresh_postgres_schema();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_writer", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, format!("postgres:{schema}"))
        .env("HULL_CRASH_ROUND", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let acks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let reader_acks = acks.clone();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split(ACK).nth(1) {
                reader_acks.lock().unwrap().push(rest.split_once(' ').unwrap().0.to_string());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "the primary never committed");
        std::thread::sleep(Duration::from_millis(10));
    }

    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let standby_schema = schema.clone();
    let standby = std::thread::spawn(move || {
        let store = hull_store_postgres::PostgresPersistence::open_waiting(&postgres_url(), &standby_schema, Some(Duration::from_secs(60)), &|| {}).unwrap();
        let db = hull_db::Database::open(std::sync::Arc::new(store)).unwrap();
        opened_tx.send(Instant::now()).unwrap();
        db
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(opened_rx.try_recv().is_err(), "the standby must not open while the primary lives");

    child.kill().unwrap(); // SIGKILL
    let killed_at = Instant::now();
    child.wait().unwrap();
    reader.join().unwrap();
    let opened_at = opened_rx.recv_timeout(Duration::from_secs(30)).expect("the standby took over");
    let takeover = opened_at.saturating_duration_since(killed_at);
    eprintln!("standby took over {takeover:?} after the primary was killed");
    assert!(takeover < Duration::from_secs(10), "takeover took {takeover:?}");

    let db = standby.join().unwrap();
    let acknowledged = acks.lock().unwrap().clone();
    for chunk in acknowledged.chunks(1000) {
        let mut tx = db.begin();
        for id in chunk {
            let id = hull_values::DocumentId::decode(id).unwrap();
            assert!(tx.get(id).unwrap().is_some(), "acknowledged commit {id} lost in the failover");
        }
    }
    db.run(0, |tx| tx.insert("after_failover", object(&[]))).unwrap();
}
