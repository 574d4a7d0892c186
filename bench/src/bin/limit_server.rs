//! `limit_server`: "the limit" of the end-to-end benchmark (`bench/src/e2e`). The same JSON
//! endpoints as the Node baseline (`bench/node/server.mjs`) on axum + rusqlite, with no
//! function runtime, no MVCC, no validation: how fast this machine answers the same requests
//! over the same SQLite with the same durability (WAL, `synchronous=FULL`).
//!
//!     limit_server <port> <database file>
//!
//! Reads run inline on the tokio workers, each with its own connection (a point read is a few
//! microseconds, less than handing it to another thread). Writes go to one writer thread that
//! commits everything waiting in one transaction (group commit, like Hull's committer), so the
//! limit for durable inserts is one fsync per group, not per insert. A change of the counter
//! `fanout` is broadcast to every `/ws` subscriber.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::mpsc as std_mpsc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

const PAYLOAD: &str = "The quick brown fox jumps over the lazy dog; a payload of about 100 bytes of text per document.";
/// The counter `/ws` subscribers watch.
const WATCHED_COUNTER: &str = "fanout";
/// Writes committed in one transaction at most (a bound on a group's size and latency).
const GROUP_WRITES_MAX: usize = 1024;
/// Read and write buffer of one `/ws` socket: the same 8 KiB as Hull's sync sockets (tungstenite
/// defaults to 128 KiB each way, which made 10,000 idle sockets cost over a gigabyte).
const SOCKET_BUFFER_BYTES: usize = 8 * 1024;
/// Counter values a slow `/ws` subscriber may lag behind before it skips to the newest.
const BROADCAST_CAPACITY: usize = 16;

static DATABASE: OnceLock<PathBuf> = OnceLock::new();

fn open() -> Connection {
    let conn = Connection::open(DATABASE.get().expect("database path set")).expect("open the database");
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"), "not in WAL mode: {mode}");
    conn.pragma_update(None, "synchronous", "FULL").expect("synchronous=FULL");
    conn.busy_timeout(std::time::Duration::from_secs(60)).expect("busy_timeout");
    conn.set_prepared_statement_cache_capacity(32);
    conn
}

thread_local! {
    static READER: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

fn with_reader<T>(f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    READER.with(|cell| f(cell.borrow_mut().get_or_insert_with(open)))
}

fn document(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({"_id": row.get::<_, i64>(0)?, "k": row.get::<_, f64>(1)?, "payload": row.get::<_, String>(2)?}))
}

/// A write for the writer thread, with where its answer goes.
enum WriteOp {
    Insert { k: f64 },
    InsertMany { start: f64, count: u32, return_ids: bool },
    Increment { name: String },
    ReadWrite { id: i64, k: f64 },
}

type Reply = oneshot::Sender<Result<Value, String>>;

#[derive(Clone)]
struct AppState {
    writes: std_mpsc::Sender<(WriteOp, Reply)>,
    watched: broadcast::Sender<i64>,
}

