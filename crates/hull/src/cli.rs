//! The command line, defined once: `--help` and the `HULL_*` environment variables come from
//! these definitions. Values here are raw; [`crate::serve::ServeOptions`] validates them.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hull_server::{DEFAULT_API_PORT, DEFAULT_SITE_PORT};

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
    /// Serve a deployment: the API (and, later, sync) on --port, HTTP actions on --site-port.
    Serve(ServeArgs),
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
        let Command::Serve(args) = cli.command;
        assert_eq!(args.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(args.interface, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((args.port, args.site_port), (4000, 4001));
        assert_eq!(args.instance_name.as_deref(), Some("my-app"));
    }

    #[test]
    fn serve_rejects_a_malformed_interface() {
        let error = Cli::try_parse_from(["hull", "serve", "--interface", "localhost:80"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
