//! The sync socket over real WebSockets (tokio-tungstenite against the API router on a loopback
//! port), with the hull-js `basic` fixture project deployed.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::*;

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for one message.
const RECV_TIMEOUT: Duration = Duration::from_secs(20);

struct TestServer {
    state: AppState,
    url: String,
}

async fn server() -> TestServer {
    let state = crate::test_state("hull-test");
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/basic.push.json")).unwrap();
    let application = state.application().clone();
    tokio::task::spawn_blocking(move || application.deploy_push_request(&fixture).unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/api/1.48.0/sync", listener.local_addr().unwrap());
    let router = crate::api_router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    TestServer { state, url }
}

async fn connect(server: &TestServer) -> Client {
    tokio_tungstenite::connect_async(&server.url).await.unwrap().0
}

async fn send(client: &mut Client, message: Value) {
    client.send(WsMessage::Text(message.to_string().into())).await.unwrap();
}

/// The next JSON message (skipping pings), or `None` once the socket closed.
async fn next(client: &mut Client) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(RECV_TIMEOUT, client.next()).await.expect("no message in time");
        match message {
            Some(Ok(WsMessage::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "Ping" {
                    return Some(value);
                }
            }
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn expect(client: &mut Client, kind: &str) -> Value {
    let message = next(client).await.unwrap_or_else(|| panic!("socket closed while waiting for {kind}"));
    assert_eq!(message["type"], kind, "{message}");
    message
}

/// The next MutationResponse, skipping the Transitions a socket without subscriptions also
/// gets (one follows every successful mutation).
async fn answer(client: &mut Client) -> Value {
    loop {
        let message = next(client).await.expect("socket closed before the MutationResponse");
        if message["type"] != "Transition" {
            assert_eq!(message["type"], "MutationResponse", "{message}");
            return message;
        }
    }
}

fn ts(version: &Value) -> u64 {
    hull_sync::protocol::decode_ts(version["ts"].as_str().unwrap()).unwrap()
}

fn connect_message(session: &str) -> Value {
    json!({"type": "Connect", "sessionId": session, "connectionCount": 0, "lastCloseReason": "InitialConnect"})
}

fn add(base: u32, query_id: u32, path: &str, args: Value) -> Value {
    json!({"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1, "modifications": [
        {"type": "Add", "queryId": query_id, "udfPath": path, "args": [args]}]})
}

fn mutation(request_id: u32, path: &str, args: Value) -> Value {
    json!({"type": "Mutation", "requestId": request_id, "udfPath": path, "args": [args]})
}

/// Follows the chain of Transitions: checks each starts where the last ended.
struct Chain {
    version: Value,
}

impl Chain {
    fn new() -> Chain {
        Chain { version: json!({"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}) }
    }

    async fn transition(&mut self, client: &mut Client) -> Value {
        let transition = expect(client, "Transition").await;
        assert_eq!(transition["startVersion"], self.version, "{transition}");
        assert!(ts(&transition["endVersion"]) >= ts(&self.version));
        self.version = transition["endVersion"].clone();
        transition
    }

    /// The answer to a mutation: Transitions that arrive first (its commit invalidated a
    /// subscription before the answer got out) are followed through the chain. Returns the
    /// response and the latest Transition's modifications seen so far.
    async fn response(&mut self, client: &mut Client) -> (Value, Vec<Value>) {
        let mut seen = Vec::new();
        loop {
            let message = next(client).await.expect("socket closed before the MutationResponse");
            if message["type"] == "MutationResponse" {
                return (message, seen);
            }
            assert_eq!(message["type"], "Transition", "{message}");
            assert_eq!(message["startVersion"], self.version, "{message}");
            self.version = message["endVersion"].clone();
            seen.extend(message["modifications"].as_array().unwrap().iter().cloned());
        }
    }
}

#[tokio::test]
async fn an_admin_reads_the_environment_variables_through_the_system_query() {
    let server = server().await;
    let application = server.state.application().clone();
    application.update_environment_variables(vec![hull_app::EnvVarChange { name: "K".into(), value: Some("v".into()) }]).unwrap();
    let key = application.issue_admin_key();
    let mut client = connect(&server).await;
    let mut chain = Chain::new();
    send(&mut client, connect_message("s")).await;
    send(&mut client, json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": key})).await;
    let transition = chain.transition(&mut client).await;
    assert_eq!((transition["startVersion"]["identity"].as_u64(), transition["endVersion"]["identity"].as_u64()), (Some(0), Some(1)));
    let add = json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
        {"type": "Add", "queryId": 0, "udfPath": "_system/cli/queryEnvironmentVariables", "args": [{}]},
        {"type": "Add", "queryId": 1, "udfPath": "_system/cli/queryEnvironmentVariables:get", "args": [{"name": "K"}]},
    ]});
    send(&mut client, add).await;
    let transition = chain.transition(&mut client).await;
    let modifications = &transition["modifications"];
    assert_eq!(modifications[0]["value"], json!([{"name": "K", "value": "v"}]), "{modifications}");
    assert_eq!(modifications[1]["value"], json!({"name": "K", "value": "v"}), "{modifications}");

    // Environment variables read nothing from a transaction: a change reaches the
    // subscription through the code version, within a housekeeping tick.
    application.update_environment_variables(vec![hull_app::EnvVarChange { name: "K".into(), value: Some("w".into()) }]).unwrap();
    let transition = chain.transition(&mut client).await;
    assert_eq!(transition["modifications"][1]["value"], json!({"name": "K", "value": "w"}), "{transition}");
}

#[tokio::test]
async fn a_mutation_is_answered_with_its_commit_ts_then_a_transition_at_or_after_it() {
    let server = server().await;
    let mut client = connect(&server).await;
    let mut chain = Chain::new();
    send(&mut client, connect_message("s")).await;
    send(&mut client, add(0, 7, "channels:all", json!({}))).await;
    let transition = chain.transition(&mut client).await;
    assert_eq!(transition["modifications"][0]["value"]["names"], json!([]), "{transition}");

    send(&mut client, mutation(0, "channels:create", json!({"name": "general"}))).await;
    let (response, mut seen) = chain.response(&mut client).await;
    assert_eq!(response["success"], true, "{response}");
    let committed = hull_sync::protocol::decode_ts(response["ts"].as_str().unwrap()).unwrap();
    assert_eq!(committed, server.state.database().latest_ts().0);
    // The Transition after the answer reaches the commit (and may carry the new result, unless
    // one sent before the answer already did).
    let transition = chain.transition(&mut client).await;
    assert!(ts(&transition["endVersion"]) >= committed);
    assert_eq!(transition["startVersion"]["querySet"], transition["endVersion"]["querySet"]);
    seen.extend(transition["modifications"].as_array().unwrap().iter().cloned());
    assert_eq!(seen, vec![json!({"type": "QueryUpdated", "queryId": 7,
        "value": {"names": ["general"], "first": "general"}, "logLines": [], "journal": null})], "{transition}");

    // A failed mutation is answered on its own; nothing else is sent.
    send(&mut client, mutation(1, "messages:send", json!({"message": {"channel": "x", "body": ""}, "author": "a"}))).await;
    let response = expect(&mut client, "MutationResponse").await;
    assert_eq!((response["success"].as_bool(), response["ts"].is_null()), (Some(false), true), "{response}");
    let quiet = tokio::time::timeout(Duration::from_millis(300), client.next()).await;
    assert!(quiet.is_err(), "nothing changed, yet the server sent {quiet:?}");
}

#[tokio::test]
async fn another_clients_mutation_reaches_a_subscriber_and_unrelated_ones_do_not() {
    let server = server().await;
    let (mut watcher, mut writer) = (connect(&server).await, connect(&server).await);
    let mut chain = Chain::new();
    send(&mut watcher, add(0, 1, "calls:names", json!({}))).await;
    let first = chain.transition(&mut watcher).await;
    send(&mut writer, mutation(0, "util:bump", json!({"name": "unrelated"}))).await;
    answer(&mut writer).await;
    // counters are not what calls:names reads: no Transition.
    let quiet = tokio::time::timeout(Duration::from_millis(300), watcher.next()).await;
    assert!(quiet.is_err(), "an unrelated commit re-sent {quiet:?} after {first}");

    send(&mut writer, mutation(1, "calls:insertOne", json!({"name": "x"}))).await;
    answer(&mut writer).await;
    let transition = chain.transition(&mut watcher).await;
    assert_eq!(transition["modifications"][0]["queryId"], 1, "{transition}");
    assert_ne!(transition["modifications"][0]["value"], first["modifications"][0]["value"]);
}

#[tokio::test]
async fn many_sockets_watching_one_query_share_one_execution_per_commit() {
    let server = server().await;
    let application = server.state.application().clone();
    let executions = || {
        let (all, _) = application.function_executions_since(0);
        all.iter().filter(|e| e.identifier.starts_with("channels") && e.identifier.ends_with(":all")).count()
    };
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = connect(&server).await;
        send(&mut client, add(0, 0, "channels:all", json!({}))).await;
        clients.push((client, Chain::new()));
    }
    for (client, chain) in &mut clients {
        chain.transition(client).await;
    }
    assert_eq!(executions(), 1, "twenty subscriptions at one snapshot ran the query once");
    let mut writer = connect(&server).await;
    send(&mut writer, mutation(0, "channels:create", json!({"name": "c"}))).await;
    answer(&mut writer).await;
    for (client, chain) in &mut clients {
        let transition = chain.transition(client).await;
        assert_eq!(transition["modifications"][0]["value"]["names"], json!(["c"]), "{transition}");
    }
    assert_eq!(executions(), 2, "one commit re-ran the shared query once");
}

#[tokio::test]
async fn a_resent_mutation_on_a_new_socket_of_the_same_session_runs_once() {
    let server = server().await;
    let mut client = connect(&server).await;
    send(&mut client, connect_message("6c1f0000-0000-4000-8000-000000000001")).await;
    send(&mut client, mutation(0, "channels:create", json!({"name": "once"}))).await;
    let first = expect(&mut client, "MutationResponse").await;
    drop(client);

    // The client never saw the answer (say), reconnects and resends request 0.
    let mut client = connect(&server).await;
    let mut chain = Chain::new();
    send(&mut client, connect_message("6c1f0000-0000-4000-8000-000000000001")).await;
    send(&mut client, add(0, 0, "channels:all", json!({}))).await;
    chain.transition(&mut client).await;
    send(&mut client, mutation(0, "channels:create", json!({"name": "once"}))).await;
    let replay = expect(&mut client, "MutationResponse").await;
    assert_eq!(replay, first, "the replay answers the recorded response");
    chain.transition(&mut client).await; // resolves the client's promise

    // A new request id on the same session, or another session, runs again.
    send(&mut client, mutation(1, "channels:create", json!({"name": "twice"}))).await;
    let (response, mut seen) = chain.response(&mut client).await;
    assert_ne!(response["result"], first["result"]);
    seen.extend(chain.transition(&mut client).await["modifications"].as_array().unwrap().iter().cloned());
    assert_eq!(seen.last().unwrap()["value"]["names"], json!(["once", "twice"]), "{seen:?}");
}

#[tokio::test]
async fn a_socket_closed_mid_mutation_still_commits_and_records_it() {
    let server = server().await;
    let session = "6c1f0000-0000-4000-8000-000000000002";
    let mut client = connect(&server).await;
    send(&mut client, connect_message(session)).await;
    send(&mut client, mutation(0, "channels:create", json!({"name": "late"}))).await;
    client.close(None).await.unwrap();
    drop(client);
    let mut client = connect(&server).await;
    send(&mut client, connect_message(session)).await;
    send(&mut client, mutation(0, "channels:create", json!({"name": "late"}))).await;
    let response = expect(&mut client, "MutationResponse").await;
    assert_eq!(response["success"], true, "{response}");
    let application = server.state.application().clone();
    let path = FunctionPath::parse("channels:all").unwrap();
    let all = tokio::task::spawn_blocking(move || application.call(&Caller::Anonymous, CallKind::Query, &path, json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(all.result.unwrap().to_json()["names"], json!(["late"]), "exactly one insert");
}

#[tokio::test]
async fn an_identity_change_reruns_every_query() {
    let server = server().await;
    let key = server.state.application().issue_admin_key();
    let mut client = connect(&server).await;
    let mut chain = Chain::new();
    send(&mut client, add(0, 0, "messages:countByAuthor", json!({"author": "a"}))).await;
    let transition = chain.transition(&mut client).await;
    assert_eq!(transition["modifications"][0]["type"], "QueryFailed", "internal functions look missing: {transition}");
    send(&mut client, json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": key})).await;
    let transition = chain.transition(&mut client).await;
    assert_eq!(transition["endVersion"]["identity"], 1);
    assert_eq!(transition["modifications"][0]["value"], 0.0, "{transition}");
    send(&mut client, json!({"type": "Authenticate", "baseVersion": 1, "tokenType": "None"})).await;
    let transition = chain.transition(&mut client).await;
    assert_eq!(transition["modifications"][0]["type"], "QueryFailed", "{transition}");
}

#[tokio::test]
async fn removed_queries_are_confirmed_and_stop_updating() {
    let server = server().await;
    let mut client = connect(&server).await;
    let mut chain = Chain::new();
    send(&mut client, add(0, 0, "channels:all", json!({}))).await;
    chain.transition(&mut client).await;
    send(&mut client, json!({"type": "ModifyQuerySet", "baseVersion": 1, "newVersion": 2, "modifications": [{"type": "Remove", "queryId": 0}]})).await;
    let transition = chain.transition(&mut client).await;
    assert_eq!(transition["modifications"], json!([{"type": "QueryRemoved", "queryId": 0}]));
    assert_eq!(server.state.database().subscription_count(), 0, "the subscription went with the query");
}

/// Bad input ends the socket with a FatalError (or an AuthError for bad credentials), never a crash.
#[tokio::test]
async fn bad_input_is_a_clear_error_and_a_closed_socket() {
    let server = server().await;
    let cases: Vec<(WsMessage, &str, &str)> = vec![
        (WsMessage::Text("{not json".into()), "FatalError", "invalid message"),
        (WsMessage::Text(r#"{"type":"Nope"}"#.into()), "FatalError", "invalid message"),
        (WsMessage::Binary(vec![1, 2, 3].into()), "FatalError", "binary"),
        (WsMessage::Text(r#"{"type":"ModifyQuerySet","baseVersion":3,"newVersion":4,"modifications":[]}"#.into()), "FatalError", "BaseVersionMismatch"),
        (WsMessage::Text(r#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Remove","queryId":9}]}"#.into()), "FatalError", "Unknown query id 9"),
        (WsMessage::Text(r#"{"type":"Authenticate","baseVersion":5,"tokenType":"None"}"#.into()), "FatalError", "BaseVersionMismatch"),
        (WsMessage::Text(r#"{"type":"Authenticate","baseVersion":0,"tokenType":"Admin","value":"hull-test|00"}"#.into()), "AuthError", ""),
        (WsMessage::Text(r#"{"type":"Connect","sessionId":"","connectionCount":0,"lastCloseReason":null}"#.into()), "FatalError", "sessionId"),
    ];
    for (message, kind, text) in cases {
        let mut client = connect(&server).await;
        client.send(message.clone()).await.unwrap();
        let answer = expect(&mut client, kind).await;
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(text), "{message:?}: {answer}");
        assert!(next(&mut client).await.is_none(), "{message:?}: the socket stays open");
    }
    // Too many queries on one socket.
    let mut client = connect(&server).await;
    let adds: Vec<Value> = (0..=hull_sync::state::MAX_QUERIES_PER_SOCKET as u32)
        .map(|id| json!({"type": "Add", "queryId": id, "udfPath": "channels:all", "args": [{}]}))
        .collect();
    let chunks: Vec<&[Value]> = adds.chunks(hull_sync::protocol::MAX_MODIFICATIONS_PER_MESSAGE).collect();
    for (base, chunk) in chunks.iter().enumerate() {
        let base = base as u32;
        send(&mut client, json!({"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1, "modifications": chunk})).await;
    }
    let answer = loop {
        let message = next(&mut client).await.expect("a FatalError before the close");
        if message["type"] == "FatalError" {
            break message;
        }
    };
    assert!(answer["error"].as_str().unwrap().contains("Too many queries"), "{answer}");
    // The server still serves.
    let mut client = connect(&server).await;
    send(&mut client, add(0, 0, "channels:all", json!({}))).await;
    Chain::new().transition(&mut client).await;
}

#[tokio::test]
async fn valid_credentials_survive_the_periodic_revalidation() {
    // Revocation itself belongs to the credentials' module; here the once-a-second check runs
    // for a caller that stays valid, and the socket keeps working.
    let server = server().await;
    let key = server.state.application().issue_admin_key();
    let mut client = connect(&server).await;
    send(&mut client, json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": key})).await;
    Chain::new().transition(&mut client).await;
    tokio::time::sleep(SYNC_HOUSEKEEPING_INTERVAL * 2).await;
    send(&mut client, mutation(0, "channels:create", json!({"name": "still-open"}))).await;
    expect(&mut client, "MutationResponse").await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_not_buffered_for() {
    // The queue's consumer never runs: pushes fail once the bound is reached.
    let (queue, _frames) = mpsc::channel::<Frame>(SYNC_OUTGOING_QUEUE_MESSAGES);
    let mut outgoing = Outgoing::new(queue);
    let response = ServerMessage::MutationResponse { request_id: 0, result: Ok((json!("x".repeat(1000)), 1)), log_lines: Vec::new() };
    let pushed = (0..SYNC_OUTGOING_QUEUE_MESSAGES + 1).take_while(|_| outgoing.push(&response).is_ok()).count();
    assert_eq!(pushed, SYNC_OUTGOING_QUEUE_MESSAGES);
    // And by bytes: one huge message over the byte bound is refused at once.
    let (queue, _frames) = mpsc::channel::<Frame>(SYNC_OUTGOING_QUEUE_MESSAGES);
    outgoing.queue = queue;
    outgoing.queued_bytes.store(0, Ordering::Release);
    let huge = ServerMessage::MutationResponse { request_id: 0, result: Ok((json!("x".repeat(SYNC_OUTGOING_QUEUE_BYTES)), 1)), log_lines: Vec::new() };
    assert!(outgoing.push(&huge).is_err());
}

#[tokio::test]
async fn session_requests_stay_within_their_bounds() {
    let records = SessionRequests::default();
    for session in 0..SESSION_REQUESTS_SESSIONS_MAX + 10 {
        let session = session.to_string();
        let Claim::Run(done) = records.claim(&session, 0).await else { panic!("a new request runs") };
        records.finish(&session, 0, done, Some(Recorded { value: json!(1), ts: 1, log_lines: Vec::new(), bytes: 10 }));
    }
    assert_eq!(records.inner.lock().sessions.len(), SESSION_REQUESTS_SESSIONS_MAX);
    // The most recent sessions replay; the oldest were forgotten.
    assert!(matches!(records.claim(&(SESSION_REQUESTS_SESSIONS_MAX + 9).to_string(), 0).await, Claim::Replay(_)));
    assert!(matches!(records.claim("0", 0).await, Claim::Run(_)));
    // A failed run is forgotten, so the resend runs again.
    let Claim::Run(done) = records.claim("f", 3).await else { panic!() };
    records.finish("f", 3, done, None);
    assert!(matches!(records.claim("f", 3).await, Claim::Run(_)));
}

/// Many sockets subscribed to different index ranges while writers commit: each socket's
/// sequence of results must be, at every Transition's timestamp, exactly what a fresh query at
/// that snapshot returns (run uncached, under an identity no socket uses).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_transition_matches_a_fresh_query_at_its_timestamp() {
    const CHANNELS: usize = 4;
    const CLIENTS: usize = 8;
    const WRITERS: usize = 2;
    const WRITES_PER_WRITER: usize = 25;
    let server = server().await;
    let application = server.state.application().clone();
    let call = |kind, path: &str, args: Value| {
        let (application, path) = (application.clone(), FunctionPath::parse(path).unwrap());
        tokio::task::spawn_blocking(move || application.call(&Caller::Anonymous, kind, &path, args).unwrap().result.unwrap().to_json())
    };
    let mut channels = Vec::new();
    for n in 0..CHANNELS {
        channels.push(call(CallKind::Mutation, "channels:create", json!({"name": format!("c{n}")})).await.unwrap());
    }
    // Client i watches one channel's newest messages, with its own limit.
    let args_of = |i: usize| json!({"channel": channels[i % CHANNELS], "limit": 2 + (i % 3) * 3});

    let (stop, stopped) = watch::channel(false);
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut client = connect(&server).await;
        let mut stopped = stopped.clone();
        send(&mut client, add(0, 0, "messages:list", args_of(i))).await;
        clients.push(tokio::spawn(async move {
            let mut chain = Chain::new();
            let mut current = Value::Null;
            let mut seen: Vec<(u64, Value)> = Vec::new();
            loop {
                let transition = tokio::select! {
                    transition = chain.transition(&mut client) => transition,
                    _ = stopped.wait_for(|stop| *stop) => break,
                };
                for modification in transition["modifications"].as_array().unwrap() {
                    assert_eq!(modification["type"], "QueryUpdated", "{modification}");
                    current = modification["value"].clone();
                }
                seen.push((ts(&transition["endVersion"]), current.clone()));
            }
            seen
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (application, channels) = (application.clone(), channels.clone());
        writers.push(tokio::task::spawn_blocking(move || {
            let path = FunctionPath::parse("messages:send").unwrap();
            for n in 0..WRITES_PER_WRITER {
                let channel = &channels[(w * 7 + n * 3) % CHANNELS];
                let args = json!({"message": {"channel": channel, "body": format!("w{w}-{n}")}, "author": "a"});
                application.call(&Caller::Anonymous, CallKind::Mutation, &path, args).unwrap().result.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // Let the sockets catch up with the last commit, then stop them.
    let last = server.state.database().latest_ts();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();

    let fresh = |i: usize, ts: u64| {
        let application = application.clone();
        let args = args_of(i);
        tokio::task::spawn_blocking(move || {
            // A unique identity: a cache entry of its own, so this runs at `ts` from scratch.
            let identity = serde_json::Map::from_iter([("tokenIdentifier".to_owned(), json!(format!("check|{i}|{ts}")))]);
            let caller = Caller::Admin { acting_as: Some(UserIdentity(identity)) };
            let path = FunctionPath::parse("messages:list").unwrap();
            let result = application.run_subscription_query(&caller, &path, args, Some(Timestamp(ts))).unwrap();
            result.outcome.result.clone().unwrap().to_json()
        })
    };
    let mut checked = 0;
    for (i, client) in clients.into_iter().enumerate() {
        let seen = client.await.unwrap();
        assert!(!seen.is_empty(), "client {i} got no Transition");
        assert!(seen.last().unwrap().0 >= last.0 || seen.last().unwrap().1 == fresh(i, last.0).await.unwrap(), "client {i} did not catch up");
        for (ts, value) in seen {
            assert_eq!(value, fresh(i, ts).await.unwrap(), "client {i} at ts {ts}");
            checked += 1;
        }
    }
    assert!(checked > CLIENTS, "only {checked} transitions checked");
}
