//! Acknowledged writes survive the writer process being killed at a random point.
//!
//! The test re-executes its own binary as a child process (selected by an environment variable)
//! that opens the store with `Durability::Full` and commits batches at increasing timestamps,
//! printing each timestamp only after `write` returned `Ok`. The parent kills the child with
//! SIGKILL after a random number of acknowledgements or a random delay, reopens the store and
//! checks that it opens cleanly, that every acknowledged commit is there, and that every commit
//! that is there is whole (its document and both of its index rows). Twenty rounds append to
//! the same file, each child continuing after the store's `max_ts`.
//!
//! SIGKILL loses what the process had not handed to the kernel; it cannot lose what is in the
//! page cache, so this checks atomicity and that acknowledgement comes after the commit reached
//! the kernel, not the fsync itself (power loss is not testable here).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hull_store::{DocumentKey, DocumentRow, IndexId, IndexRow, KeyRange, Order, Persistence, Timestamp, WriteBatch};
use hull_store_sqlite::{Durability, SqlitePersistence};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Set in the child's environment to the database path: the test then runs the writer.
const CHILD_ENV: &str = "HULL_STORE_SQLITE_CRASH_CHILD_DATABASE";
const TEST_NAME: &str = "acknowledged_writes_survive_sigkill";
const ROUNDS: usize = 20;
/// Precedes each acknowledged timestamp on the child's stdout.
const ACK: &str = "hull-crash-test-ack:";

fn document(ts: u64) -> DocumentKey {
    DocumentKey { table: 10001, id: u128::from(ts).to_be_bytes() }
}

/// The one document a commit at `ts` writes; sizes vary so commits span different page counts.
fn value(ts: u64) -> String {
    format!(r#"{{"ts":{ts},"pad":"{}"}}"#, "x".repeat((ts % 7) as usize * 1500))
}

fn secondary_key(ts: u64) -> Vec<u8> {
    let mut key = vec![(ts % 13) as u8];
    key.extend_from_slice(&ts.to_be_bytes());
    key
}

fn commit(ts: u64) -> WriteBatch {
    let key = document(ts);
    WriteBatch {
        documents: vec![DocumentRow { ts: Timestamp(ts), key, value: Some(value(ts)), prev_ts: None }],
        index_rows: vec![
            IndexRow { index: IndexId(1), key: ts.to_be_bytes().to_vec(), ts: Timestamp(ts), document: Some(key) },
            IndexRow { index: IndexId(2), key: secondary_key(ts), ts: Timestamp(ts), document: Some(key) },
        ],
        globals: vec![("last".into(), ts.to_string())],
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    match std::env::var_os(CHILD_ENV) {
        Some(path) => child_writer(Path::new(&path)),
        None => parent(),
    }
}

/// Commits forever; the parent kills it.
fn child_writer(path: &Path) {
    let store = SqlitePersistence::open(path, Durability::Full).expect("the child opens the store");
    let mut ts = store.max_ts().expect("reading max_ts").map_or(1, |ts| ts.0 + 1);
    loop {
        store.write(&commit(ts)).expect("the child writes");
        // Printed only now that the write is acknowledged. Straight to the stdout handle, which
        // the test harness does not capture.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ACK}{ts}").and_then(|()| out.flush()).expect("writing to the parent");
        ts += 1;
    }
}

fn parent() {
    let seed = std::env::var("HULL_TEST_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hull.sqlite3");
    let mut acknowledged_total = 0;
    let mut log_end = 0;
    let mut refusals_checked = 0;
    let mut unacknowledged_survivors = 0;
    let mut killed_before_first_ack = 0;
    for round in 0..ROUNDS {
        let context = format!("seed {seed} (set HULL_TEST_SEED to replay), round {round}");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (acks_tx, acks) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                // The harness prints too, and its "test <name> ... " has no newline before the
                // first acknowledgement.
                if let Some((_, ts)) = line.unwrap().split_once(ACK) {
                    acks_tx.send(ts.parse::<u64>().unwrap()).unwrap();
                }
            }
        });

        let mut round_acks = Vec::new();
        let mode = rng.random_range(0..5);
        if mode < 2 {
            // Kill after a random number of acknowledged writes.
            let wanted = rng.random_range(1..40);
            let deadline = Instant::now() + Duration::from_secs(20);
            while round_acks.len() < wanted {
                let left = deadline.saturating_duration_since(Instant::now());
                match acks.recv_timeout(left) {
                    Ok(ts) => round_acks.push(ts),
                    Err(err) => {
                        let _ = child.kill();
                        panic!("{context}: waiting for acknowledgement {}: {err}", round_acks.len() + 1);
                    }
                }
            }
            // While the child holds the store, opening it here must fail, naming the owner.
            let err = SqlitePersistence::open(&path, Durability::Full).expect_err("the child owns the store");
            assert_eq!(err.short, "DatabaseInUse", "{context}");
            let expected = format!("is in use by another Hull process (pid {})", child.id());
            assert!(err.message.contains(&expected), "{context}: {}", err.message);
            refusals_checked += 1;
        } else {
            // Kill after a random delay from the spawn; the shortest ones land while the child
            // starts or opens the store.
            let delay_us = if mode == 2 { rng.random_range(0..8_000) } else { rng.random_range(8_000..120_000) };
            std::thread::sleep(Duration::from_micros(delay_us));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "{context}: the child ended on its own: {status}");
        reader.join().unwrap();
        round_acks.extend(acks.try_iter());
        // The child continues right after the log's end, one timestamp per commit.
        let continued: Vec<u64> = (log_end + 1..).take(round_acks.len()).collect();
        assert_eq!(round_acks, continued, "{context}: acknowledged timestamps");
        acknowledged_total += round_acks.len();
        let new_end = check_store(&path, &context);
        // Every acknowledged commit is there, and at most one more: written, not yet acknowledged.
        let acknowledged_end = log_end + round_acks.len() as u64;
        assert!(
            new_end == acknowledged_end || new_end == acknowledged_end + 1,
            "{context}: the log ends at {new_end}, acknowledged up to {acknowledged_end}"
        );
        unacknowledged_survivors += usize::from(new_end == acknowledged_end + 1);
        killed_before_first_ack += usize::from(round_acks.is_empty());
        log_end = new_end;
    }
    println!(
        "seed {seed}: {ROUNDS} kills, {acknowledged_total} acknowledged commits, {unacknowledged_survivors} \
         unacknowledged commits survived, {killed_before_first_ack} kills before the first acknowledgement"
    );
    assert!(refusals_checked > 0 || ROUNDS < 10, "seed {seed}: no round checked the lock");
    assert!(acknowledged_total >= ROUNDS, "seed {seed}: only {acknowledged_total} writes were acknowledged");
}

