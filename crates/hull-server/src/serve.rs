//! Binding the two listeners and running them until a shutdown signal.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hull_errors::{Error, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use crate::listener::{self, ConnectionBudget, ConnectionLimits};
use crate::{api_router, site_router, AppState};

/// Convex's default API port (`CONVEX_CLOUD_URL` is `http://127.0.0.1:3210`).
pub const DEFAULT_API_PORT: u16 = 3210;

/// Convex's default site port for HTTP actions (`CONVEX_SITE_URL` is `http://127.0.0.1:3211`).
pub const DEFAULT_SITE_PORT: u16 = 3211;

/// How long in-flight requests may keep running after a shutdown signal before the server stops
/// waiting for them. Long enough for any request Hull answers today; short enough that a
/// stuck connection cannot keep a stopping process (and its database lock) alive.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// The interface both listeners bind to; loopback by default, so a fresh deployment is not
    /// reachable from the network.
    pub interface: IpAddr,
    /// The API port; 0 asks the OS for a free one.
    pub api_port: u16,
    /// The site (HTTP actions) port; 0 asks the OS for a free one.
    pub site_port: u16,
    /// The connection cap and timeouts both ports share.
    pub limits: ConnectionLimits,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            interface: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_port: DEFAULT_API_PORT,
            site_port: DEFAULT_SITE_PORT,
            limits: ConnectionLimits::default(),
        }
    }
}

/// Both listeners, bound and not yet serving.
///
/// Binding is separate from running so that the caller learns the real addresses (port 0) and
/// can report them, and so that a port already in use fails before anything is announced.
pub struct Server {
    api: TcpListener,
    site: TcpListener,
    api_addr: SocketAddr,
    site_addr: SocketAddr,
    state: AppState,
    limits: ConnectionLimits,
}

impl Server {
    /// Binds the API and site listeners described by `config`.
    pub async fn bind(config: &ServeConfig, state: AppState) -> Result<Server> {
        let (api, api_addr) = bind(SocketAddr::new(config.interface, config.api_port), "API").await?;
        let (site, site_addr) =
            bind(SocketAddr::new(config.interface, config.site_port), "HTTP actions").await?;
        let state = state.with_site_port(site_addr.port());
        // Functions see where they are served (`process.env.CONVEX_CLOUD_URL` / `_SITE_URL`);
        // a wildcard interface is reached through loopback from this machine.
        let reachable = |addr: SocketAddr| match addr.ip() {
            ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
            _ => addr,
        };
        state.application().set_canonical_urls(
            &format!("http://{}", reachable(api_addr)),
            &format!("http://{}", reachable(site_addr)),
        );
        Ok(Server { api, site, api_addr, site_addr, state, limits: config.limits })
    }

    /// The address the API listener is bound to.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The address the site (HTTP actions) listener is bound to.
    pub fn site_addr(&self) -> SocketAddr {
        self.site_addr
    }

    /// Serves until SIGINT or SIGTERM, then shuts down as [`Server::run_until`] does.
    ///
    /// The signal handlers are installed before the first request is served, so a client that
    /// got an answer can rely on a signal stopping the server gracefully.
    pub async fn run(self) -> Result<()> {
        let signals = signals::Shutdown::install()?;
        self.run_until(signals.received()).await
    }

    /// Serves both ports until `shutdown` completes or one listener fails, then stops accepting
    /// on both, waits up to [`SHUTDOWN_GRACE`] for in-flight requests, and drops the state.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Server { api, site, state, limits, .. } = self;
        let (stop, stopped) = watch::channel(false);
        let state = state.with_stopping(stopped.clone());
        let budget = ConnectionBudget::new(limits);
        let mut servers = JoinSet::new();
        servers.spawn(listener::serve(api, api_router(state.clone()), budget.clone(), stopped.clone()));
        servers.spawn(listener::serve(site, site_router(state), budget, stopped));

        let mut outcome = Ok(());
        tokio::select! {
            () = shutdown => {}
            Some(joined) = servers.join_next() => outcome = flatten(joined),
        }
        // Every receiver may already be gone (both servers ended); nothing to tell then.
        let _ = stop.send(true);
        let drain = async {
            while let Some(joined) = servers.join_next().await {
                outcome = std::mem::replace(&mut outcome, Ok(())).and(flatten(joined));
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!("requests still running {SHUTDOWN_GRACE:?} after shutdown began; abandoning them");
            servers.abort_all();
        }
        outcome
    }
}

/// Binds the listeners `config` describes and serves `state` until SIGINT or SIGTERM.
pub async fn serve(config: &ServeConfig, state: AppState) -> Result<()> {
    Server::bind(config, state).await?.run().await
}

