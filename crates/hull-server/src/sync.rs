//! The sync WebSocket (`/api/<client version>/sync`, wire protocols §6): live queries driven by
//! read-set subscriptions, mutations in order with exactly-once replay, actions.
//!
//! One task per socket owns its [`Session`]: the client's query set (`hull_sync`'s version
//! bookkeeping), each query's last result and its `hull_db` subscription. A subscription's
//! callback (on the committer thread) only sets the query's flag and wakes the task; the task
//! then re-runs the invalidated queries at **one** timestamp (the newest), carries every other
//! result forward to it (checking the write log, which also covers commits whose callbacks have
//! not run yet), and sends one Transition with the results that changed. Queries run through
//! [`hull_app::Application::run_subscription_query`], whose cache lets many sockets watching
//! the same query after the same commit share one execution.
//!
//! Mutations run one at a time in arrival order on a per-socket executor task, so a socket
//! that closes mid-mutation never aborts a commit: the mutation finishes and its result is
//! recorded for the session. A successful `MutationResponse` carries the commit timestamp and
//! is always followed by a Transition at or after it (the client resolves `mutation()` only
//! then). A client that reconnects resends every mutation it has no answer for under the same
//! `(sessionId, requestId)`; each runs at most once, even across a crash. Durably, each success
//! is recorded in the system table `_session_requests` **in the mutation's own transaction**
//! ([`hull_app::Application::call_session_request`]), so the record exists iff the mutation
//! committed, and a resend after a restart is answered from it (value, log lines, original
//! commit timestamp) without running. In front of that, [`SessionRequests`] keeps recent
//! results in memory (bounded) and makes a resend wait for a run of the same request that is
//! still in progress (its socket closed mid-mutation), so replays within one process cost no
//! transaction.
//!
//! Outgoing messages go through a bounded queue to a writer task; a client that does not read
//! is dropped rather than buffered for. No more than [`SYNC_MAX_SEND_TRANSITION_COUNT`]
//! Transitions wait unsent: while they do, newer changes accumulate and go out as one.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use hull_app::{CachedQuery, CallKind, CallOutcome, Caller, FunctionPath, QueryResult, SessionRequest, Timestamp, UserIdentity};
use hull_sync::protocol::{
    chunk_transition, AuthenticationToken, ClientMessage, ServerMessage, StateModification, StateVersion,
    MAX_TRANSITION_CHUNK_BYTES,
};
use hull_sync::state::ReceivedState;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch, Notify};

use crate::AppState;

/// How often the server pings: clients drop a socket after 60 s of silence and expect a JSON
/// `Ping` at least every ~15 s (wire protocols §6.8; upstream `HEARTBEAT_INTERVAL`).
pub const SYNC_PING_INTERVAL: Duration = Duration::from_secs(15);

/// How often a socket re-checks its credentials (a revoked server key must stop working on open
/// sockets within a second), its idle and stall timers and the deployed code's version.
pub const SYNC_HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

/// A socket from which nothing at all arrives for this long is closed (upstream `subs/mod.rs`:
/// 120 s). Clients answer the WebSocket-level pings sent every [`SYNC_WS_PING_INTERVAL`] (browsers
/// and `ws` do so by themselves), so a live client is never idle this long; a vanished one is
/// cleaned up.
pub const SYNC_CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How often the server sends a WebSocket-level ping frame, whose pong proves the client is
/// there (upstream `subs/mod.rs`: every 5 s). Browsers hide these from JavaScript, which is why
/// the JSON [`SYNC_PING_INTERVAL`] ping exists too.
pub const SYNC_WS_PING_INTERVAL: Duration = Duration::from_secs(5);

/// Transitions that may wait unsent in a socket's queue; while this many do, no new one is
/// computed (upstream knob `SYNC_MAX_SEND_TRANSITION_COUNT` = 2).
pub const SYNC_MAX_SEND_TRANSITION_COUNT: usize = 2;

/// Messages a socket's outgoing queue holds. Transitions are bounded by
/// [`SYNC_MAX_SEND_TRANSITION_COUNT`] and responses by the mutation and action bounds, so only a
/// client that stops reading fills it; it is then disconnected. Hull's own bound.
pub const SYNC_OUTGOING_QUEUE_MESSAGES: usize = 2 * (SYNC_MAX_MUTATIONS_QUEUED + SYNC_MAX_ACTIONS_IN_FLIGHT) + 64;

/// Bytes a socket's outgoing queue holds before the client is considered not to read and is
/// disconnected. Hull's own bound (room for a few of the largest transition chunks).
pub const SYNC_OUTGOING_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// A frame the writer has not managed to hand to the socket for this long means the client
/// stopped reading: the socket is closed. (The client itself reconnects after 60 s of silence.)
pub const SYNC_SEND_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Mutations queued on one socket; one more closes it with `TooManyConcurrentMutations`
/// (upstream: 1000, wire protocols §6.6), and the client reconnects and resends after a backoff.
pub const SYNC_MAX_MUTATIONS_QUEUED: usize = 1000;

