//! `hull`: the command-line program, as a library so that its parts are testable.
//!
//! [`cli`] defines every flag once (clap derive, each with its docs and `HULL_*` environment
//! variable); [`run`] turns the parsed command into work. `hull serve` ([`serve`]) owns the
//! *data directory* layout: `<data-dir>/db.sqlite3` (the SQLite store, locked by the process
//! that serves it), `<data-dir>/instance.json` (the deployment's stable instance name) and
//! `<data-dir>/instance_secret` (the secret admin keys derive from; [`instance`]). `hull
//! admin-key` prints an admin key; `hull deploy-push-request` deploys a push request file into
//! a data directory that no server is using; `hull export` / `hull import` move a whole
//! deployment between stores ([`admin`]). `--db` selects PostgreSQL instead of the SQLite file
//! ([`store`]).
//!
//! Key decision: the store is opened, and so locked, before anything else in the data directory
//! is read or written. A second `hull serve` on the same directory therefore fails at once with
//! the store's "in use by another Hull process" error and never races the first over
//! `instance.json`.
//!
//! Architecture invariants: this crate knows no HTTP shapes (that is `hull-server`) and no
//! storage format (that is `hull-store-sqlite`); `main.rs` only parses, sets up logging and
//! prints errors.
#![deny(missing_docs)]

pub mod admin;
pub mod cli;
pub mod instance;
pub mod keys;
pub mod serve;
pub mod store;

use hull_errors::Result;

/// Runs one parsed command line to completion.
pub fn run(cli: cli::Cli) -> Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve::serve(serve::ServeOptions::try_from(args)?),
        cli::Command::AdminKey(args) => {
            println!("{}", admin::admin_key(args)?);
            Ok(())
        }
        cli::Command::DeployPushRequest(args) => {
            let summary = admin::deploy_push_request(args)?;
            println!("{summary}");
            Ok(())
        }
        cli::Command::Export(args) => {
            let to_stdout = args.file.as_os_str() == "-";
            let summary = admin::export(args)?;
            let line = format!("Exported {} tables, {} documents, {} indexes{}", summary.tables, summary.documents, summary.indexes, if summary.schema { " and the schema" } else { "" });
            // With the export on stdout, the summary goes to stderr.
            if to_stdout { eprintln!("{line}") } else { println!("{line}") }
            Ok(())
        }
        cli::Command::Import(args) => {
            let summary = admin::import(args)?;
            println!("Imported {} tables, {} documents, {} indexes{}", summary.tables, summary.documents, summary.indexes, if summary.schema { " and the schema" } else { "" });
            Ok(())
        }
        cli::Command::Keys(command) => keys::run(command, &mut std::io::stdout().lock()),
    }
}