async fn bind(addr: SocketAddr, purpose: &str) -> Result<(TcpListener, SocketAddr)> {
    let failed = |err: std::io::Error| {
        Error::internal(
            "ListenFailed",
            format!(
                "could not listen on {addr} for {purpose} requests: {err}. \
                 Stop the process using that port, or choose another port."
            ),
        )
    };
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

fn flatten(joined: std::result::Result<(), JoinError>) -> Result<()> {
    joined.map_err(|err| Error::internal("ServerFailed", format!("a listener task ended abnormally: {err}")))
}

#[cfg(unix)]
mod signals {
    use hull_errors::{Error, Result};
    use tokio::signal::unix::{signal, Signal, SignalKind};

    /// SIGINT and SIGTERM handlers; installing them replaces the default "terminate at once".
    pub(super) struct Shutdown {
        interrupt: Signal,
        terminate: Signal,
    }

    impl Shutdown {
        pub(super) fn install() -> Result<Shutdown> {
            let install = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|err| {
                    Error::internal("SignalSetupFailed", format!("could not install the {name} handler: {err}"))
                })
            };
            Ok(Shutdown {
                interrupt: install(SignalKind::interrupt(), "SIGINT")?,
                terminate: install(SignalKind::terminate(), "SIGTERM")?,
            })
        }

        pub(super) async fn received(mut self) {
            let name = tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            };
            tracing::info!("received {name}, shutting down");
        }
    }
}

#[cfg(not(unix))]
mod signals {
    use hull_errors::Result;

    /// Ctrl-C, the only shutdown signal outside Unix.
    pub(super) struct Shutdown;

    impl Shutdown {
        pub(super) fn install() -> Result<Shutdown> {
            Ok(Shutdown)
        }

        pub(super) async fn received(self) {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("received Ctrl-C, shutting down");
            } else {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    fn loopback_on_free_ports() -> ServeConfig {
        ServeConfig { api_port: 0, site_port: 0, ..ServeConfig::default() }
    }

    fn state() -> AppState {
        crate::test_state("hull-socket-test")
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn both_ports_serve_over_real_sockets_until_shutdown() {
        let server = Server::bind(&loopback_on_free_ports(), state()).await.unwrap();
        let (api, site) = (server.api_addr(), server.site_addr());
        assert_ne!(api.port(), 0);
        assert_ne!(site.port(), 0);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));

        let answer = get(api, "/instance_name").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nhull-socket-test"), "{answer}");
        let answer = get(site, "/anything").await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(TcpStream::connect(api).await.is_err(), "the API listener is closed after shutdown");
    }

    #[tokio::test]
    async fn an_open_sync_socket_is_closed_at_shutdown() {
        let server = Server::bind(&loopback_on_free_ports(), state()).await.unwrap();
        let api = server.api_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        let mut socket = TcpStream::connect(api).await.unwrap();
        let upgrade = format!(
            "GET /api/1.48.0/sync HTTP/1.1\r\nHost: {api}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        socket.write_all(upgrade.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 101");

        let started = std::time::Instant::now();
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(started.elapsed() < SHUTDOWN_GRACE / 2, "shutdown waited {:?} for the socket", started.elapsed());
        // The upgraded socket outlives hyper's graceful shutdown; the session closes it itself
        // (and so drops its handle on the deployment).
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(SHUTDOWN_GRACE / 2, socket.read_to_end(&mut rest)).await;
        assert!(matches!(closed, Ok(Ok(_))), "the sync socket stayed open after shutdown");
    }

    /// Serves `state()` with `limits` until the returned sender fires.
    async fn serve_with(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Result<()>>) {
        let server = Server::bind(&ServeConfig { limits, ..loopback_on_free_ports() }, state()).await.unwrap();
        let api = server.api_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        (api, stop, running)
    }

    /// Reads until the server closes the connection (or `within` passes: then `None`).
    async fn read_until_closed(stream: &mut TcpStream, within: std::time::Duration) -> Option<String> {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await.ok()?;
        // A reset after the answer is a close too.
        let _ = read;
        Some(String::from_utf8_lossy(&answer).into_owned())
    }

