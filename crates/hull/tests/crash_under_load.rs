//! Crash safety under load: `hull serve` takes mutations from several concurrent HTTP clients
//! and is killed with SIGKILL at a random moment, cycle after cycle, on SQLite and on
//! PostgreSQL. After each restart, every mutation a client saw acknowledged is present exactly
//! once, a mutation that was not acknowledged is present at most once, and no half-transaction is
//! visible: each mutation (hull-js's `tests/projects/reliability`, `ledger:append`) writes one
//! row to each of two tables, which must hold exactly the same rows.
//!
//! The WebSocket half does the same with real `ConvexClient`s (`tests/js/crash_ws_client.cjs`),
//! which outlive the server: each kill drops their sockets, the server restarts on the same port,
//! and each client reconnects by itself and resends every mutation it has no answer for under
//! the same `(sessionId, requestId)`, including ones that committed just before the kill. After
//! they settle, every mutation is present exactly once (the durable `_session_requests` record
//! answers the resends of committed ones), the tables mirror each other, and each client's live
//! `ledger:count` subscription, held across the kill, equals the stored truth.
//!
//! `HULL_CRASH_CYCLES` sets the number of kill cycles (default 4; a release check soaks with
//! hundreds). The PostgreSQL half needs `TEST_POSTGRES_URL` (scripts/test.sh provides it).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::{fixture, free_ports, hull, http, node_modules, require_node, serve, serve_on, try_http, Server};

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

/// The HTTP writers' client names.
fn http_clients() -> Vec<String> {
    (0..WRITERS).map(|writer| format!("writer-{writer}")).collect()
}

/// A multiset of (client, seq) rows.
type Rows = BTreeMap<(String, u64), usize>;

