//! The command line, defined once: `--help` and the `HULL_*` environment variables come from
//! these definitions. Values here are raw; [`crate::serve::ServeOptions`] validates them.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hull_server::{CONNECTIONS_MAX, DEFAULT_API_PORT, DEFAULT_SITE_PORT};

/// Hull: a Convex-compatible backend in one binary.
#[derive(Debug, Parser)]
#[command(name = "hull", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a deployment: the API and the sync WebSocket on --port, HTTP actions on --site-port.
    Serve(ServeArgs),
    /// Print a new admin key for the deployment in --data-dir (for `npx convex ... --admin-key`
    /// or CONVEX_SELF_HOSTED_ADMIN_KEY).
    AdminKey(AdminKeyArgs),
    /// Operator command: make the code, schema and indexes of a push request file live in the
    /// deployment in --data-dir, as a push would. The file is the JSON that
    /// `npx convex deploy --write-push-request FILE` writes. The data directory must not be in
    /// use by a running `hull serve`.
    DeployPushRequest(DeployPushRequestArgs),
    /// Write the whole deployment (tables, documents, indexes, schema, deployed code,
    /// environment) to FILE (`-` for stdout), to move it to another store or machine.
    Export(TransferArgs),
    /// Load an export made by `hull export` into an empty deployment.
    Import(TransferArgs),
    /// Server keys: scoped, revocable credentials for trusted servers to call exactly the
    /// functions they need, internal ones included.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `hull keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint a key on this machine and register its public half with the server. The key is
    /// printed once, as the last line of standard output; Hull never sees or stores it.
    Create(KeysCreateArgs),
    /// List the keys (names, scopes, options; never secrets).
    List(ServerArgs),
    /// Revoke the active key NAME: it and every token derived from it stop working at once,
    /// also on open connections.
    Revoke(KeysRevokeArgs),
    /// Show the audit trail (every call made with a key, allowed or denied), newest first.
    Audit(KeysAuditArgs),
    /// Derive a short-lived token from a key, offline. The token is presented like the key
    /// (`setAdminAuth(token)`) and may narrow its scope with --allow.
    Token(KeysTokenArgs),
}

/// Where the running server is and the admin key to use.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The deployment's URL.
    #[arg(long, env = "HULL_URL", value_name = "URL", default_value = "http://127.0.0.1:3210")]
    pub url: String,

    /// An admin key for the deployment (`hull admin-key`).
    #[arg(long, env = "HULL_ADMIN_KEY", value_name = "KEY", hide_env_values = true)]
    pub admin_key: String,
}

/// Flags of `hull keys create`.
#[derive(Debug, Args)]
pub struct KeysCreateArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,

    /// The key's name (letters, digits, `_`, `-`), unique among active keys.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Functions the key may call: `module:function`, `module:*`, `dir/*` or `*`. Repeatable.
    #[arg(long = "allow", value_name = "PATTERN", required = true)]
    pub allow: Vec<String>,

    /// The key may act as an end user (`setAdminAuth(key, identity)`).
    #[arg(long)]
    pub act_as: bool,

    /// The key may call queries only.
    #[arg(long)]
    pub read_only: bool,

    /// Accept the key from browsers too (requests with Origin or Sec-Fetch headers). Off by
    /// default: a key in a browser has leaked.
    #[arg(long)]
    pub allow_browser: bool,

    /// The key expires after this long: `90d`, `12h`, `30m`, `45s`.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,

    /// A rate limit: `N/s`, `N/m` or `N/h` (burst up to the per-second rate).
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
}

/// Flags of `hull keys revoke`.
#[derive(Debug, Args)]
pub struct KeysRevokeArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,

    /// The key to revoke.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Flags of `hull keys audit`.
#[derive(Debug, Args)]
pub struct KeysAuditArgs {
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,

    /// Only this key's entries.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Entries to show at most.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,

    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `hull keys token`.
#[derive(Debug, Args)]
pub struct KeysTokenArgs {
    /// The server key to derive the token from.
    #[arg(long, env = "HULL_SERVER_KEY", value_name = "KEY", hide_env_values = true)]
    pub key: String,

    /// How long the token is valid: `5m`, `30s`, at most 1h.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub ttl: String,

    /// Narrow the token to these patterns (each call must match the key's scope too).
    #[arg(long = "allow", value_name = "PATTERN")]
    pub allow: Vec<String>,
}

/// Flags of `hull export` and `hull import`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The deployment's data directory.
    #[arg(long, env = "HULL_DATA_DIR", value_name = "DIR", default_value = "./hull_data")]
    pub data_dir: PathBuf,

    /// The store, when not the SQLite file in --data-dir: postgres://user@host/db[?schema=NAME]
    /// or sqlite:PATH.
    #[arg(long, env = "HULL_DB", value_name = "URL", hide_env_values = true)]
    pub db: Option<String>,

    /// The export file (`-`: standard output for export, standard input for import).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Flags of `hull admin-key`.
#[derive(Debug, Args)]
pub struct AdminKeyArgs {
    /// The deployment's data directory (its instance name and secret are read from there, and
    /// created if this is its first use).
    #[arg(long, env = "HULL_DATA_DIR", value_name = "DIR", default_value = "./hull_data")]
    pub data_dir: PathBuf,

