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
//! Architecture invariants: this crate opens no storage and chooses no data directory (it is
//! handed an open [`hull_db::Database`]); it never calls `std::process::exit`, so the database is
//! always dropped, and its committer flushed, when serving ends.
#![deny(missing_docs)]

mod error;
mod routes;
mod serve;

use std::sync::Arc;

pub use error::HttpError;
pub use routes::{api_router, site_router};
pub use serve::{serve, ServeConfig, Server, DEFAULT_API_PORT, DEFAULT_SITE_PORT, SHUTDOWN_GRACE};

/// Hull's version, as `GET /version` answers it and the startup line prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What every handler can reach: the database and the deployment's identity. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    database: hull_db::Database,
    instance_name: String,
}

impl AppState {
    /// State for a deployment named `instance_name` over `database`.
    pub fn new(database: hull_db::Database, instance_name: impl Into<String>) -> AppState {
        let instance_name = instance_name.into();
        assert!(!instance_name.is_empty(), "the instance name is validated before serving");
        AppState { inner: Arc::new(Inner { database, instance_name }) }
    }

    /// The deployment's database.
    pub fn database(&self) -> &hull_db::Database {
        &self.inner.database
    }

    /// The deployment's instance name (what `GET /instance_name` answers).
    pub fn instance_name(&self) -> &str {
        &self.inner.instance_name
    }
}
