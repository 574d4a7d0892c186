//! The accept loop both ports run: hyper's HTTP/1.1 connections with upgrades (the sync
//! WebSocket), plus the defences `axum::serve` lacks against clients that hold connections
//! without finishing requests.
//!
//! * **Connection cap.** One [`ConnectionLimits::max_connections`] budget covers both ports,
//!   because file descriptors and memory are the process's. A connection holds its permit for as
//!   long as its socket lives, including after a WebSocket upgrade (the permit travels inside the
//!   socket, [`CountedStream`]). A connection over the cap is answered `503 TooManyConnections`
//!   with `Retry-After` and closed, so a flood is refused with a clear error and served clients
//!   are untouched.
//! * **Header read timeout (slowloris).** A request's headers must arrive within
//!   [`ConnectionLimits::header_read_timeout`] of the connection becoming ready for them. The
//!   timer also runs while a keep-alive connection idles between requests, so idle connections
//!   give their permit back.
//! * **Write stall timeout.** A client that stops reading (its receive window stays full) makes
//!   writes wait; after [`ConnectionLimits::write_stall_timeout`] without progress the
//!   connection is closed, HTTP or WebSocket alike, and its place is free again.
//! * **Body idle timeout.** A request body that stops arriving for
//!   [`ConnectionLimits::body_idle_timeout`] fails ([`IdleTimeoutBody`]); the request is answered
//!   as a body read error and the connection closes.
//!
//! Upgraded WebSockets are not subject to the HTTP timers: the sync session has its own idle and
//! stall timeouts (`sync.rs`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Open connections (HTTP and WebSocket, both ports together) by default. Hull's own bound:
/// enough for the 10,000 idle subscribers the fan-out benchmark holds plus room to administer
/// the server; each connection costs a file descriptor, so `hull serve` raises its open-file
/// limit to fit.
pub const CONNECTIONS_MAX: usize = 20_000;

/// How long a client may take to send a request's headers, and how long a keep-alive connection
/// may idle between requests (hyper's default header timeout, 30 s; Node's `headersTimeout` is
/// 60 s). Defeats slowloris: a connection that trickles its headers is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request body may stall between two chunks before the request fails. Hull's own
/// bound; the longest body Hull accepts (a 20 MiB HTTP action body) arrives at any sane rate
/// without a 30 s pause.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a write may make no progress before the connection is closed: the client stopped
/// reading. The sync socket's writer gives up after the same time ([`crate::sync`]'s
/// `SYNC_SEND_STALL_TIMEOUT`); a client reconnects after 60 s of silence anyway.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Refusals of over-cap connections being written at once; beyond this a refused connection is
/// closed without an answer (a flood large enough to need more gets no more of our time).
const REFUSALS_IN_FLIGHT_MAX: usize = 64;

/// How long a refusal waits for the client to take the answer before closing.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Refused connections are logged at most this often (a flood would otherwise flood the log).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// After an accept error (out of file descriptors, say), accepting pauses this long: retrying at
/// once would spin while nothing has been freed.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// The message a connection over the cap is answered with (HTTP 503, `TooManyConnections`).
pub fn too_many_connections_message(max_connections: usize) -> String {
    format!("Hull is serving its maximum of {max_connections} connections. Try again later.")
}

/// The connection defences of both ports; [`Default`] gives the named constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections over both ports; see [`CONNECTIONS_MAX`].
    pub max_connections: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`BODY_IDLE_TIMEOUT`].
    pub body_idle_timeout: Duration,
    /// See [`WRITE_STALL_TIMEOUT`].
    pub write_stall_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: CONNECTIONS_MAX,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_idle_timeout: BODY_IDLE_TIMEOUT,
            write_stall_timeout: WRITE_STALL_TIMEOUT,
        }
    }
}

/// The connection budget the listeners of one server share.
#[derive(Clone)]
pub(crate) struct ConnectionBudget {
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    /// Connections refused since the last log line, and when that line was written.
    refused: Arc<parking_lot::Mutex<(u64, Option<std::time::Instant>)>>,
}