/// `clients`' `(entries, mirror)` rows, read page by page through the deployed query.
fn dump(server: &Server, admin_key: &str, clients: &[String]) -> (Rows, Rows) {
    let (mut entries, mut mirror) = (BTreeMap::new(), BTreeMap::new());
    for client in clients {
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

fn cycles() -> usize {
    std::env::var("HULL_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(DEFAULT_CYCLES)
}

/// Deploys the fixture into `temp/data` on the store `extra` selects; the data directory and an
/// admin key.
fn deploy(temp: &Path, extra: &[&str]) -> (PathBuf, String) {
    let data_dir = temp.join("data");
    let data = data_dir.to_str().unwrap();
    let mut deploy = vec!["deploy-push-request", "--data-dir", data];
    deploy.extend(extra);
    let fixture = fixture("reliability");
    deploy.push(fixture.to_str().unwrap());
    hull(&deploy);
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    (data_dir, admin_key)
}

/// Runs the kill cycles against the store `extra` selects (`--db ...`, or none for SQLite).
fn crash_cycles(tag: &str, extra: &[&str]) {
    let cycles = cycles();
    let temp = tempfile::tempdir().unwrap();
    let (data_dir, admin_key) = deploy(temp.path(), extra);
    let writes: Vec<Arc<Mutex<Writes>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let mut next_seq = [0u64; WRITERS];

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
    let (entries, mirror) = dump(server, admin_key, &http_clients());
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
    crash_cycles("postgres", &["--db", &support::postgres_url_with_fresh_schema("crash")]);
}

#[test]
fn websocket_mutations_are_exactly_once_across_sigkill_and_resend_on_sqlite() {
    ws_crash_cycles("sqlite", &[]);
}

#[test]
fn websocket_mutations_are_exactly_once_across_sigkill_and_resend_on_postgres() {
    ws_crash_cycles("postgres", &["--db", &support::postgres_url_with_fresh_schema("crash")]);
}

// ---------------------------------------------------------------------------------------------
// WebSocket clients.

/// WebSocket writers: each a `ConvexClient` of its own (its own session).
const WS_WRITERS: usize = 4;
/// Mutations each WebSocket writer keeps in flight: those are resent after a kill.
const WS_IN_FLIGHT: usize = 3;
/// The restart comes this long after the kill, at random (the clients notice the drop and start
/// retrying with their own backoff).
const WS_RESTART_AFTER_MS: std::ops::Range<u64> = 0..300;
/// Bound on waiting for one event from the clients (a pause waits for the reconnect backoff).
const WS_EVENT_TIMEOUT: Duration = Duration::from_secs(90);
/// What `hull serve` logs (at debug level for `hull_app`) for each resend it answers from the
/// durable record.
const REPLAY_LOG: &str = "mutation resend answered from _session_requests";

/// What the WebSocket clients reported so far, over all cycles.
#[derive(Default)]
struct WsLedger {
    /// Per client, the sequence numbers whose mutation resolved.
    acknowledged: BTreeMap<String, BTreeSet<u64>>,
    /// Per client, those the server rejected.
    failed: BTreeMap<String, BTreeSet<u64>>,
    /// Mutations unresolved when a socket dropped: each was resent on the next socket.
    resent: usize,
}

impl WsLedger {
    fn record(&mut self, event: &Json) {
        let entry = |event: &Json| (event[0].as_str().unwrap().to_owned(), event[1].as_u64().unwrap());
        if let Some(ack) = event.get("ack") {
            let (client, seq) = entry(ack);
            assert!(self.acknowledged.entry(client.clone()).or_default().insert(seq), "{client}/{seq} resolved twice");
        } else if let Some(failed) = event.get("failed") {
            let (client, seq) = entry(failed);
            self.failed.entry(client).or_default().insert(seq);
        } else if let Some(inflight) = event.get("inflight") {
            self.resent += inflight.as_u64().unwrap() as usize;
        }
    }
}

/// The node process running the clients (`tests/js/crash_ws_client.cjs`), killed on drop.
struct WsClients {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Json>,
    stderr_path: PathBuf,
}

impl WsClients {
    fn start(server: &Server, stderr_path: PathBuf) -> WsClients {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/crash_ws_client.cjs");
        let mut child = Command::new("node")
            .arg(script)
            .args([server.url(), WS_WRITERS.to_string(), WS_IN_FLIGHT.to_string()])
            .env("NODE_PATH", node_modules())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = serde_json::from_str(&line).unwrap_or(Json::String(line));
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        WsClients { child, stdin, events, stderr_path }
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Records events until one has the field `key` (or is the string `key`), and returns it.
    fn wait_for(&mut self, key: &str, ledger: &mut WsLedger, server: &Server) -> Json {
        let deadline = Instant::now() + WS_EVENT_TIMEOUT;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let event = self.events.recv_timeout(remaining).unwrap_or_else(|error| {
                let clients = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
                panic!("waiting for {key:?} from the WebSocket clients: {error}\nclients' stderr:\n{clients}\nserver stderr:\n{}", server.stderr())
            });
            ledger.record(&event);
            if event.get(key).is_some() || event.as_str() == Some(key) {
                return event;
            }
        }
    }
}

impl Drop for WsClients {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resends a server answered from the durable record, from its log.
fn replays_logged(server: &Server) -> usize {
    server.stderr().matches(REPLAY_LOG).count()
}

/// The WebSocket kill cycles against the store `extra` selects: the clients write, the server is
/// killed and restarted on the same ports, the clients reconnect, resend and settle, and the
/// stored rows and the subscriptions are checked.
fn ws_crash_cycles(tag: &str, extra: &[&str]) {
    require_node();
    let cycles = cycles();
    let temp = tempfile::tempdir().unwrap();
    let (data_dir, admin_key) = deploy(temp.path(), extra);
    let ports = free_ports();
    let env = [("RUST_LOG", "info,hull_app=debug")];
    let start = |instance: usize| {
        let logs = temp.path().join(format!("server-{instance}"));
        std::fs::create_dir_all(&logs).unwrap();
        serve_on(&data_dir, &logs, extra, ports, &env)
    };
    let mut server = start(0);
    let mut clients = WsClients::start(&server, temp.path().join("clients.stderr"));
    let mut ledger = WsLedger::default();
    let mut replays = 0;
    for cycle in 0..cycles {
        clients.command(&format!("run {cycle}"));
        clients.wait_for("running", &mut ledger, &server);
        std::thread::sleep(Duration::from_millis(rand::random_range(KILL_AFTER_MS)));
        server.kill();
        replays += replays_logged(&server);
        std::thread::sleep(Duration::from_millis(rand::random_range(WS_RESTART_AFTER_MS)));
        server = start(cycle + 1);
        clients.command("pause");
        let paused = clients.wait_for("paused", &mut ledger, &server);
        ws_check(tag, cycle, &server, &admin_key, &ledger, &paused);
    }
    clients.command("exit");
    clients.wait_for("ok", &mut ledger, &server);
    replays += replays_logged(&server);
    let acknowledged: usize = ledger.acknowledged.values().map(BTreeSet::len).sum();
    let failed: usize = ledger.failed.values().map(BTreeSet::len).sum();
    eprintln!(
        "{tag}: {cycles} SIGKILL cycles with WebSocket clients, {acknowledged} acknowledged mutations all present once, \
         {} resent after a reconnect ({replays} answered from _session_requests), {failed} rejected",
        ledger.resent
    );
    assert!(acknowledged >= cycles, "{tag}: the WebSocket writers barely wrote ({acknowledged} acknowledged in {cycles} cycles)");
}

/// The invariants once the clients have settled everything they sent: each stored row is there
/// once and was acknowledged (or rejected: at most once), each acknowledged one is stored, the
/// tables mirror each other, and each client's subscription shows what is stored.
fn ws_check(tag: &str, cycle: usize, server: &Server, admin_key: &str, ledger: &WsLedger, paused: &Json) {
    let clients: Vec<String> = (0..WS_WRITERS).map(|writer| format!("ws-writer-{writer}")).collect();
    let (entries, mirror) = dump(server, admin_key, &clients);
    assert_eq!(entries, mirror, "{tag} cycle {cycle}: a half-written transaction is visible");
    let none = BTreeSet::new();
    for ((client, seq), copies) in &entries {
        assert_eq!(*copies, 1, "{tag} cycle {cycle}: {client}/{seq} is present {copies} times (a resend ran again)");
        let known = ledger.acknowledged.get(client).unwrap_or(&none).contains(seq) || ledger.failed.get(client).unwrap_or(&none).contains(seq);
        assert!(known, "{tag} cycle {cycle}: {client}/{seq} is stored but its mutation never resolved");
    }
    for (client, seqs) in &ledger.acknowledged {
        for seq in seqs {
            assert!(entries.contains_key(&(client.clone(), *seq)), "{tag} cycle {cycle}: acknowledged {client}/{seq} is missing");
        }
    }
    for report in paused["writers"].as_array().unwrap() {
        let client = report["client"].as_str().unwrap();
        let base = report["base"].as_f64().unwrap();
        let stored = entries.keys().filter(|(c, seq)| c == client && *seq as f64 > base).count() as u64;
        let count = &report["count"];
        assert_eq!(
            (count["entries"].as_u64(), count["mirror"].as_u64()),
            (Some(stored), Some(stored)),
            "{tag} cycle {cycle}: {client}'s subscription shows {count} after settling, but {stored} rows are stored"
        );
    }
}
