//! `hull-server`: Hull's HTTP edge.
//!
//! A Hull deployment listens on two ports, as Convex's backend does: the **API port** (3210 by
//! default; [`api_router`]) serves `/api/*`, the sync WebSocket and the health routes, and the
//! **site port** (3211; [`site_router`]) serves the deployment's HTTP actions. [`Server`] binds
//! both listeners and runs them until SIGINT or SIGTERM, then shuts both down together.
//!
//! Key decision: this is the only crate that knows HTTP shapes. Routes, status codes, headers
//! and the JSON bodies on the wire (such as Convex's error envelope
//! `{"code": "<ShortCode>", "message": "..."}`, see [`HttpError`]) are defined here and built
//! by hand from internal types; nothing below this crate derives `Serialize` for the wire. The
//! routers are plain functions of an [`AppState`], so handler tests drive them with
//! `tower::ServiceExt::oneshot` and no socket.
//!
//! The HTTP function API (`/api/query`, `/api/mutation`, `/api/action`, `/api/run/{path}`,
//! `/api/function`; wire protocols §5) lives in `functions`: it reads the credentials
//! (`auth`), decodes the body with upstream's error envelopes (`wire`), runs the call on a
//! blocking thread through [`hull_app::Application::call`] and answers Convex's
//! `{"status": ...}` envelope. The push protocol of `npx convex deploy` / `dev` / `codegen`
//! (§8) lives in `push`: Brotli-compressed bodies authenticated by their `adminKey`, answers
//! shaped for the CLI's zod schemas, and the two halves of a push (prepare in `start_push`,
//! commit in `finish_push`) delegated to [`hull_app::Application`]; `logs` serves the
//! log-streaming long-poll (§9.5) from the application's recent executions; `env_vars` the
//! environment variable routes (§9.1); `http_actions` the HTTP actions (§10), on every path of
//! the site port but `/version` and under `/http/` on the API port; `sync` the sync WebSocket
//! (§6): live queries re-run when a commit touches what they read, mutations in order and
//! answered once per session request. The API port's routes carry
//! upstream's permissive CORS layer (`cors`); HTTP actions do not (apps answer OPTIONS).
//!
//! Architecture invariants: this crate opens no storage and chooses no data directory (it is
//! handed an open [`hull_app::Application`]); it never calls `std::process::exit`, so the database is
//! always dropped, and its committer flushed, when serving ends.
#![deny(missing_docs)]

mod auth;
mod cors;
mod env_vars;
mod error;
mod functions;
mod http_actions;
mod listener;
mod logs;
mod push;
mod routes;
mod server_keys;
mod serve;
mod sync;
mod wire;

pub use error::HttpError;

/// The decoders of untrusted request bytes that have no router-free entry point, public only
/// for the fuzz targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod decoders {
    pub use crate::auth::{credentials, decode_identity, Credentials};
    pub use crate::http_actions::http_action_request;
    pub use crate::wire::decompress_brotli;
}
pub use http_actions::{HTTP_ACTION_BODY_LIMIT, NO_HTTP_ACTIONS_MESSAGE};
pub use listener::{too_many_connections_message, ConnectionLimits, BODY_IDLE_TIMEOUT, CONNECTIONS_MAX, HEADER_READ_TIMEOUT, WRITE_STALL_TIMEOUT};
pub use routes::{api_router, site_router};
pub use sync::{SYNC_MAX_ACTIONS_IN_FLIGHT, SYNC_MAX_MUTATIONS_QUEUED};
pub use wire::{MAX_BACKEND_PUBLIC_API_REQUEST_SIZE, MAX_PUSH_BYTES};
pub use serve::{serve, ServeConfig, Server, DEFAULT_API_PORT, DEFAULT_SITE_PORT, SHUTDOWN_GRACE};

/// Hull's version, as `GET /version` answers it and the startup line prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What every handler can reach: the deployment ([`hull_app::Application`], which holds the
/// database, the deployed code and the credentials). Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    application: hull_app::Application,
    /// The site (HTTP actions) port, once bound: canonical URLs name it.
    site_port: Option<u16>,
    /// Becomes `true` when the server shuts down, so long-lived sockets close themselves
    /// instead of holding graceful shutdown for its whole grace period.
    stopping: Option<tokio::sync::watch::Receiver<bool>>,
    /// Recent mutation results per sync session, for replays after a reconnect.
    sync_requests: std::sync::Arc<sync::SessionRequests>,
}

impl AppState {
    /// State serving `application`.
    pub fn new(application: hull_app::Application) -> AppState {
        assert!(!application.instance_name().is_empty(), "the instance name is validated before serving");
        AppState { application, site_port: None, stopping: None, sync_requests: Default::default() }
    }

    /// This state, serving next to a site listener on `port`.
    pub fn with_site_port(mut self, port: u16) -> AppState {
        self.site_port = Some(port);
        self
    }

    /// This state, told through `stopping` when the server shuts down.
    pub(crate) fn with_stopping(mut self, stopping: tokio::sync::watch::Receiver<bool>) -> AppState {
        self.stopping = Some(stopping);
        self
    }

    /// Resolves once the server is shutting down (never, for a state no server runs).
    pub(crate) async fn stopped(&self) {
        match self.stopping.clone() {
            Some(mut stopping) => {
                // An error means the sender is gone, which also means: stop.
                let _ = stopping.wait_for(|stop| *stop).await;
            }
            None => std::future::pending().await,
        }
    }

    /// The site port, when known.
    pub fn site_port(&self) -> Option<u16> {
        self.site_port
    }

    /// The deployment.
    pub fn application(&self) -> &hull_app::Application {
        &self.application
    }

    /// The deployment's database.
    pub fn database(&self) -> &hull_db::Database {
        self.application.database()
    }

    /// The deployment's instance name (what `GET /instance_name` answers).
    pub fn instance_name(&self) -> &str {
        self.application.instance_name()
    }
}

/// A state over an empty in-memory deployment, for handler tests.
#[cfg(test)]
pub(crate) fn test_state(instance_name: &str) -> AppState {
    let database = hull_db::Database::open(std::sync::Arc::new(hull_store::MemoryPersistence::new())).unwrap();
    let secret = hull_app::InstanceSecret::from_hex(&"cd".repeat(32)).unwrap();
    let mut config = hull_app::AppConfig::new(instance_name, secret);
    config.js_workers = 1;
    // These tests are about the HTTP and sync layers; the scheduler loop would add database
    // subscriptions and commits of its own to what they count.
    config.run_scheduler = false;
    AppState::new(hull_app::Application::open(database, config).unwrap())
}