impl ConnectionBudget {
    pub(crate) fn new(limits: ConnectionLimits) -> ConnectionBudget {
        assert!(limits.max_connections > 0, "a server must accept at least one connection");
        ConnectionBudget {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            refusals: Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT_MAX)),
            refused: Arc::default(),
        }
    }
}

/// Accepts on `listener` and serves `router` until `stopped` turns true, then lets the open
/// HTTP connections finish their requests (graceful shutdown) and returns once they have.
pub(crate) async fn serve(listener: TcpListener, router: Router, budget: ConnectionBudget, mut stopped: watch::Receiver<bool>) {
    // Every connection task holds a receiver; `closed()` on the sender resolves once all are
    // gone, which is when the last connection has finished.
    let (connections, connection_watch) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!("accepting a connection failed: {err}");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = budget.permits.clone().try_acquire_owned() else {
            refuse(stream, &budget);
            continue;
        };
        // Answers go out as soon as they are written, not after Nagle's delay.
        let _ = stream.set_nodelay(true);
        let stream = CountedStream { stream, _permit: permit, stall_timeout: budget.limits.write_stall_timeout, stalled: None };
        tokio::spawn(serve_connection(stream, peer, router.clone(), budget.limits, stopped.clone(), connection_watch.clone()));
    }
    drop(listener);
    drop(connection_watch);
    connections.closed().await;
}

async fn serve_connection(
    stream: CountedStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
    _connection_watch: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(|body| Body::new(IdleTimeoutBody::new(body, limits.body_idle_timeout)));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!("connection from {peer} ended: {err}");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    // Shutting down: finish the request in progress, take no new one.
    connection.as_mut().graceful_shutdown();
    if let Err(err) = connection.await {
        tracing::debug!("connection from {peer} ended during shutdown: {err}");
    }
}

/// Answers a connection over the cap with a 503 in Convex's error envelope and closes it.
fn refuse(mut stream: TcpStream, budget: &ConnectionBudget) {
    let message = too_many_connections_message(budget.limits.max_connections);
    {
        let mut refused = budget.refused.lock();
        refused.0 += 1;
        if refused.1.is_none_or(|logged| logged.elapsed() >= REFUSAL_LOG_INTERVAL) {
            tracing::warn!("{message} ({} connections refused since the last report)", refused.0);
            *refused = (0, Some(std::time::Instant::now()));
        }
    }
    let Ok(refusal) = budget.refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let body = serde_json::json!({"code": "TooManyConnections", "message": message}).to_string();
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
             connection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let linger = async {
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent until it closes, so that closing does not reset the
            // connection before the client has read the answer.
            tokio::io::copy(&mut stream, &mut tokio::io::sink()).await
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
        drop(refusal);
    });
}

/// A TCP stream that holds its connection permit until it is dropped, which, after a WebSocket
/// upgrade, is when the WebSocket closes; and whose writes fail once they have made no progress
/// for its stall timeout.
struct CountedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    stall_timeout: Duration,
    /// Armed when a write finds the socket full, disarmed when a write goes through.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl CountedStream {
    /// Passes a write's outcome on, timing how long writes stay pending.
    fn watch_stall<T>(&mut self, cx: &mut Context<'_>, poll: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.stall_timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client read nothing for {} s", timeout.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch_stall(cx, poll)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch_stall(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request body that fails when no data arrives for its timeout (a client that stalls mid
/// body would otherwise hold its connection and the request's task forever). The timer runs
/// only while the body is being read and nothing is there: a handler that reads late is not
/// penalised.
struct IdleTimeoutBody {
    body: Incoming,
    timeout: Duration,
    /// Armed when a read finds nothing, disarmed when a frame arrives.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl IdleTimeoutBody {
    fn new(body: Incoming, timeout: Duration) -> IdleTimeoutBody {
        IdleTimeoutBody { body, timeout, deadline: None }
    }
}

/// The error a stalled body ends with.
#[derive(Debug)]
struct BodyStalled(Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body stalled: no data arrived for {} s", self.0.as_secs())
    }
}

impl std::error::Error for BodyStalled {}

impl hyper::body::Body for IdleTimeoutBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.deadline = None;
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
