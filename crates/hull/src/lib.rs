//! `hull`: the command-line program, as a library so that its parts are testable.
//!
//! [`cli`] defines every flag once (clap derive, each with its docs and `HULL_*` environment
//! variable); [`run`] turns the parsed command into work. `hull serve` ([`serve`]) owns the
//! *data directory* layout: `<data-dir>/db.sqlite3` (the SQLite store, locked by the process
//! that serves it) and `<data-dir>/instance.json` (the deployment's stable instance name,
//! [`instance`]).
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

pub mod cli;
pub mod instance;
pub mod serve;

use hull_errors::Result;

/// Runs one parsed command line to completion.
pub fn run(cli: cli::Cli) -> Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve::serve(serve::ServeOptions::try_from(args)?),
    }
}
