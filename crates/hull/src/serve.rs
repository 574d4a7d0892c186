//! `hull serve`: open the data directory, then serve until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hull_app::{AppConfig, Application, InstanceSecret};
use hull_errors::{Error, Result};
use hull_server::{AppState, ConnectionLimits, ServeConfig, Server};

use crate::cli::ServeArgs;
use crate::instance;
use crate::store::StoreLocation;

/// Validated `hull serve` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// The data directory, as given (it is shown to the user in that form).
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: ServeConfig,
    /// The instance name from the command line; `None` means the stored (or a generated) one.
    pub instance_name: Option<String>,
    /// The instance secret from the command line; `None` means the stored (or a generated) one.
    pub instance_secret: Option<InstanceSecret>,
    /// Where the data lives.
    pub store: StoreLocation,
}

impl TryFrom<ServeArgs> for ServeOptions {
    type Error = Error;

    fn try_from(args: ServeArgs) -> Result<ServeOptions> {
        if args.port == args.site_port && args.port != 0 {
            return Err(Error::bad_request(
                "InvalidPorts",
                format!("--port and --site-port are both {}: the API and HTTP actions need different ports", args.port),
            ));
        }
        if args.max_connections == 0 {
            return Err(Error::bad_request("InvalidMaxConnections", "--max-connections must be at least 1"));
        }
        if let Some(name) = &args.instance_name {
            instance::validate(name)?;
        }
        let instance_secret = args.instance_secret.as_deref().map(InstanceSecret::from_hex).transpose()?;
        let store = StoreLocation::parse(args.db.as_deref(), &args.data_dir)?;
        Ok(ServeOptions {
            store,
            data_dir: args.data_dir,
            listen: ServeConfig {
                interface: args.interface,
                api_port: args.port,
                site_port: args.site_port,
                limits: ConnectionLimits { max_connections: args.max_connections, ..ConnectionLimits::default() },
            },
            instance_name: args.instance_name,
            instance_secret,
        })
    }
}

/// Opens the deployment in `options.data_dir` and serves it until SIGINT or SIGTERM.
///
/// On return the runtime has stopped and the database has been dropped, so its committer has
/// finished every acknowledged commit and the store's lock is released.
pub fn serve(options: ServeOptions) -> Result<()> {
    let application = open_application(&options.data_dir, &options.store, options.instance_name, options.instance_secret, true)?;
    raise_open_file_limit(options.listen.limits.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hull-server")
        .build()
        .map_err(|err| Error::internal("StartupFailed", format!("could not start the async runtime: {err}")))?;
    let state = AppState::new(application.clone());
    let result = runtime.block_on(async {
        let server = Server::bind(&options.listen, state).await?;
        tracing::info!(
            "Hull {} listening on {} (API) and {} (HTTP actions), data in {}",
            hull_server::VERSION,
            url(server.api_addr()),
            url(server.site_addr()),
            options.data_dir.display(),
        );
        server.run().await
    });
    // Dropping the runtime ends any connection task still holding a clone of the application.
    // Scheduled jobs hold clones too: stop starting them and give running ones the requests'
    // grace period, so the last handle is ours and dropping it stops the JS workers and joins
    // the committer.
    drop(runtime);
    if !application.stop_scheduler_within(Some(hull_server::SHUTDOWN_GRACE)) {
        tracing::warn!(
            "scheduled functions still running {:?} after shutdown began; abandoning them (an action is marked failed at the next start)",
            hull_server::SHUTDOWN_GRACE
        );
    }
    drop(application);
    tracing::info!("Hull stopped");
    result
}

/// Opens the store (taking its lock; a PostgreSQL standby waits here until it is the writer),
/// the instance's identity (flags first, then the stored or a newly generated one in
/// `data_dir`) and the deployment; `run_scheduler`: whether it runs scheduled functions and
/// crons (a server does, a one-shot admin command does not).
pub fn open_application(
    data_dir: &Path,
    store: &StoreLocation,
    instance_name: Option<String>,
    instance_secret: Option<InstanceSecret>,
    run_scheduler: bool,
) -> Result<Application> {
    let persistence = open_store(data_dir, store)?;
    // Only after the store lock is held: see the crate doc.
    let instance_name = match instance_name {
        Some(name) => name,
        None => instance::load_or_create(data_dir)?,
    };
    let instance_secret = match instance_secret {
        Some(secret) => secret,
        None => instance::load_or_create_secret(data_dir)?,
    };
    let database = hull_db::Database::open(persistence)?;
    let mut config = AppConfig::new(instance_name, instance_secret);
    config.run_scheduler = run_scheduler;
    Application::open(database, config)
}

/// Opens `store` (creating `data_dir`, which holds the instance files in every mode).
pub(crate) fn open_store(data_dir: &Path, store: &StoreLocation) -> Result<Arc<dyn hull_store::Persistence>> {
    std::fs::create_dir_all(data_dir).map_err(|err| {
        Error::internal("DataDirectoryError", format!("could not create the data directory {}: {err}", data_dir.display()))
    })?;
    store.open(&|| {
        tracing::info!("waiting as a standby: another Hull process is the writer of {store:?}; this one takes over when it stops");
    })
}

/// The URL of a listener. `SocketAddr` already brackets IPv6 hosts (`[::1]:3210`).
fn url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}")
}