/// Actions running at once for one socket (upstream: 1000, wire protocols §6.6).
pub const SYNC_MAX_ACTIONS_IN_FLIGHT: usize = 1000;

/// Queries of one Transition that run at once (each on a blocking thread, mostly waiting for a
/// JS worker or for an identical query another socket runs). Hull's own bound.
pub const SYNC_QUERY_CONCURRENCY: usize = 8;

/// Longest `sessionId` accepted (clients send a UUID, 36 characters); it keys the in-memory
/// record of mutation results.
pub const SYNC_SESSION_ID_MAX_LEN: usize = 128;

/// Recorded mutation results kept per session for replays; older ones are forgotten first.
/// Bounds what a client with many unresolved mutations can make the server hold.
pub const SESSION_REQUESTS_PER_SESSION: usize = SYNC_MAX_MUTATIONS_QUEUED;

/// Sessions whose mutation results are kept; the least recently used are forgotten first.
pub const SESSION_REQUESTS_SESSIONS_MAX: usize = 10_000;

/// Bytes of recorded mutation results kept over all sessions (estimated by JSON length).
pub const SESSION_REQUESTS_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The socket's read chunk and write batching size. tungstenite's defaults (128 KiB each) would
/// cost every idle connection a quarter of a megabyte; messages larger than this still work
/// (read in several chunks, written at once).
pub const SYNC_SOCKET_BUFFER_BYTES: usize = 8 * 1024;

/// How long closing waits for queued messages (a FatalError, the last Transition) to go out.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The sync route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/{version}/sync", get(upgrade)).route("/api/sync", get(upgrade))
}

async fn upgrade(State(state): State<AppState>, peer: crate::auth::Peer, headers: axum::http::HeaderMap, ws: WebSocketUpgrade) -> Response {
    let origin = crate::auth::request_origin(&headers, peer.0);
    ws.max_message_size(hull_sync::protocol::MAX_CLIENT_MESSAGE_BYTES)
        .read_buffer_size(SYNC_SOCKET_BUFFER_BYTES)
        .write_buffer_size(SYNC_SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| run(state, origin, socket))
}

// ---------------------------------------------------------------------------------------------
// Recorded mutation results, shared by every socket of the server.

/// What a successful mutation answered, kept for replays.
#[derive(Clone, Debug)]
struct Recorded {
    value: serde_json::Value,
    ts: u64,
    log_lines: Vec<String>,
    bytes: usize,
}

enum RequestState {
    /// Running now (possibly for a socket that has closed); replays wait for it.
    Running(watch::Receiver<bool>),
    Done(Recorded),
}

struct SessionRecord {
    last_use: u64,
    requests: BTreeMap<u32, RequestState>,
}

/// Recent mutation results per `(sessionId, requestId)`, in memory and bounded (see the module
/// docs and the `SESSION_REQUESTS_*` bounds).
#[derive(Default)]
pub(crate) struct SessionRequests {
    inner: Mutex<SessionRequestsInner>,
}

#[derive(Default)]
struct SessionRequestsInner {
    sessions: HashMap<String, SessionRecord>,
    by_use: BTreeMap<u64, String>,
    next_use: u64,
    bytes: usize,
}

/// What a mutation on a session should do.
enum Claim {
    /// Run it; report through [`SessionRequests::finish`] (dropping the sender wakes waiters).
    Run(watch::Sender<bool>),
    /// It already ran: answer this.
    Replay(Recorded),
}

impl SessionRequests {
    /// Claims `(session, request)`: run it, or replay its recorded result (waiting for a run in
    /// progress to finish first).
    async fn claim(&self, session: &str, request: u32) -> Claim {
        loop {
            let mut waiting = {
                let mut inner = self.inner.lock();
                let record = inner.touch(session);
                match record.requests.get(&request) {
                    Some(RequestState::Done(recorded)) => return Claim::Replay(recorded.clone()),
                    Some(RequestState::Running(receiver)) => receiver.clone(),
                    None => {
                        let (sender, receiver) = watch::channel(false);
                        record.requests.insert(request, RequestState::Running(receiver));
                        inner.evict(session);
                        return Claim::Run(sender);
                    }
                }
            };
            // Either the run finishes (true) or its sender is dropped; look again.
            let _ = waiting.wait_for(|done| *done).await;
        }
    }

    /// Records the outcome of a claimed run: a success is kept for replays, a failure is
    /// forgotten (it changed nothing, so running it again is right, as upstream).
    fn finish(&self, session: &str, request: u32, done: watch::Sender<bool>, success: Option<Recorded>) {
        {
            let mut inner = self.inner.lock();
            let bytes = success.as_ref().map_or(0, |r| r.bytes);
            if let Some(record) = inner.sessions.get_mut(session) {
                match success {
                    Some(recorded) => {
                        record.requests.insert(request, RequestState::Done(recorded));
                    }
                    None => {
                        record.requests.remove(&request);
                    }
                }
                inner.bytes += bytes;
                inner.evict(session);
            }
        }
        let _ = done.send(true);
    }
}

