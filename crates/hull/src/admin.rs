//! Operator commands that work on a data directory directly: `hull admin-key` and
//! `hull deploy-push-request`.

use std::fmt;

use hull_app::{AdminKeys, DeploySummary, InstanceSecret};
use hull_errors::{Error, Result};

use crate::cli::{AdminKeyArgs, DeployPushRequestArgs, TransferArgs};
use crate::instance;
use crate::serve::{open_application, open_store};
use crate::store::StoreLocation;

/// A new admin key for the deployment in `args.data_dir` (or for the name and secret given).
///
/// Works while a server runs: the instance files are only read then. On a data directory that
/// was never served, the store is opened (and so locked) first and the instance files are
/// created, exactly as `hull serve` would create them.
pub fn admin_key(args: AdminKeyArgs) -> Result<String> {
    if let Some(name) = &args.instance_name {
        instance::validate(name)?;
    }
    let given_secret = args.instance_secret.as_deref().map(InstanceSecret::from_hex).transpose()?;
    let stored_name = instance::load_existing(&args.data_dir)?;
    let stored_secret = instance::load_existing_secret(&args.data_dir)?;
    let (name, secret) = match (args.instance_name.or(stored_name), given_secret.or(stored_secret)) {
        (Some(name), Some(secret)) => (name, secret),
        (name, secret) => {
            let _lock = open_store(&args.data_dir, &StoreLocation::parse(None, &args.data_dir)?)?;
            let name = match name {
                Some(name) => name,
                None => instance::load_or_create(&args.data_dir)?,
            };
            let secret = match secret {
                Some(secret) => secret,
                None => instance::load_or_create_secret(&args.data_dir)?,
            };
            (name, secret)
        }
    };
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Ok(AdminKeys::new(&name, &secret).issue(now_s))
}

/// What `hull deploy-push-request` prints.
pub struct DeployReport(DeploySummary);

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = &self.0;
        write!(f, "Deployed {} modules ({} changed), {} functions", summary.modules, summary.modules_changed, summary.functions)?;
        if !summary.indexes_added.is_empty() {
            write!(f, "; added indexes {}", summary.indexes_added.join(", "))?;
        }
        if !summary.indexes_dropped.is_empty() {
            write!(f, "; dropped indexes {}", summary.indexes_dropped.join(", "))?;
        }
        Ok(())
    }
}

/// Deploys the push request file `args.file` into `args.data_dir`.
pub fn deploy_push_request(args: DeployPushRequestArgs) -> Result<DeployReport> {
    let json = std::fs::read_to_string(&args.file).map_err(|err| {
        Error::bad_request("PushRequestUnreadable", format!("could not read the push request {}: {err}", args.file.display()))
    })?;
    let store = StoreLocation::parse(args.db.as_deref(), &args.data_dir)?;
    // Deploying offline registers crons but runs nothing: `hull serve` does that.
    let application = open_application(&args.data_dir, &store, None, None, false)?;
    let summary = application.deploy_push_request(&json)?;
    Ok(DeployReport(summary))
}

/// `hull export`: writes the deployment to `args.file` (`-`: stdout). Returns what it wrote.
pub fn export(args: TransferArgs) -> Result<hull_db::export::TransferSummary> {
    let store = StoreLocation::parse(args.db.as_deref(), &args.data_dir)?;
    let database = hull_db::Database::open(open_store(&args.data_dir, &store)?)?;
    if args.file.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        return database.export(&mut out);
    }
    // Written to a temporary name first, so a failed export never leaves a partial file
    // under the name the user asked for.
    let partial = args.file.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .map_err(|err| Error::bad_request("ExportUnwritable", format!("could not create {}: {err}", partial.display())))?;
    let summary = database.export(&mut std::io::BufWriter::new(file))?;
    std::fs::rename(&partial, &args.file)
        .map_err(|err| Error::bad_request("ExportUnwritable", format!("could not write {}: {err}", args.file.display())))?;
    Ok(summary)
}

/// `hull import`: loads `args.file` (`-`: stdin) into the (empty) deployment.
pub fn import(args: TransferArgs) -> Result<hull_db::export::TransferSummary> {
    let store = StoreLocation::parse(args.db.as_deref(), &args.data_dir)?;
    let database = hull_db::Database::open(open_store(&args.data_dir, &store)?)?;
    if args.file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        return database.import(&mut stdin.lock());
    }
    let file = std::fs::File::open(&args.file)
        .map_err(|err| Error::bad_request("ImportUnreadable", format!("could not read {}: {err}", args.file.display())))?;
    database.import(&mut std::io::BufReader::new(file))
}
