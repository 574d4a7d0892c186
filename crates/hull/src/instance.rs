//! The deployment's identity: its instance name, given on the command line or generated once and
//! kept in `<data-dir>/instance.json` as `{"instanceName": "hull-1a2b3c4d"}` so it is stable
//! across restarts (clients such as the Convex CLI read it from `GET /instance_name`), and its
//! instance secret (admin keys derive from it), given with `--instance-secret` or generated
//! once and kept in `<data-dir>/instance_secret` (64 hex digits, readable by the owner only).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hull_app::InstanceSecret;
use hull_errors::{Error, Result};
use serde::{Deserialize, Serialize};

/// The file, inside the data directory, that keeps the generated instance name.
pub const INSTANCE_FILE_NAME: &str = "instance.json";

/// The file, inside the data directory, that keeps the generated instance secret.
pub const INSTANCE_SECRET_FILE_NAME: &str = "instance_secret";

/// Longest instance name accepted. Instance names appear in URLs and DNS-like labels, whose
/// labels are at most 63 bytes; 64 leaves no room for surprises beyond that.
pub const INSTANCE_NAME_LENGTH_MAX: usize = 64;

/// Prefix of generated names, so a generated name is recognisable as Hull's.
const GENERATED_PREFIX: &str = "hull-";

/// The on-disk shape of `instance.json`. Unknown fields are ignored, so later versions may add
/// some.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceFile {
    instance_name: String,
}

/// Checks that `name` is usable as an instance name: 1 to [`INSTANCE_NAME_LENGTH_MAX`] lowercase
/// ASCII letters, digits and dashes, starting with a letter and not ending with a dash.
pub fn validate(name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let well_formed = !name.is_empty()
        && name.len() <= INSTANCE_NAME_LENGTH_MAX
        && name.chars().all(allowed)
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-');
    if well_formed {
        return Ok(());
    }
    Err(Error::bad_request(
        "InvalidInstanceName",
        format!(
            "invalid instance name {name:?}: use 1 to {INSTANCE_NAME_LENGTH_MAX} lowercase letters, digits \
             and dashes, starting with a letter and not ending with a dash"
        ),
    ))
}

/// The instance name stored in `data_dir`, generating and storing one if there is none yet.
///
/// The caller must hold the data directory's store lock, so no other process writes the file
/// concurrently.
pub fn load_or_create(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(INSTANCE_FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let name = generate();
            store(&path, &name)?;
            Ok(name)
        }
        Err(err) => Err(file_error(&path, "could not read", &err)),
    }
}

fn parse(text: &str, path: &Path) -> Result<String> {
    let file: InstanceFile = serde_json::from_str(text).map_err(|err| file_error(path, "could not parse", &err))?;
    validate(&file.instance_name).map_err(|err| {
        Error::bad_request(
            "InvalidInstanceFile",
            format!("{}: {}. Fix the file, or delete it to generate a new name.", path.display(), err.message),
        )
    })?;
    Ok(file.instance_name)
}

/// A fresh name such as `hull-1a2b3c4d`: 32 random bits, enough to tell a developer's local
/// deployments apart.
fn generate() -> String {
    let name = format!("{GENERATED_PREFIX}{:08x}", rand::random::<u32>());
    debug_assert!(validate(&name).is_ok(), "generated names are valid: {name}");
    name
}

/// The stored instance name, if `instance.json` exists (no lock needed: the file is written
/// atomically and never changed once written).
pub fn load_existing(data_dir: &Path) -> Result<Option<String>> {
    let path = data_dir.join(INSTANCE_FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(file_error(&path, "could not read", &err)),
    }
}

/// The instance secret stored in `data_dir`, generating and storing one if there is none yet.
/// The caller must hold the store lock, as for [`load_or_create`].
pub fn load_or_create_secret(data_dir: &Path) -> Result<InstanceSecret> {
    if let Some(secret) = load_existing_secret(data_dir)? {
        return Ok(secret);
    }
    let secret = InstanceSecret::generate();
    let path = data_dir.join(INSTANCE_SECRET_FILE_NAME);
    write_atomically(&path, &format!("{}\n", secret.to_hex()))?;
    Ok(secret)
}