/// File descriptors `hull serve` needs besides its connections: the database and its WAL, the
/// listeners, the JS workers' and the runtime's own.
const NON_CONNECTION_FILES: u64 = 256;

/// Raises the open-file soft limit so that `max_connections` sockets fit (the usual soft limit,
/// 1,024, would make the connection cap unreachable and fail accepts instead). Capped by the
/// hard limit, which only an administrator can raise; a shortfall is logged once.
#[cfg(unix)]
fn raise_open_file_limit(max_connections: usize) {
    let wanted = (max_connections as u64).saturating_add(NON_CONNECTION_FILES) as libc::rlim_t;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            "the open-file limit is {} (hard limit {}), below the {wanted} that --max-connections {max_connections} needs: \
             connections beyond it will fail to be accepted. Raise it with `ulimit -n` or LimitNOFILE=.",
            limit.rlim_cur,
            limit.rlim_max
        );
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit(_max_connections: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(port: u16, site_port: u16, instance_name: Option<&str>) -> ServeArgs {
        ServeArgs {
            data_dir: PathBuf::from("./hull_data"),
            interface: "127.0.0.1".parse().unwrap(),
            port,
            site_port,
            instance_name: instance_name.map(str::to_owned),
            instance_secret: None,
            db: None,
            max_connections: hull_server::CONNECTIONS_MAX,
        }
    }

    #[test]
    fn options_refuse_a_zero_connection_cap() {
        let error = ServeOptions::try_from(ServeArgs { max_connections: 0, ..args(3210, 3211, None) }).unwrap_err();
        assert_eq!(error.short, "InvalidMaxConnections");
        let options = ServeOptions::try_from(ServeArgs { max_connections: 5, ..args(3210, 3211, None) }).unwrap();
        assert_eq!(options.listen.limits.max_connections, 5);
    }

    #[test]
    fn options_refuse_one_port_for_both_listeners() {
        let error = ServeOptions::try_from(args(3210, 3210, None)).unwrap_err();
        assert_eq!(error.short, "InvalidPorts");
        // Port 0 twice means two free ports, which is fine.
        ServeOptions::try_from(args(0, 0, None)).unwrap();
    }

    #[test]
    fn options_validate_the_instance_name() {
        let error = ServeOptions::try_from(args(3210, 3211, Some("Not Valid"))).unwrap_err();
        assert_eq!(error.short, "InvalidInstanceName");
        let options = ServeOptions::try_from(args(3210, 3211, Some("my-app"))).unwrap();
        assert_eq!(options.instance_name.as_deref(), Some("my-app"));
    }

    #[test]
    fn options_validate_the_instance_secret() {
        let mut raw = args(3210, 3211, None);
        raw.instance_secret = Some("short".into());
        assert_eq!(ServeOptions::try_from(raw).unwrap_err().short, "InvalidInstanceSecret");
        let mut raw = args(3210, 3211, None);
        raw.instance_secret = Some("ab".repeat(32));
        assert!(ServeOptions::try_from(raw).unwrap().instance_secret.is_some());
    }

    #[test]
    fn urls_bracket_ipv6_hosts() {
        assert_eq!(url("127.0.0.1:3210".parse().unwrap()), "http://127.0.0.1:3210");
        assert_eq!(url("[::1]:3211".parse().unwrap()), "http://[::1]:3211");
    }

    #[test]
    fn a_second_open_of_one_data_directory_fails_as_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreLocation::parse(None, dir.path()).unwrap();
        let _first = open_store(dir.path(), &store).unwrap();
        let Err(error) = open_store(dir.path(), &store) else { panic!("the second open succeeded") };
        assert!(error.message.contains("already open in this process"), "{}", error.message);
    }
}