fn apply(tx: &rusqlite::Transaction<'_>, write: &WriteOp, watched: &mut Option<i64>) -> Result<Value, String> {
    let insert = |k: f64| -> Result<i64, String> {
        tx.prepare_cached("INSERT INTO docs (k, payload) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![k, PAYLOAD]))
            .map(|_| tx.last_insert_rowid())
            .map_err(|e| e.to_string())
    };
    match write {
        WriteOp::Insert { k } => insert(*k).map(Value::from),
        WriteOp::InsertMany { start, count, return_ids } => {
            let ids = (0..*count).map(|i| insert(start + f64::from(i))).collect::<Result<Vec<_>, _>>()?;
            Ok(if *return_ids { json!(ids) } else { json!(ids.len()) })
        }
        WriteOp::Increment { name } => {
            let n: i64 = tx
                .prepare_cached("INSERT INTO counters (name, n) VALUES (?1, 1) ON CONFLICT (name) DO UPDATE SET n = n + 1 RETURNING n")
                .and_then(|mut s| s.query_row(params![name], |row| row.get(0)))
                .map_err(|e| e.to_string())?;
            if name == WATCHED_COUNTER {
                *watched = Some(n);
            }
            Ok(json!(n))
        }
        WriteOp::ReadWrite { id, k } => {
            let found = tx
                .prepare_cached("SELECT id FROM docs WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], |_| Ok(())).optional())
                .map_err(|e| e.to_string())?;
            if found.is_none() {
                return Err(format!("document {id} is missing"));
            }
            insert(*k).map(Value::from)
        }
    }
}

/// The writer thread: takes every write waiting (up to `GROUP_WRITES_MAX`), applies them in
/// one transaction, commits (one fsync), then answers them all.
fn writer(receiver: std_mpsc::Receiver<(WriteOp, Reply)>, watched_sender: broadcast::Sender<i64>) {
    let mut conn = open();
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_WRITES_MAX {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut watched = None;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
        let results: Vec<_> = group.iter().map(|(write, _)| apply(&tx, write, &mut watched)).collect();
        tx.commit().expect("commit");
        for ((_, reply), result) in group.into_iter().zip(results) {
            let _ = reply.send(result);
        }
        if let Some(n) = watched {
            let _ = watched_sender.send(n);
        }
    }
}

async fn submit(state: &AppState, write: WriteOp) -> Response {
    let (reply, answer) = oneshot::channel();
    state.writes.send((write, reply)).expect("the writer thread runs");
    match answer.await.expect("the writer answers") {
        Ok(value) => Json(value).into_response(),
        Err(error) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": error}))).into_response(),
    }
}

fn read_response(result: rusqlite::Result<Value>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": error.to_string()}))).into_response(),
    }
}

fn number(query: &std::collections::HashMap<String, String>, name: &str) -> f64 {
    query.get(name).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

type Params = Query<std::collections::HashMap<String, String>>;

async fn get_document(Query(q): Params) -> Response {
    let id = number(&q, "id") as i64;
    read_response(with_reader(|c| {
        c.prepare_cached("SELECT id, k, payload FROM docs WHERE id = ?1")?.query_row(params![id], document).optional().map(|d| d.unwrap_or(Value::Null))
    }))
}

async fn range(Query(q): Params) -> Response {
    let (k, n) = (number(&q, "k"), number(&q, "n") as i64);
    read_response(with_reader(|c| {
        let mut statement = c.prepare_cached("SELECT id, k, payload FROM docs WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
        let rows = statement.query_map(params![k, n], document)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Value::Array(rows))
    }))
}

fn counter_value(name: &str) -> rusqlite::Result<i64> {
    with_reader(|c| c.prepare_cached("SELECT n FROM counters WHERE name = ?1")?.query_row(params![name], |r| r.get(0)).optional().map(|n| n.unwrap_or(0)))
}

async fn counter(Query(q): Params) -> Response {
    read_response(counter_value(q.get("name").map_or("", String::as_str)).map(Value::from))
}

fn field(body: &Value, name: &str) -> f64 {
    body[name].as_f64().unwrap_or(0.0)
}

async fn insert(State(s): State<AppState>, Json(b): Json<Value>) -> Response {
    submit(&s, WriteOp::Insert { k: field(&b, "k") }).await
}

async fn insert_many(State(s): State<AppState>, Json(b): Json<Value>) -> Response {
    submit(&s, WriteOp::InsertMany { start: field(&b, "start"), count: field(&b, "count") as u32, return_ids: false }).await
}

async fn seed(State(s): State<AppState>, Json(b): Json<Value>) -> Response {
    submit(&s, WriteOp::InsertMany { start: field(&b, "start"), count: field(&b, "count") as u32, return_ids: true }).await
}

async fn increment(State(s): State<AppState>, Json(b): Json<Value>) -> Response {
    submit(&s, WriteOp::Increment { name: b["name"].as_str().unwrap_or_default().to_owned() }).await
}

async fn read_write(State(s): State<AppState>, Json(b): Json<Value>) -> Response {
    submit(&s, WriteOp::ReadWrite { id: field(&b, "id") as i64, k: field(&b, "k") }).await
}

async fn subscribe(State(s): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let updates = s.watched.subscribe();
    upgrade.read_buffer_size(SOCKET_BUFFER_BYTES).write_buffer_size(SOCKET_BUFFER_BYTES).on_upgrade(move |socket| watch(socket, updates))
}

/// Sends the watched counter now and after every change until the socket closes. Reads the
/// socket too, or a closed connection would hold its file descriptor until the next change.
async fn watch(mut socket: WebSocket, mut updates: broadcast::Receiver<i64>) {
    let Ok(now) = counter_value(WATCHED_COUNTER) else { return };
    if socket.send(Message::Text(json!({"value": now}).to_string().into())).await.is_err() {
        return;
    }
    loop {
        let n = tokio::select! {
            update = updates.recv() => match update {
                Ok(n) => n,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
        };
        if socket.send(Message::Text(json!({"value": n}).to_string().into())).await.is_err() {
            return;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: limit_server <port> <database file>");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("the port is a number");
    DATABASE.set(PathBuf::from(file)).expect("set once");
    open()
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, k REAL NOT NULL, payload TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS docs_by_k ON docs (k);
             CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);",
        )
        .expect("create the schema");
    let (writes, receiver) = std_mpsc::channel();
    let (watched, _) = broadcast::channel(BROADCAST_CAPACITY);
    let watched_sender = watched.clone();
    std::thread::spawn(move || writer(receiver, watched_sender));
    let app = Router::new()
        .route("/healthz", get(|| async { Json("ok") }))
        .route("/get", get(get_document))
        .route("/range", get(range))
        .route("/counter", get(counter))
        .route("/insert", post(insert))
        .route("/insertMany", post(insert_many))
        .route("/seed", post(seed))
        .route("/increment", post(increment))
        .route("/readWrite", post(read_write))
        .route("/ws", get(subscribe))
        .with_state(AppState { writes, watched });
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind the port");
        println!("listening on {port}");
        axum::serve(listener, app).await.expect("serve");
    });
}
