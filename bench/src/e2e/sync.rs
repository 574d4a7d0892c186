//! WebSocket clients: Convex's sync protocol for Hull (`Connect`, `ModifyQuerySet`,
//! `Transition`, as `src/browser/sync/` of the `convex` package speaks it) and the baselines'
//! plain `/ws` broadcast. Point reads the way `ConvexClient.query` does them, fan-out
//! subscribers, and idle connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use super::load::{ClientResult, OpMaker, Stats, Window};
use super::systems::{Op, System};

/// A client WebSocket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connections opened at once while connecting many sockets (a bound on the listen backlog
/// and on the handshakes in flight).
pub const CONNECT_CONCURRENCY: usize = 100;
/// How long one expected message may take.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(120);

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Opens a socket to `url`; for Hull, also sends the sync protocol's `Connect` (session
/// `session`).
pub async fn open(system: System, url: &str, session: usize) -> Socket {
    let connecting = tokio::time::timeout(MESSAGE_TIMEOUT, tokio_tungstenite::connect_async(url));
    let (mut socket, _) = connecting.await.unwrap_or_else(|_| panic!("connect {url}: no answer in {MESSAGE_TIMEOUT:?}")).unwrap_or_else(|e| panic!("connect {url}: {e}"));
    if system == System::Hull {
        let connect = json!({"type": "Connect", "sessionId": format!("00000000-0000-4000-8000-{session:012}"),
            "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 0});
        socket.send(text(&connect)).await.expect("send Connect");
    }
    socket
}

fn add(version: u32, query_id: u32, udf_path: &str, args: &Value) -> Value {
    json!({"type": "ModifyQuerySet", "baseVersion": version, "newVersion": version + 1,
        "modifications": [{"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args]}]})
}

fn remove(version: u32, query_id: u32) -> Value {
    json!({"type": "ModifyQuerySet", "baseVersion": version, "newVersion": version + 1, "modifications": [{"type": "Remove", "queryId": query_id}]})
}

/// The value of query `query_id` if `message` is a Transition that updates it; an error if the
/// query failed.
fn query_update(message: &str, query_id: u32) -> Option<Result<Value, String>> {
    if !message.contains("Transition") {
        return None;
    }
    let parsed: Value = serde_json::from_str(message).ok()?;
    let modifications = parsed["modifications"].as_array()?;
    modifications.iter().find(|m| m["queryId"] == query_id).and_then(|m| match m["type"].as_str() {
        Some("QueryUpdated") => Some(Ok(m["value"].clone())),
        Some("QueryFailed") => Some(Err(m.to_string())),
        _ => None,
    })
}

/// Reads until query `query_id` has a value.
async fn next_update(socket: &mut Socket, query_id: u32) -> Result<Value, String> {
    loop {
        let message = tokio::time::timeout(MESSAGE_TIMEOUT, socket.next()).await.map_err(|_| "no Transition in time".to_owned())?;
        match message {
            Some(Ok(Message::Text(body))) => {
                if let Some(update) = query_update(&body, query_id) {
                    return update;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("socket closed".into()),
        }
    }
}

/// `clients` Hull sync clients, each on its own socket, reading like `ConvexClient.query`:
/// `Add` the query, wait for its `Transition`, `Remove` it. Latency runs from sending the `Add`
/// to reading the result.
pub async fn hull_point_reads(url: &str, clients: usize, warmup: Duration, window: Duration, make_op: OpMaker) -> Stats {
    let frame = Window::after(warmup, window);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (url, make_op) = (url.to_owned(), make_op.clone());
            tokio::spawn(async move { hull_reader(&url, client, frame, &*make_op).await })
        })
        .collect();
    let all = ClientResult::join(tasks).await;
    let ops = all.latencies_us.len() as u64;
    Stats::from_latencies(all.latencies_us, all.errors, window.as_secs_f64(), ops)
}

async fn hull_reader(url: &str, client: usize, window: Window, make_op: &(dyn Fn(&mut rand::rngs::StdRng) -> Op + Send + Sync)) -> ClientResult {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64 + 1);
    let mut socket = open(System::Hull, url, client).await;
    let mut result = ClientResult::default();
    let (mut version, mut query_id) = (0, 0);
    loop {
        let Op::Get { id } = make_op(&mut rng) else { panic!("sync point reads take Op::Get") };
        let sent = Instant::now();
        if sent >= window.end {
            return result;
        }
        socket.send(text(&add(version, query_id, "bench:get", &json!({"id": id})))).await.expect("send Add");
        let outcome = next_update(&mut socket, query_id).await;
        let elapsed = sent.elapsed();
        socket.send(text(&remove(version + 1, query_id))).await.expect("send Remove");
        version += 2;
        query_id += 1;
        if sent < window.start {
            continue;
        }
        match outcome {
            Ok(value) if value.is_object() => result.latencies_us.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
            _ => result.errors += 1,
        }
    }
}

/// A subscriber's report: when a new value of the watched counter arrived, and the value.
pub type Arrival = (Instant, i64);

/// One fan-out subscriber of the counter `fanout`: reports every value it receives (the first
/// one included) until the socket closes or the receiver goes away.
pub async fn subscriber(system: System, url: Arc<String>, index: usize, connecting: Arc<Semaphore>, arrivals: mpsc::UnboundedSender<Arrival>) {
    let permit = connecting.acquire().await.expect("the semaphore stays open");
    let mut socket = open(system, &url, index).await;
    if system == System::Hull {
        socket.send(text(&add(0, 0, "bench:counter", &json!({"name": "fanout"})))).await.expect("send Add");
    }
    drop(permit);
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(body) = message else { continue };
        let arrived = Instant::now();
        let value = match system {
            System::Hull => match query_update(&body, 0) {
                Some(Ok(value)) => value,
                _ => continue,
            },
            System::Node | System::Limit => serde_json::from_str::<Value>(&body).map(|v| v["value"].clone()).unwrap_or(Value::Null),
        };
        if arrivals.send((arrived, super::systems::counter_value(&value).unwrap_or(-1))).is_err() {
            return;
        }
    }
}

/// Opens `count` idle sockets (Hull: `Connect` sent, no query) and returns them open.
pub async fn idle_connections(system: System, url: &str, count: usize) -> Vec<Socket> {
    let connecting = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let tasks: Vec<_> = (0..count)
        .map(|index| {
            let (url, connecting) = (url.to_owned(), connecting.clone());
            tokio::spawn(async move {
                let _permit = connecting.acquire().await.expect("the semaphore stays open");
                open(system, &url, 1_000_000 + index).await
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(count);
    for task in tasks {
        sockets.push(task.await.expect("open an idle connection"));
    }
    sockets
}