impl SessionRequestsInner {
    fn touch(&mut self, session: &str) -> &mut SessionRecord {
        let use_number = self.next_use;
        self.next_use += 1;
        let record = self.sessions.entry(session.to_owned()).or_insert_with(|| SessionRecord { last_use: use_number, requests: BTreeMap::new() });
        self.by_use.remove(&record.last_use);
        record.last_use = use_number;
        self.by_use.insert(use_number, session.to_owned());
        self.sessions.get_mut(session).expect("just inserted")
    }

    /// Keeps within the bounds: the session's oldest finished requests, then the least recently
    /// used other sessions, go first. Requests still running are never forgotten.
    fn evict(&mut self, session: &str) {
        let mut freed = 0;
        if let Some(record) = self.sessions.get_mut(session) {
            while record.requests.len() > SESSION_REQUESTS_PER_SESSION {
                let oldest_done = record.requests.iter().find(|(_, s)| matches!(s, RequestState::Done(_))).map(|(id, _)| *id);
                let Some(id) = oldest_done else { break };
                if let Some(RequestState::Done(recorded)) = record.requests.remove(&id) {
                    freed += recorded.bytes;
                }
            }
        }
        self.bytes -= freed;
        while self.sessions.len() > SESSION_REQUESTS_SESSIONS_MAX || self.bytes > SESSION_REQUESTS_MAX_BYTES {
            let Some((&use_number, oldest)) = self.by_use.iter().next() else { break };
            if oldest == session {
                break; // never drop the session being served
            }
            let oldest = oldest.clone();
            self.by_use.remove(&use_number);
            if let Some(record) = self.sessions.remove(&oldest) {
                for state in record.requests.into_values() {
                    if let RequestState::Done(recorded) = state {
                        self.bytes -= recorded.bytes;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The outgoing queue and its writer.

enum Frame {
    Text { text: String, ends_transition: bool },
    Ping,
    Close(Option<CloseFrame>),
}

/// The sending half of a socket: a bounded queue drained by the writer task.
struct Outgoing {
    queue: mpsc::Sender<Frame>,
    queued_bytes: Arc<AtomicUsize>,
    unsent_transitions: Arc<AtomicUsize>,
    /// Milliseconds since `epoch` at which the writer started the frame it is sending (0: idle).
    sending_since_ms: Arc<AtomicU64>,
    epoch: Instant,
    /// Woken by the writer after each Transition it sent.
    transition_sent: Arc<Notify>,
    last_enqueued: Instant,
}

/// The client does not read what it is sent.
#[derive(Debug)]
struct NotReading;

impl Outgoing {
    fn new(queue: mpsc::Sender<Frame>) -> Outgoing {
        Outgoing {
            queue,
            queued_bytes: Arc::default(),
            unsent_transitions: Arc::default(),
            sending_since_ms: Arc::default(),
            epoch: Instant::now(),
            transition_sent: Arc::default(),
            last_enqueued: Instant::now(),
        }
    }

    fn push(&mut self, message: &ServerMessage) -> Result<(), NotReading> {
        let is_transition = matches!(message, ServerMessage::Transition { .. });
        let frames = match message {
            ServerMessage::Transition { .. } => chunk_transition(message.to_json_string(), MAX_TRANSITION_CHUNK_BYTES),
            _ => vec![message.to_json_string()],
        };
        let bytes: usize = frames.iter().map(String::len).sum();
        if self.queued_bytes.load(Ordering::Acquire) + bytes > SYNC_OUTGOING_QUEUE_BYTES
            || self.queue.capacity() < frames.len()
        {
            return Err(NotReading);
        }
        if is_transition {
            self.unsent_transitions.fetch_add(1, Ordering::AcqRel);
        }
        self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        let count = frames.len();
        for (index, text) in frames.into_iter().enumerate() {
            let frame = Frame::Text { text, ends_transition: is_transition && index + 1 == count };
            self.queue.try_send(frame).map_err(|_| NotReading)?;
        }
        self.last_enqueued = Instant::now();
        Ok(())
    }

    fn unsent_transitions(&self) -> usize {
        self.unsent_transitions.load(Ordering::Acquire)
    }

    /// How long the writer has been stuck on one frame.
    fn stalled_for(&self) -> Duration {
        match self.sending_since_ms.load(Ordering::Acquire) {
            0 => Duration::ZERO,
            since => self.epoch.elapsed().saturating_sub(Duration::from_millis(since)),
        }
    }
}

fn spawn_writer(mut sink: futures_util::stream::SplitSink<WebSocket, Message>) -> (Outgoing, tokio::task::JoinHandle<()>) {
    let (queue, mut frames) = mpsc::channel::<Frame>(SYNC_OUTGOING_QUEUE_MESSAGES);
    let outgoing = Outgoing::new(queue);
    let (queued_bytes, unsent, since, epoch, sent) = (
        outgoing.queued_bytes.clone(),
        outgoing.unsent_transitions.clone(),
        outgoing.sending_since_ms.clone(),
        outgoing.epoch,
        outgoing.transition_sent.clone(),
    );
    let writer = tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            since.store((epoch.elapsed().as_millis() as u64).max(1), Ordering::Release);
            let (result, close) = match frame {
                Frame::Text { text, ends_transition } => {
                    let length = text.len();
                    let result = sink.send(Message::Text(text.into())).await;
                    queued_bytes.fetch_sub(length, Ordering::AcqRel);
                    if ends_transition {
                        unsent.fetch_sub(1, Ordering::AcqRel);
                        sent.notify_one();
                    }
                    (result, false)
                }
                Frame::Ping => (sink.send(Message::Ping(Default::default())).await, false),
                Frame::Close(frame) => (sink.send(Message::Close(frame)).await, true),
            };
            since.store(0, Ordering::Release);
            if result.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    (outgoing, writer)
}

// ---------------------------------------------------------------------------------------------
// The session.

/// One subscribed query's state.
struct QueryState {
    udf_path: String,
    args: serde_json::Value,
    /// What the client was last sent for it (`None`: nothing yet, it must run).
    sent: Option<Sent>,
    /// The read set and timestamp its current result holds for.
    valid: Option<(Arc<hull_db::reads::ReadSet>, Timestamp)>,
    code_version: u64,
    /// Set by the subscription callback when a commit changed what it read.
    invalidated: Arc<AtomicBool>,
    _subscription: Option<hull_db::Subscription>,
}

/// A query result as the client got it; re-runs that give the same are not re-sent.
#[derive(Clone)]
enum Sent {
    Outcome(Arc<CallOutcome>),
    Failure(String),
}

impl Sent {
    /// Same value, error and log lines (ignoring request ids and log timestamps).
    fn same_as(&self, other: &Sent) -> bool {
        match (self, other) {
            (Sent::Outcome(a), Sent::Outcome(b)) => {
                Arc::ptr_eq(a, b)
                    || (a.result == b.result
                        && a.logs.len() == b.logs.len()
                        && a.logs.iter().zip(&b.logs).all(|(x, y)| x.level == y.level && x.messages == y.messages))
            }
            (Sent::Failure(a), Sent::Failure(b)) => a == b,
            _ => false,
        }
    }
}

/// What finished work reports back to the session task.
enum Completed {
    Mutation { request_id: u32, result: Result<(serde_json::Value, u64), (String, Option<serde_json::Value>)>, log_lines: Vec<String> },
    Action { request_id: u32, result: Result<serde_json::Value, (String, Option<serde_json::Value>)>, log_lines: Vec<String> },
    /// The caller's credentials stopped being valid.
    AuthRevoked(String),
}

struct MutationJob {
    request_id: u32,
    udf_path: String,
    args: serde_json::Value,
    caller: Caller,
    session_id: Option<String>,
}

/// How a session ends.
enum End {
    /// The client went away (or the server is stopping): just close.
    Close(Option<CloseFrame>),
    /// Send this last message, then close.
    After(Box<ServerMessage>),
}

/// One socket's state.
struct Session {
    state: AppState,
    received: ReceivedState,
    caller: Caller,
    /// Where the socket's upgrade request came from.
    origin: hull_app::RequestOrigin,
    session_id: Option<String>,
    /// The version the client has reached (the last Transition's end).
    version: StateVersion,
    queries: BTreeMap<u32, QueryState>,
    /// Removed queries to confirm with `QueryRemoved`.
    removed: Vec<u32>,
    /// A Transition must be sent even if nothing changed (query set or identity moved, a
    /// mutation's response waits for one).
    must_send: bool,
    /// Some query may need to run.
    dirty: bool,
    code_version: u64,
    /// Wakes the task when a subscription fires.
    wake: Arc<Notify>,
    completed: mpsc::UnboundedSender<Completed>,
    mutations: Option<mpsc::Sender<MutationJob>>,
    actions_in_flight: Arc<AtomicUsize>,
}

async fn run(state: AppState, origin: hull_app::RequestOrigin, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (mut outgoing, writer) = spawn_writer(sink);
    let (completed, mut completions) = mpsc::unbounded_channel();
    let mut session = Session::new(state, origin, completed);
    let mut housekeeping = tokio::time::interval(SYNC_HOUSEKEEPING_INTERVAL);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_received = Instant::now();
    let mut last_ws_ping = Instant::now();
    let wake = session.wake.clone();
    let transition_sent = outgoing.transition_sent.clone();
    let end: End = loop {
        let step: Result<Vec<ServerMessage>, End> = tokio::select! {
            message = stream.next() => {
                last_received = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => session.handle(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => Err(End::after(fatal("binary messages are not part of the sync protocol"))),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(Vec::new()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(End::Close(None)),
                }
            }
            () = wake.notified() => {
                session.dirty = true;
                Ok(Vec::new())
            }
            Some(done) = completions.recv() => session.completed(done),
            () = transition_sent.notified() => Ok(Vec::new()),
            _ = housekeeping.tick() => {
                if last_received.elapsed() > SYNC_CLIENT_IDLE_TIMEOUT || outgoing.stalled_for() > SYNC_SEND_STALL_TIMEOUT {
                    Err(End::Close(None))
                } else {
                    if last_ws_ping.elapsed() >= SYNC_WS_PING_INTERVAL {
                        last_ws_ping = Instant::now();
                        // A full queue is noticed by the next message pushed.
                        let _ = outgoing.queue.try_send(Frame::Ping);
                    }
                    session.housekeeping(outgoing.last_enqueued.elapsed())
                }
            }
            () = session.state.stopped() => Err(End::Close(None)),
        };
        let mut messages = match step {
            Ok(messages) => messages,
            Err(end) => break end,
        };
        if (session.dirty || session.must_send) && outgoing.unsent_transitions() < SYNC_MAX_SEND_TRANSITION_COUNT {
            match session.transition().await {
                Ok(Some(transition)) => messages.push(transition),
                Ok(None) => {}
                Err(end) => break end,
            }
        }
        if messages.iter().try_for_each(|m| outgoing.push(m)).is_err() {
            break End::Close(Some(CloseFrame { code: 1008, reason: "ClientNotReading".into() }));
        }
    };
    let close = match end {
        End::Close(frame) => frame,
        End::After(message) => {
            let _ = outgoing.push(&message);
            None
        }
    };
    let _ = outgoing.queue.try_send(Frame::Close(close));
    drop(outgoing);
    // The writer finishes once the queue is drained; a client that does not read gets cut off.
    let abort = writer.abort_handle();
    if tokio::time::timeout(CLOSE_GRACE, writer).await.is_err() {
        abort.abort();
    }
}

fn fatal(error: impl Into<String>) -> ServerMessage {
    ServerMessage::FatalError { error: error.into() }
}

impl End {
    fn after(message: ServerMessage) -> End {
        End::After(Box::new(message))
    }
}

impl Session {
    fn new(state: AppState, origin: hull_app::RequestOrigin, completed: mpsc::UnboundedSender<Completed>) -> Session {
        let code_version = state.application().code_version();
        Session {
            state,
            received: ReceivedState::default(),
            caller: Caller::Anonymous,
            origin,
            session_id: None,
            version: StateVersion::default(),
            queries: BTreeMap::new(),
            removed: Vec::new(),
            must_send: false,
            dirty: false,
            code_version,
            wake: Arc::default(),
            completed,
            mutations: None,
            actions_in_flight: Arc::default(),
        }
    }

    /// The AuthError that ends a session whose credentials stopped being valid.
    fn revoked(&self, error: String) -> End {
        // `baseVersion + 1` is the identity it concerns: the current one.
        let base_version = self.received.identity_version().saturating_sub(1);
        End::after(ServerMessage::AuthError { error, base_version, auth_update_attempted: false })
    }

    fn revalidate(&self) -> Result<(), End> {
        self.state.application().revalidate(&self.caller).map_err(|e| self.revoked(e.message))
    }

    async fn handle(&mut self, text: &str) -> Result<Vec<ServerMessage>, End> {
        let message = ClientMessage::parse(text).map_err(|error| End::after(fatal(error.to_string())))?;
        match message {
            ClientMessage::Connect { session_id, .. } => {
                // `maxObservedTimestamp` newer than this server's newest commit (a reset
                // database) is accepted: refusing it would make every open tab loop.
                if session_id.is_empty() || session_id.len() > SYNC_SESSION_ID_MAX_LEN {
                    return Err(End::after(fatal(format!("sessionId must be 1 to {SYNC_SESSION_ID_MAX_LEN} characters"))));
                }
                if self.session_id.is_none() {
                    self.session_id = Some(session_id);
                }
                Ok(Vec::new())
            }
            ClientMessage::Event { .. } => Ok(Vec::new()),
            ClientMessage::Authenticate { base_version, token } => {
                let caller = match token {
                    AuthenticationToken::None => Ok(Caller::Anonymous),
                    AuthenticationToken::Admin { value, impersonating } => crate::auth::admin_token_caller(
                        self.state.application(),
                        &value,
                        impersonating.map(UserIdentity),
                        &self.origin,
                    )
                    .map_err(|e| e.message),
                    AuthenticationToken::User { value } => {
                        // Verifying may fetch the provider's keys: off the socket's task.
                        let application = self.state.application().clone();
                        tokio::task::spawn_blocking(move || application.user_caller(&value))
                            .await
                            .map_err(|_| "verifying the token panicked".to_owned())
                            .and_then(|verified| verified.map_err(|e| e.message))
                    }
                };
                let caller = match caller {
                    Ok(caller) => caller,
                    Err(error) => return Err(End::after(ServerMessage::AuthError { error, base_version, auth_update_attempted: true })),
                };
                self.received.modify_identity(base_version).map_err(|error| End::after(fatal(error.to_string())))?;
                self.caller = caller;
                // Every result may depend on the identity: run them all again.
                for query in self.queries.values_mut() {
                    query.valid = None;
                }
                self.dirty = true;
                self.must_send = true;
                Ok(Vec::new())
            }
            ClientMessage::ModifyQuerySet { base_version, new_version, modifications } => {
                let change = self
                    .received
                    .modify_query_set(base_version, new_version, modifications)
                    .map_err(|error| End::after(fatal(error.to_string())))?;
                for id in change.removed {
                    if self.queries.remove(&id).is_some() {
                        self.removed.push(id);
                    }
                }
                for id in change.added {
                    let spec = &self.received.queries()[&id];
                    let query = QueryState {
                        udf_path: spec.udf_path.clone(),
                        args: serde_json::Value::Array(spec.args.clone()),
                        sent: None,
                        valid: None,
                        code_version: self.code_version,
                        invalidated: Arc::default(),
                        _subscription: None,
                    };
                    // An id removed and added again in one message is a new query.
                    self.removed.retain(|removed| *removed != id);
                    self.queries.insert(id, query);
                }
                self.dirty = true;
                self.must_send = true;
                Ok(Vec::new())
            }
            ClientMessage::Mutation { request_id, udf_path, args, .. } => {
                let job = MutationJob { request_id, udf_path, args: serde_json::Value::Array(args), caller: self.caller.clone(), session_id: self.session_id.clone() };
                let queue = self.mutations.get_or_insert_with(|| spawn_mutation_executor(self.state.clone(), self.completed.clone()));
                match queue.try_send(job) {
                    Ok(()) => Ok(Vec::new()),
                    Err(_) => Err(End::Close(Some(CloseFrame {
                        code: 1013,
                        reason: format!("TooManyConcurrentMutations: at most {SYNC_MAX_MUTATIONS_QUEUED} may wait per connection").into(),
                    }))),
                }
            }
            ClientMessage::Action { request_id, udf_path, args, .. } => {
                if self.actions_in_flight.load(Ordering::Acquire) >= SYNC_MAX_ACTIONS_IN_FLIGHT {
                    return Err(End::Close(Some(CloseFrame {
                        code: 1013,
                        reason: format!("TooManyConcurrentRequests: at most {SYNC_MAX_ACTIONS_IN_FLIGHT} actions per connection").into(),
                    })));
                }
                self.revalidate()?;
                self.actions_in_flight.fetch_add(1, Ordering::AcqRel);
                let (application, caller, completed, in_flight) =
                    (self.state.application().clone(), self.caller.clone(), self.completed.clone(), self.actions_in_flight.clone());
                tokio::spawn(async move {
                    let outcome = call_blocking(application, caller, CallKind::Action, udf_path, serde_json::Value::Array(args), None).await;
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    let log_lines = log_lines(&outcome);
                    let _ = completed.send(Completed::Action { request_id, result: result(outcome.map(|(o, _)| o)), log_lines });
                });
                Ok(Vec::new())
            }
        }
    }

    fn completed(&mut self, done: Completed) -> Result<Vec<ServerMessage>, End> {
        match done {
            Completed::Mutation { request_id, result, log_lines } => {
                if result.is_ok() {
                    // The client resolves the mutation only on a Transition at or after its
                    // commit, which the queries its writes invalidated also need.
                    self.must_send = true;
                }
                Ok(vec![ServerMessage::MutationResponse { request_id, result, log_lines }])
            }
            Completed::Action { request_id, result, log_lines } => Ok(vec![ServerMessage::ActionResponse { request_id, result, log_lines }]),
            Completed::AuthRevoked(error) => Err(self.revoked(error)),
        }
    }

    fn housekeeping(&mut self, since_last_sent: Duration) -> Result<Vec<ServerMessage>, End> {
        self.revalidate()?;
        let code_version = self.state.application().code_version();
        if code_version != self.code_version {
            self.code_version = code_version;
            self.dirty = true;
        }
        Ok(if since_last_sent >= SYNC_PING_INTERVAL { vec![ServerMessage::Ping] } else { Vec::new() })
    }

    /// Brings every query to the newest timestamp: re-runs those whose reads changed (or that
    /// are new, or ran under other credentials or code), carries the others forward, and
    /// answers the Transition to send, if any.
    async fn transition(&mut self) -> Result<Option<ServerMessage>, End> {
        self.revalidate()?;
        self.dirty = false;
        let database = self.state.database().clone();
        let ts = database.latest_ts().max(Timestamp(self.version.ts));
        let mut to_run = Vec::new();
        for (id, query) in &mut self.queries {
            let must_run = match &query.valid {
                None => true,
                Some(_) if query.invalidated.load(Ordering::Acquire) || query.code_version != self.code_version => true,
                // A commit whose callback has not run yet is still in the write log.
                Some((reads, valid_ts)) => match database.first_change_since(reads, *valid_ts) {
                    Some(changed) if changed <= ts => true,
                    _ => {
                        query.valid = Some((reads.clone(), ts));
                        false
                    }
                },
            };
            if must_run {
                to_run.push((*id, query.udf_path.clone(), query.args.clone()));
            }
        }
        let (application, caller, code_version) = (self.state.application().clone(), self.caller.clone(), self.code_version);
        let results: Vec<(u32, Result<QueryResult, String>)> = futures_util::stream::iter(to_run)
            .map(|(id, path, args)| {
                let (application, caller) = (application.clone(), caller.clone());
                async move { (id, subscription_query(application, caller, path, args, ts).await) }
            })
            .buffered(SYNC_QUERY_CONCURRENCY)
            .collect()
            .await;

        let mut modifications: Vec<StateModification> = self.removed.drain(..).map(|query_id| StateModification::QueryRemoved { query_id }).collect();
        for (query_id, result) in results {
            let Some(query) = self.queries.get_mut(&query_id) else { continue };
            let invalidated = Arc::new(AtomicBool::new(false));
            let (sent, subscription) = match result {
                Ok(result) => {
                    // Runs from an older code version are filed under it; the next
                    // housekeeping tick notices and runs them again.
                    query.code_version = result.code_version.min(code_version);
                    let subscription = (result.reads.interval_count() > 0).then(|| {
                        let (flag, wake) = (invalidated.clone(), self.wake.clone());
                        database.subscribe(&result.reads, result.ts, move |_| {
                            flag.store(true, Ordering::Release);
                            wake.notify_one();
                        })
                    });
                    query.valid = Some((result.reads.clone(), result.ts));
                    (Sent::Outcome(result.outcome), subscription)
                }
                Err(message) => {
                    // Not the query's failure (overload, storage): run it again on the next
                    // wake-up, at the latest the next housekeeping tick.
                    query.valid = None;
                    (Sent::Failure(message), None)
                }
            };
            query.invalidated = invalidated;
            query._subscription = subscription;
            if query.sent.as_ref().is_some_and(|old| old.same_as(&sent)) {
                continue;
            }
            modifications.push(modification(query_id, &sent));
            query.sent = Some(sent);
        }
        // A query that ran under code older than the socket's newest, or failed for reasons not
        // its own: run it again on the next wake-up (at the latest the next housekeeping tick).
        self.dirty |= self.queries.values().any(|q| q.code_version != code_version || q.valid.is_none());
        let end = StateVersion { query_set: self.received.query_set_version(), identity: self.received.identity_version(), ts: ts.0 };
        if modifications.is_empty() && !self.must_send {
            return Ok(None);
        }
        self.must_send = false;
        let start = std::mem::replace(&mut self.version, end);
        Ok(Some(ServerMessage::Transition { start, end, modifications, client_clock_skew: None, server_ts: Some(now_ns()) }))
    }
}

/// One query of a Transition at `ts`: from the shared cache when it holds there, waiting for an
/// identical execution in flight without holding a thread, else run on a blocking thread (a
/// commit that wakes many sockets watching one query runs it once).
async fn subscription_query(application: hull_app::Application, caller: Caller, path: String, args: serde_json::Value, ts: Timestamp) -> Result<QueryResult, String> {
    let path = FunctionPath::parse(&path).map_err(|e| e.message)?;
    match application.cached_subscription_query(&caller, &path, args.clone(), ts).map_err(|e| e.message)? {
        CachedQuery::Hit(result) => return Ok(result),
        CachedQuery::Running(wait) => {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            wait.on_done(move |result| {
                let _ = sender.send(result);
            });
            if let Ok(Some(result)) = receiver.await {
                return Ok(result);
            }
        }
        CachedQuery::Miss => {}
    }
    tokio::task::spawn_blocking(move || application.run_subscription_query(&caller, &path, args, Some(ts)).map_err(|e| e.message))
        .await
        .unwrap_or_else(|_| Err("The query panicked.".to_owned()))
}

/// Runs a socket's mutations one at a time, in order, each to completion even if the socket
/// closes meanwhile (so a replay finds its result). Stops taking new ones once the socket is
/// gone: the client resends them on its next socket.
fn spawn_mutation_executor(state: AppState, completed: mpsc::UnboundedSender<Completed>) -> mpsc::Sender<MutationJob> {
    let (queue, mut jobs) = mpsc::channel::<MutationJob>(SYNC_MAX_MUTATIONS_QUEUED);
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            if completed.is_closed() {
                break;
            }
            if let Err(error) = state.application().revalidate(&job.caller) {
                let _ = completed.send(Completed::AuthRevoked(error.message));
                break;
            }
            let done = run_mutation(&state, job).await;
            let _ = completed.send(done);
        }
    });
    queue
}

async fn run_mutation(state: &AppState, job: MutationJob) -> Completed {
    let MutationJob { request_id, udf_path, args, caller, session_id } = job;
    let records = &state.sync_requests;
    let claim = match &session_id {
        Some(session) => Some(records.claim(session, request_id).await),
        None => None,
    };
    let done = match claim {
        Some(Claim::Replay(recorded)) => {
            return Completed::Mutation { request_id, result: Ok((recorded.value, recorded.ts)), log_lines: recorded.log_lines };
        }
        Some(Claim::Run(done)) => Some(done),
        None => None,
    };
    // The durable record (`_session_requests`) makes this exactly-once across restarts too: a
    // resend of a mutation that committed before a crash is answered from it.
    let session_request = session_id.clone().map(|session_id| SessionRequest { session_id, request_id });
    let outcome = call_blocking(state.application().clone(), caller, CallKind::Mutation, udf_path, args, session_request).await;
    let log_lines = log_lines(&outcome);
    let commit_ts = outcome.as_ref().ok().and_then(|(_, ts)| *ts).map_or_else(|| state.database().latest_ts().0, |ts| ts.0);
    let result = result(outcome.map(|(o, _)| o)).map(|value| (value, commit_ts));
    if let (Some(session), Some(done)) = (session_id, done) {
        let recorded = result.as_ref().ok().map(|(value, ts)| {
            let bytes = value.to_string().len() + log_lines.iter().map(String::len).sum::<usize>() + 64;
            Recorded { value: value.clone(), ts: *ts, log_lines: log_lines.clone(), bytes }
        });
        records.finish(&session, request_id, done, recorded);
    }
    Completed::Mutation { request_id, result, log_lines }
}

/// Runs a call on a blocking thread (function calls block); a mutation with its session request
/// runs exactly once per request.
async fn call_blocking(
    application: hull_app::Application,
    caller: Caller,
    kind: CallKind,
    path: String,
    args: serde_json::Value,
    session_request: Option<SessionRequest>,
) -> Result<(CallOutcome, Option<Timestamp>), String> {
    tokio::task::spawn_blocking(move || {
        let path = FunctionPath::parse(&path).map_err(|e| e.message)?;
        match &session_request {
            Some(request) => application.call_session_request(&caller, kind, &path, args, request),
            None => application.call_with_commit_ts(&caller, kind, &path, args),
        }
        .map_err(|e| e.message)
    })
    .await
    .unwrap_or_else(|_| Err("The function call panicked.".to_owned()))
}

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn modification(query_id: u32, sent: &Sent) -> StateModification {
    match sent {
        Sent::Outcome(outcome) => {
            let log_lines: Vec<String> = outcome.logs.iter().map(crate::wire::log_line).collect();
            match outcome_result(outcome) {
                Ok(value) => StateModification::QueryUpdated { query_id, value, log_lines, journal: None },
                Err((error_message, error_data)) => {
                    StateModification::QueryFailed { query_id, error_message, log_lines, journal: None, error_data }
                }
            }
        }
        Sent::Failure(error_message) => {
            StateModification::QueryFailed { query_id, error_message: error_message.clone(), log_lines: Vec::new(), journal: None, error_data: None }
        }
    }
}

fn log_lines<T>(outcome: &Result<(CallOutcome, T), String>) -> Vec<String> {
    outcome.as_ref().map(|(o, _)| o.logs.iter().map(crate::wire::log_line).collect()).unwrap_or_default()
}

/// A call's value (Convex JSON), or its error message (formatted as over HTTP) and data.
fn result(outcome: Result<CallOutcome, String>) -> Result<serde_json::Value, (String, Option<serde_json::Value>)> {
    outcome_result(&outcome.map_err(|message| (message, None))?)
}

fn outcome_result(outcome: &CallOutcome) -> Result<serde_json::Value, (String, Option<serde_json::Value>)> {
    match &outcome.result {
        Ok(value) => Ok(value.to_json()),
        Err(error) => {
            let stack = error.stack.as_deref().map(str::trim_end).unwrap_or("");
            let message = format!("[Request ID: {}] Server Error\n{}\n{stack}", outcome.request_id, error.message);
            Err((message, error.data.as_ref().map(|d| d.to_json())))
        }
    }
}

#[cfg(test)]
mod tests;
