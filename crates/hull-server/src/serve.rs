//! Binding the two listeners and running them until a shutdown signal.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use hull_errors::{Error, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

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
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            interface: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_port: DEFAULT_API_PORT,
            site_port: DEFAULT_SITE_PORT,
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
        Ok(Server { api, site, api_addr, site_addr, state })
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
        let Server { api, site, state, .. } = self;
        let (stop, stopped) = watch::channel(false);
        let state = state.with_stopping(stopped.clone());
        let mut servers = JoinSet::new();
        servers.spawn(serve_one(api, api_router(state.clone()), stopped.clone(), "API"));
        servers.spawn(serve_one(site, site_router(state), stopped, "HTTP actions"));

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

async fn serve_one(listener: TcpListener, router: Router, mut stopped: watch::Receiver<bool>, purpose: &str) -> Result<()> {
    let shutdown = async move {
        // An error means the sender is gone, which also means: stop.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await.map_err(|err| {
        Error::internal("ServerFailed", format!("the {purpose} listener failed: {err}"))
    })
}

fn flatten(joined: std::result::Result<Result<()>, JoinError>) -> Result<()> {
    joined.map_err(|err| Error::internal("ServerFailed", format!("a listener task ended abnormally: {err}")))?
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

    #[tokio::test]
    async fn a_port_in_use_fails_to_bind_with_a_clear_message() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = ServeConfig { api_port: taken.local_addr().unwrap().port(), ..loopback_on_free_ports() };
        let Err(error) = Server::bind(&config, state()).await else { panic!("bind succeeded on a taken port") };
        assert_eq!(error.short, "ListenFailed");
        assert!(error.message.contains("for API requests"), "{}", error.message);
    }
}