    /// Issue the key for this instance name instead of the stored one (must match the name the
    /// server runs with).
    #[arg(long, env = "HULL_INSTANCE_NAME", value_name = "NAME")]
    pub instance_name: Option<String>,

    /// Issue the key under this instance secret (64 hex digits) instead of the stored one (must
    /// match the secret the server runs with).
    #[arg(long, env = "HULL_INSTANCE_SECRET", value_name = "HEX", hide_env_values = true)]
    pub instance_secret: Option<String>,
}

/// Flags of `hull deploy-push-request`.
#[derive(Debug, Args)]
pub struct DeployPushRequestArgs {
    /// The deployment's data directory.
    #[arg(long, env = "HULL_DATA_DIR", value_name = "DIR", default_value = "./hull_data")]
    pub data_dir: PathBuf,

    /// The store, when not the SQLite file in --data-dir: postgres://user@host/db[?schema=NAME]
    /// or sqlite:PATH.
    #[arg(long, env = "HULL_DB", value_name = "URL", hide_env_values = true)]
    pub db: Option<String>,

    /// The push request JSON file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Flags of `hull serve`, as given.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding the deployment's data (created if missing). Only one Hull process may
    /// serve a data directory at a time.
    #[arg(long, env = "HULL_DATA_DIR", value_name = "DIR", default_value = "./hull_data")]
    pub data_dir: PathBuf,

    /// Network interface to listen on. The default serves this machine only; use 0.0.0.0 to
    /// accept connections from the network.
    #[arg(long, env = "HULL_INTERFACE", value_name = "IP", default_value = "127.0.0.1")]
    pub interface: IpAddr,

    /// Port for the API (what clients use as the deployment URL). 0 picks a free port.
    #[arg(long, env = "HULL_PORT", value_name = "PORT", default_value_t = DEFAULT_API_PORT)]
    pub port: u16,

    /// Port for HTTP actions (the deployment's site URL). 0 picks a free port.
    #[arg(long, env = "HULL_SITE_PORT", value_name = "PORT", default_value_t = DEFAULT_SITE_PORT)]
    pub site_port: u16,

    /// Instance name to report (lowercase letters, digits and dashes). Defaults to the name in
    /// <DIR>/instance.json, which is generated on first start and kept; this flag does not
    /// change the stored name.
    #[arg(long, env = "HULL_INSTANCE_NAME", value_name = "NAME")]
    pub instance_name: Option<String>,

    /// Instance secret admin keys derive from (64 hex digits). Defaults to the secret in
    /// <DIR>/instance_secret, generated on first start and kept; this flag does not change the
    /// stored secret.
    #[arg(long, env = "HULL_INSTANCE_SECRET", value_name = "HEX", hide_env_values = true)]
    pub instance_secret: Option<String>,

    /// Keep the data in PostgreSQL instead of the SQLite file in --data-dir:
    /// postgres://user@host/db[?schema=NAME] (schema `hull` by default). A second `hull serve`
    /// on the same schema waits as a standby and takes over when the first one stops. Give
    /// both the same --instance-name and --instance-secret so admin keys work on either.
    #[arg(long, env = "HULL_DB", value_name = "URL", hide_env_values = true)]
    pub db: Option<String>,

    /// Most connections (HTTP and WebSocket, both ports together) served at once; one more is
    /// answered 503 TooManyConnections. `hull serve` raises its open-file limit to fit.
    #[arg(long, env = "HULL_MAX_CONNECTIONS", value_name = "N", default_value_t = CONNECTIONS_MAX, value_parser = clap::value_parser!(usize))]
    pub max_connections: usize,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "hull",
            "serve",
            "--data-dir",
            "/tmp/d",
            "--interface",
            "::1",
            "--port",
            "4000",
            "--site-port",
            "4001",
            "--instance-name",
            "my-app",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else { panic!("parsed as serve") };
        assert_eq!(args.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(args.interface, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((args.port, args.site_port), (4000, 4001));
        assert_eq!(args.instance_name.as_deref(), Some("my-app"));
    }

    #[test]
    fn admin_and_deploy_commands_parse() {
        let cli = Cli::try_parse_from(["hull", "admin-key", "--data-dir", "/d", "--instance-secret", "ab"]).unwrap();
        let Command::AdminKey(args) = cli.command else { panic!("parsed as admin-key") };
        assert_eq!((args.data_dir, args.instance_secret.as_deref()), (PathBuf::from("/d"), Some("ab")));
        let cli = Cli::try_parse_from(["hull", "deploy-push-request", "--data-dir", "/d", "push.json"]).unwrap();
        let Command::DeployPushRequest(args) = cli.command else { panic!("parsed as deploy-push-request") };
        assert_eq!(args.file, PathBuf::from("push.json"));
    }

    #[test]
    fn serve_rejects_a_malformed_interface() {
        let error = Cli::try_parse_from(["hull", "serve", "--interface", "localhost:80"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
