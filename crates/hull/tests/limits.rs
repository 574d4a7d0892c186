//! Every per-call limit, crossed through the real server: hull-js's `tests/projects/limits`
//! fixture is deployed, `hull serve` runs it, and each test calls one function that crosses one
//! limit over `POST /api/query|mutation|action` (what `ConvexHttpClient` sends). Each must fail
//! with upstream's message, write nothing, and leave the server serving.
//!
//! The sync socket's own limits (an oversized frame, too many queries or queued mutations on one
//! socket) and the
//! connection cap are crossed at the end, with the official `ConvexClient` watching a query the
//! whole time (`tests/js/limits_ws.cjs`): its subscription must keep updating.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};

use serde_json::{json, Value};
use support::{fixture, hull, http, run_node_script, serve, Server};

struct Deployment {
    _temp: tempfile::TempDir,
    server: Server,
}

fn deployed(extra: &[&str]) -> Deployment {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let data = data_dir.to_str().unwrap();
    hull(&["deploy-push-request", "--data-dir", data, fixture("limits").to_str().unwrap()]);
    let server = serve(&data_dir, temp.path(), extra);
    Deployment { _temp: temp, server }
}

/// Calls `path` the way `ConvexHttpClient` does; the `{"status": ...}` answer.
fn call(server: &Server, kind: &str, path: &str, args: Value) -> Value {
    let body = json!({"path": path, "args": args, "format": "json"}).to_string();
    let (status, answer) = http(server.port, "POST", &format!("/api/{kind}"), &[("Content-Type", "application/json")], body);
    assert_eq!(status, 200, "{path}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

fn value(server: &Server, kind: &str, path: &str, args: Value) -> Value {
    let answer = call(server, kind, path, args);
    assert_eq!(answer["status"], "success", "{path}: {answer}");
    answer["value"].clone()
}

/// The error message of a call that must fail, without the `[Request ID: ...] Server Error`
/// line that precedes it on the wire.
fn error(server: &Server, kind: &str, path: &str, args: Value) -> String {
    let answer = call(server, kind, path, args);
    assert_eq!(answer["status"], "error", "{path} succeeded: {answer}");
    let message = answer["errorMessage"].as_str().unwrap();
    let message = message.split_once("] Server Error\n").map_or(message, |(_, rest)| rest);
    message.trim_end().to_owned()
}

/// The server still runs functions after a limit was crossed.
fn still_serves(server: &Server) {
    value(server, "mutation", "limits:addNote", json!({"text": "after"}));
    assert!(value(server, "query", "limits:notes", json!({})).as_array().unwrap().contains(&json!("after")));
}

const MIB: usize = 1 << 20;

#[test]
fn documents_written_per_transaction_are_capped_at_16000() {
    let d = deployed(&[]);
    let message = error(&d.server, "mutation", "limits:writeRows", json!({"n": 16_001}));
    assert!(
        message.contains("Too many documents written in a single function execution (limit: 16000)"),
        "{message}"
    );
    assert_eq!(value(&d.server, "query", "limits:countAll", json!({"table": "rows"})), json!(0.0), "nothing was written");
    still_serves(&d.server);
}

#[test]
fn bytes_written_per_transaction_are_capped_at_16_mib_and_documents_at_1_mib() {
    let d = deployed(&[]);
    // 19 documents of 900 KiB: 17.1 MiB in one mutation.
    let message = error(&d.server, "mutation", "limits:writeBlobs", json!({"count": 19}));
    assert!(message.contains("Too many bytes written in a single function execution (limit: 16777216 bytes)"), "{message}");
    let message = error(&d.server, "mutation", "limits:writeHugeDocument", json!({}));
    assert!(message.contains("Document is too large"), "{message}");
    assert_eq!(value(&d.server, "query", "limits:countAll", json!({"table": "rows"})), json!(0.0));
    still_serves(&d.server);
}

#[test]
fn reads_per_transaction_are_capped_by_bytes_and_by_index_ranges() {
    let d = deployed(&[]);
    // 18 × 900 KiB = 15.8 MiB stored over two mutations; reading them all crosses 16 MiB
    // (system fields and the size metric's overhead included).
    value(&d.server, "mutation", "limits:writeBlobs", json!({"count": 9}));
    value(&d.server, "mutation", "limits:writeBlobs", json!({"count": 9}));
    value(&d.server, "mutation", "limits:writeBlobs", json!({"count": 1}));
    let message = error(&d.server, "query", "limits:countAll", json!({"table": "blobs"}));
    assert!(message.contains("Too many bytes read in a single function execution (limit: 16777216 bytes)"), "{message}");
    // 4,097 separate index lookups (the table may be empty: each lookup is a range read).
    let message = error(&d.server, "query", "limits:lookups", json!({"n": 4097}));
    assert!(message.contains("Too many reads in a single function execution (limit: 4096)"), "{message}");
    assert_eq!(value(&d.server, "query", "limits:lookups", json!({"n": 4096})), json!(0.0), "4,096 lookups are allowed");
    still_serves(&d.server);
}

#[test]
fn documents_read_per_transaction_are_capped_at_32000() {
    let d = deployed(&[]);
    value(&d.server, "mutation", "limits:writeRows", json!({"n": 16_000}));
    value(&d.server, "mutation", "limits:writeRows", json!({"n": 16_000, "from": 16_000}));
    value(&d.server, "mutation", "limits:writeRows", json!({"n": 1, "from": 32_000}));
    let message = error(&d.server, "query", "limits:countAll", json!({"table": "rows"}));
    assert!(message.contains("Too many documents read in a single function execution (limit: 32000)"), "{message}");
    still_serves(&d.server);
}

#[test]
fn user_code_time_and_memory_are_capped() {
    let d = deployed(&[]);
    let message = error(&d.server, "query", "limits:spin", json!({}));
    assert!(message.contains("Function execution timed out (maximum duration: 1s)"), "{message}");
    let message = error(&d.server, "query", "limits:hog", json!({}));
    assert!(message.contains("JavaScript execution ran out of memory (maximum memory usage: 64 MB)"), "{message}");
    still_serves(&d.server);
}

#[test]
fn log_lines_stop_at_256_with_an_overflow_line() {
    let d = deployed(&[]);
    let answer = call(&d.server, "query", "limits:chatty", json!({"n": 300}));
    assert_eq!(answer["status"], "success", "{answer}");
    let lines = answer["logLines"].as_array().unwrap();
    assert_eq!(lines.len(), hull_js::MAX_LOG_LINES + 1, "256 lines and the overflow notice");
    assert!(lines[0].as_str().unwrap().contains("line 0"), "{}", lines[0]);
    assert!(lines[255].as_str().unwrap().contains("line 255"), "{}", lines[255]);
    assert!(lines[256].as_str().unwrap().contains("Log overflow (maximum 256 lines)"), "{}", lines[256]);
}

#[test]
fn return_values_and_arguments_are_capped_at_16_mib() {
    let d = deployed(&[]);
    let server = &d.server;
    // A string of exactly 16 MiB has a size of 16 MiB + 2.
    let message = error(server, "query", "limits:bigResult", json!({"bytes": 16 * MIB}));
    assert_eq!(message, "Function limits.js:bigResult return value is too large (actual: 16 MiB, limit: 16 MiB)");
    let message = error(server, "query", "limits:bigResult", json!({"bytes": 16 * MIB + MIB / 2}));
    assert_eq!(message, "Function limits.js:bigResult return value is too large (actual: 16.5 MiB, limit: 16 MiB)");
    assert_eq!(value(server, "query", "limits:bigResult", json!({"bytes": 8})), json!("yyyyyyyy"));
    // A mutation that returns too much commits nothing.
    let message = error(server, "mutation", "limits:writeThenReturnTooMuch", json!({"bytes": 17 * MIB}));
    assert!(message.contains("return value is too large"), "{message}");
    assert_eq!(value(server, "query", "limits:notes", json!({})), json!([]));
    // Inside an action the failure is an error its caller can catch.
    let caught = value(server, "action", "limits:catchNestedBigResult", json!({"bytes": 17 * MIB}));
    assert!(caught.as_str().unwrap().contains("Function limits.js:bigResult return value is too large"), "{caught}");
    // Arguments: the one-element arguments array is measured, before the validator runs.
    let message = error(server, "query", "limits:echoLength", json!({"payload": "z".repeat(16 * MIB)}));
    assert_eq!(message, "Arguments for limits.js:echoLength are too large (actual: 16 MiB, limit: 16 MiB)");
    assert_eq!(value(server, "query", "limits:echoLength", json!({"payload": "z".repeat(MIB)})), json!(MIB as f64));
    // Beyond the request size the HTTP layer refuses first (413).
    let body = json!({"path": "limits:echoLength", "args": {"payload": "z".repeat(17 * MIB)}}).to_string();
    let (status, answer) = http(server.port, "POST", "/api/query", &[("Content-Type", "application/json")], body);
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("PayloadTooLarge"), "{answer}");
    still_serves(server);
}

#[test]
fn socket_limits_close_only_the_offending_socket() {
    support::require_node();
    let d = deployed(&[]);
    run_node_script("limits_ws.cjs", &json!({
        "url": d.server.url(),
        "maxQueries": hull_sync::state::MAX_QUERIES_PER_SOCKET,
        "maxModifications": hull_sync::protocol::MAX_MODIFICATIONS_PER_MESSAGE,
        "maxMutationsQueued": hull_server::SYNC_MAX_MUTATIONS_QUEUED,
    }), &d.server);
}

#[test]
fn connections_over_the_cap_are_refused_with_503_and_served_ones_keep_working() {
    let d = deployed(&["--max-connections", "4"]);
    let port = d.server.port;
    // Three idle connections and one keep-alive client hold the four places.
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap()).collect();
    let mut kept = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let request = format!("GET /version HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    kept.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let (status, answer) = http(port, "GET", "/version", &[], "");
    assert_eq!(status, 503, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["code"], "TooManyConnections");
    assert_eq!(answer["message"], hull_server::too_many_connections_message(4));

    // The clients already connected are served, and a freed place is taken at once.
    drop(idle);
    let mut served = false;
    for _ in 0..100 {
        if http(port, "GET", "/version", &[], "").0 == 200 {
            served = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(served, "closed connections did not give their places back");
}