/// Reopens the store, checks that every commit in it is whole, and returns the log's end.
fn check_store(path: &Path, context: &str) -> u64 {
    let store = SqlitePersistence::open(path, Durability::Full).unwrap_or_else(|err| panic!("{context}: reopening: {err}"));
    let log = store.load_documents(None, Timestamp::MAX, usize::MAX).unwrap();
    let present: Vec<u64> = log.iter().map(|row| row.ts.0).collect();
    let max = present.last().copied().unwrap_or(0);
    assert_eq!(present, (1..=max).collect::<Vec<_>>(), "{context}: the log has holes");
    assert_eq!(store.max_ts().unwrap(), (max > 0).then_some(Timestamp(max)), "{context}");
    let last = store.get_global("last").unwrap();
    assert_eq!(last, (max > 0).then(|| max.to_string()), "{context}: the global disagrees with the log");
    for row in &log {
        let ts = row.ts.0;
        assert_eq!(row.value.as_deref(), Some(value(ts).as_str()), "{context}: document at {ts}");
        for (index, key) in [(1, ts.to_be_bytes().to_vec()), (2, secondary_key(ts))] {
            let page = store.index_scan(IndexId(index), Timestamp::MAX, &KeyRange::exact(&key), Order::Asc, 1).unwrap();
            assert_eq!(page.entries.len(), 1, "{context}: index {index} row of the commit at {ts}");
            assert_eq!(page.entries[0].document, *row, "{context}");
        }
    }
    // No index row without its commit.
    let page = store.index_scan(IndexId(2), Timestamp::MAX, &KeyRange::all(), Order::Desc, usize::MAX).unwrap();
    assert_eq!(page.entries.len(), log.len(), "{context}: index 2 has rows of missing commits");
    max
}