    const SHORT: std::time::Duration = std::time::Duration::from_millis(300);

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_closed_and_others_are_served_meanwhile() {
        let limits = ConnectionLimits { header_read_timeout: SHORT, ..ConnectionLimits::default() };
        let (api, stop, running) = serve_with(limits).await;
        let started = std::time::Instant::now();
        let mut slow = TcpStream::connect(api).await.unwrap();
        slow.write_all(b"GET /instance_name HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        // Served while the slow client holds its connection.
        let answer = get(api, "/instance_name").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // One more header line keeps trickling in; the deadline does not move.
        tokio::time::sleep(SHORT / 2).await;
        let _ = slow.write_all(b"X-Slow: 1\r\n").await;
        let closed = read_until_closed(&mut slow, SHORT * 10).await;
        assert!(closed.is_some(), "the slow client's connection stayed open");
        assert!(started.elapsed() >= SHORT, "closed after {:?}, before the timeout", started.elapsed());
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn connections_over_the_cap_get_a_clear_503_and_idle_ones_give_their_place_back() {
        let limits = ConnectionLimits { max_connections: 2, header_read_timeout: SHORT, ..ConnectionLimits::default() };
        let (api, stop, running) = serve_with(limits).await;
        // A keep-alive client that made a request and now idles, and one that never sends.
        let mut kept = TcpStream::connect(api).await.unwrap();
        kept.write_all(format!("GET /instance_name HTTP/1.1\r\nHost: {api}\r\n\r\n").as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        kept.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let _silent = TcpStream::connect(api).await.unwrap();
        tokio::time::sleep(SHORT / 6).await;

        let refused = get(api, "/instance_name").await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.to_ascii_lowercase().contains("retry-after: 1\r\n"), "{refused}");
        let body: serde_json::Value = serde_json::from_str(refused.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["code"], "TooManyConnections");
        assert_eq!(body["message"], crate::listener::too_many_connections_message(2));

        // Both idle connections time out and free their places.
        tokio::time::sleep(SHORT * 3).await;
        let answer = get(api, "/instance_name").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_open_websocket_counts_against_the_cap_until_it_closes() {
        let limits = ConnectionLimits { max_connections: 1, ..ConnectionLimits::default() };
        let (api, stop, running) = serve_with(limits).await;
        let url = format!("ws://{api}/api/1.48.0/sync");
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let refused = get(api, "/instance_name").await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        socket.close(None).await.unwrap();
        drop(socket);
        let mut answer = String::new();
        for _ in 0..50 {
            answer = get(api, "/instance_name").await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(SHORT / 10).await;
        }
        assert!(answer.starts_with("HTTP/1.1 200"), "the closed WebSocket kept its place: {answer}");
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_stalled_request_body_fails_the_request_and_closes_the_connection() {
        let limits = ConnectionLimits { body_idle_timeout: SHORT, ..ConnectionLimits::default() };
        let (api, stop, running) = serve_with(limits).await;
        let mut stalled = TcpStream::connect(api).await.unwrap();
        let head = format!(
            "POST /api/query HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"path\":"
        );
        stalled.write_all(head.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        let answer = read_until_closed(&mut stalled, SHORT * 10).await.expect("the stalled request was never answered");
        assert!(started.elapsed() >= SHORT, "answered after {:?}, before the timeout", started.elapsed());
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("stalled"), "{answer}");
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_disconnected_and_its_place_freed() {
        let limits = ConnectionLimits { max_connections: 2, write_stall_timeout: SHORT, ..ConnectionLimits::default() };
        let (api, stop, running) = serve_with(limits).await;
        // A small receive buffer, and far more pipelined requests than the answers that fit in
        // both sides' buffers (loopback holds megabytes): the server's writes stall.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut deaf = socket.connect(api).await.unwrap();
        let request = format!("GET /instance_name HTTP/1.1\r\nHost: {api}\r\n\r\n");
        let requests = request.repeat(300_000);
        let (mut reader, mut writer) = deaf.split();
        // The server stops reading requests once its writes stall, so ours may stall too.
        let _ = tokio::time::timeout(SHORT * 20, writer.write_all(requests.as_bytes())).await;
        // Reading now drains what was buffered, then must find the connection closed.
        let mut drained = Vec::new();
        let closed = tokio::time::timeout(SHORT * 20, reader.read_to_end(&mut drained)).await;
        assert!(closed.is_ok(), "the connection of a client that stopped reading stayed open");
        let answers = drained.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
        assert!(answers < 300_000, "every answer was delivered, so no write ever stalled");
        let answer = get(api, "/instance_name").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_port_in_use_fails_to_bind_with_a_clear_message() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = ServeConfig { api_port: taken.local_addr().unwrap().port(), ..loopback_on_free_ports() };
        let Err(error) = Server::bind(&config, state()).await else { panic!("bind succeeded on a taken port") };
        assert_eq!(error.short, "ListenFailed");
        assert!(error.message.contains("for API requests"), "{}", error.message);
    }
}