/// The stored instance secret, if the file exists.
pub fn load_existing_secret(data_dir: &Path) -> Result<Option<InstanceSecret>> {
    let path = data_dir.join(INSTANCE_SECRET_FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => InstanceSecret::from_hex(&text).map(Some).map_err(|err| {
            Error::bad_request(
                "InvalidInstanceFile",
                format!("{}: {}. Restore the file (admin keys issued so far depend on it) or delete it to generate a new secret.", path.display(), err.message),
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(file_error(&path, "could not read", &err)),
    }
}

/// Writes the file atomically: a crash leaves either no file or the whole file, never a torn one
/// (which would fail the next start).
fn store(path: &Path, name: &str) -> Result<()> {
    let mut text = serde_json::to_string(&InstanceFile { instance_name: name.to_owned() })
        .expect("a struct of one string always serializes");
    text.push('\n');
    write_atomically(path, &text)
}

/// Writes `text` to `path` through a temporary file and a rename, readable by the owner only
/// (the directory may hold secrets; nothing here is meant for other users).
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let temporary = temporary_path(path);
    let write = || -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // Persist the rename itself; directories cannot be opened for syncing everywhere, and
        // losing the rename only means a new name is generated, so this is best effort.
        if let Some(parent) = path.parent()
            && let Ok(directory) = fs::File::open(parent)
        {
            let _ = directory.sync_all();
        }
        Ok(())
    };
    write().map_err(|err| file_error(path, "could not write", &err))
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn file_error(path: &Path, what: &str, err: &dyn std::fmt::Display) -> Error {
    Error::internal("InstanceFileError", format!("{what} the instance file {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_a_name_and_later_starts_reuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert!(first.starts_with(GENERATED_PREFIX), "{first}");
        validate(&first).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
        let text = fs::read_to_string(dir.path().join(INSTANCE_FILE_NAME)).unwrap();
        assert_eq!(text, format!("{{\"instanceName\":\"{first}\"}}\n"));
        assert!(!temporary_path(&dir.path().join(INSTANCE_FILE_NAME)).exists());
    }

    #[test]
    fn a_stored_name_is_read_and_unknown_fields_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(INSTANCE_FILE_NAME), r#"{"instanceName":"my-app","later":1}"#).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), "my-app");
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INSTANCE_FILE_NAME);
        fs::write(&path, "{not json").unwrap();
        let error = load_or_create(dir.path()).unwrap_err();
        assert_eq!(error.short, "InstanceFileError");
        assert!(error.message.contains(&path.display().to_string()), "{}", error.message);

        fs::write(&path, r#"{"instanceName":"Bad Name"}"#).unwrap();
        let error = load_or_create(dir.path()).unwrap_err();
        assert_eq!(error.short, "InvalidInstanceFile");
        assert!(error.message.contains("delete it to generate a new name"), "{}", error.message);
    }

    #[test]
    fn the_secret_is_generated_once_kept_private_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_existing_secret(dir.path()).unwrap(), None);
        let first = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(load_or_create_secret(dir.path()).unwrap(), first);
        let path = dir.path().join(INSTANCE_SECRET_FILE_NAME);
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{}\n", first.to_hex()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        fs::write(&path, "not hex").unwrap();
        let error = load_or_create_secret(dir.path()).unwrap_err();
        assert_eq!(error.short, "InvalidInstanceFile");
        assert!(error.message.contains("admin keys issued so far depend on it"), "{}", error.message);
    }

    #[test]
    fn instance_names_are_validated() {
        for good in ["a", "my-app", "convex-self-hosted", "hull-0123abcd", &"a".repeat(INSTANCE_NAME_LENGTH_MAX)] {
            validate(good).unwrap_or_else(|err| panic!("{good}: {err}"));
        }
        let too_long = "a".repeat(INSTANCE_NAME_LENGTH_MAX + 1);
        for bad in ["", "My-App", "1app", "-app", "app-", "my_app", "my app", "é", &too_long] {
            assert_eq!(validate(bad).unwrap_err().short, "InvalidInstanceName", "{bad:?}");
        }
    }
}
