//! Server keys: scoped, revocable credentials a trusted server uses to call exactly the
//! functions it needs (internal ones included), and the audit trail of their use.
//!
//! What is stored (`_hull_server_keys`): a key's name, id, **public** key, scope and options.
//! The secret never reaches Hull: `hull keys create` mints the key on the operator's machine and
//! sends only the public half, so neither the database nor the server's memory holds anything
//! that lets a thief impersonate a key. A presented key is checked by deriving its public key
//! and comparing in constant time; a derived token (`hull_st_…`) by its Ed25519 signature.
//!
//! Every call made with a key, allowed or denied, is recorded in `_hull_server_key_audit` by one
//! writer thread that batches entries into system transactions, keeping the newest
//! [`AUDIT_ENTRIES_MAX`].

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;

use hull_db::{Database, Document, QueryStream, Transaction};
use hull_store::Order;
use hull_errors::{Code, Error, Result};
use hull_keys::{KeyId, RateLimit, RateLimiter, Scope, ServerKey, TokenClaims, TOKEN_PREFIX};
use hull_values::{Object, Value};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::call::{Caller, RequestOrigin, UserIdentity};
use crate::{Application, FunctionPath};

/// The system table holding each key's public half and options.
pub const SERVER_KEYS_TABLE: &str = "_hull_server_keys";

/// The system table holding the audit trail.
pub const SERVER_KEY_AUDIT_TABLE: &str = "_hull_server_key_audit";

/// Audit entries kept; the oldest are deleted as new ones arrive. At roughly 300 bytes each this
/// bounds the trail near 30 MB. Hull's own knob.
pub const AUDIT_ENTRIES_MAX: usize = 100_000;

/// Audit entries waiting for the writer before callers block: a burst is absorbed, a sustained
/// flood slows the callers down instead of growing memory. Hull's own knob.
pub const AUDIT_QUEUE_MAX: usize = 10_000;

/// Audit entries written in one transaction at most.
pub const AUDIT_BATCH_MAX: usize = 1_000;

/// Entries `hull keys audit` returns at most per request.
pub const AUDIT_READ_MAX: usize = 10_000;

/// Longest key name, in bytes.
pub const KEY_NAME_MAX_LEN: usize = 64;

/// Keys (active or revoked) one deployment may hold; each is checked in memory on every call.
pub const SERVER_KEYS_MAX: usize = 1_000;

/// Retries of a key-table transaction on conflicts.
const KEYS_OCC_MAX_RETRIES: usize = 4;

/// The message every unknown, malformed or forged key gets (as [`hull_keys`] words it), so a
/// near miss reveals nothing.
fn invalid_key() -> Error {
    Error::new(Code::Unauthenticated, "BadServerKey", "The provided server key is invalid for this deployment.")
}

/// What the operator asks for when creating a key (`hull keys create`).
#[derive(Clone, Debug)]
pub struct NewServerKey {
    /// Unique among active keys: `[A-Za-z0-9_-]`, at most [`KEY_NAME_MAX_LEN`] bytes.
    pub name: String,
    /// The key's id (minted by the operator's CLI).
    pub key_id: KeyId,
    /// Its public key.
    pub public_key: [u8; 32],
    /// `--allow` patterns.
    pub allow: Vec<String>,
    /// `--act-as`: may present an end-user identity.
    pub act_as: bool,
    /// `--read-only`: queries only.
    pub read_only: bool,
    /// `--allow-browser`: accepted from browser contexts too (off by default).
    pub allow_browser: bool,
    /// `--expires`: unix milliseconds after which the key is refused.
    pub expires_at_ms: Option<u64>,
    /// `--rate`, e.g. `50/s`.
    pub rate: Option<String>,
}

/// A key as listed (never its secret, which Hull does not have).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerKeyInfo {
    /// The key's name.
    pub name: String,
    /// Hex key id (the first bytes of the key after its prefix, also shown in audit entries).
    pub key_id: String,
    /// Allowed patterns.
    pub allow: Vec<String>,
    /// May act as end users.
    pub act_as: bool,
    /// Queries only.
    pub read_only: bool,
    /// Accepted from browsers.
    pub allow_browser: bool,
    /// Rate limit as given (`50/s`).
    pub rate: Option<String>,
    /// Creation time, unix ms.
    pub created_at: u64,
    /// Expiry, unix ms.
    pub expires_at: Option<u64>,
    /// Revocation time, unix ms.
    pub revoked_at: Option<u64>,
}

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When, unix ms.
    pub time: u64,
    /// The key's name.
    pub key: String,
    /// `key` or `token`: what was presented.
    pub via: String,
    /// The function asked for (`module:function`), when the request got that far.
    pub function: Option<String>,
    /// `allowed`, `denied` or `rateLimited`.
    pub outcome: String,
    /// Why a call was denied.
    pub reason: Option<String>,
    /// The subject of the end user the key acted as.
    pub acting_as: Option<String>,
    /// The request id (`[Request ID: …]` in error messages).
    pub request_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
}

/// A caller authenticated by a server key or a token derived from one.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerKeyCaller {
    key_id: KeyId,
    name: String,
    /// The token's expiry (unix s) and narrower scope, when a token was presented.
    token: Option<(u64, Option<Scope>)>,
    acting_as: Option<UserIdentity>,
    origin: RequestOrigin,
}

impl ServerKeyCaller {
    /// The end user this caller acts as.
    pub fn acting_as(&self) -> Option<&UserIdentity> {
        self.acting_as.as_ref()
    }
}

/// A stored key, decoded.
#[derive(Debug)]
struct KeyRecord {
    info: ServerKeyInfo,
    id: KeyId,
    public_key: [u8; 32],
    scope: Scope,
    rate: Option<RateLimit>,
}

impl KeyRecord {
    /// Why the key cannot be used now, if it cannot.
    fn unusable(&self, now_ms: u64) -> Option<Error> {
        if let Some(revoked) = self.info.revoked_at {
            return Some(Error::new(
                Code::Unauthenticated,
                "ServerKeyRevoked",
                format!("The server key '{}' was revoked at {}.", self.info.name, iso_time(revoked)),
            ));
        }
        match self.info.expires_at {
            Some(expires) if now_ms >= expires => Some(Error::new(
                Code::Unauthenticated,
                "ServerKeyExpired",
                format!("The server key '{}' expired at {}.", self.info.name, iso_time(expires)),
            )),
            _ => None,
        }
    }
}

/// The keys in memory (loaded at startup, updated by create/revoke) and the audit writer.
pub(crate) struct ServerKeys {
    by_id: RwLock<HashMap<KeyId, Arc<KeyRecord>>>,
    limiters: Mutex<HashMap<KeyId, RateLimiter>>,
    audit: mpsc::SyncSender<AuditMessage>,
    /// Monotonic origin for rate limiting.
    started: std::time::Instant,
}

enum AuditMessage {
    Entry(AuditEntry),
    /// Answered once every entry queued before it is durable.
    Flush(mpsc::SyncSender<()>),
}

impl ServerKeys {
    /// Loads the stored keys and starts the audit writer.
    pub(crate) fn open(database: &Database, audit_entries_max: usize) -> Result<ServerKeys> {
        assert!(audit_entries_max >= 1, "the audit trail keeps at least one entry");
        let mut tx = database.begin_system();
        let records = read_keys(&mut tx)?;
        let audit_count = count_documents(&mut tx, SERVER_KEY_AUDIT_TABLE)?;
        drop(tx);
        let (sender, receiver) = mpsc::sync_channel(AUDIT_QUEUE_MAX);
        let writer_database = database.clone();
        std::thread::Builder::new()
            .name("hull-key-audit".into())
            .spawn(move || write_audit(writer_database, receiver, audit_count, audit_entries_max))
            .map_err(|e| Error::internal("ThreadSpawnFailed", format!("could not start the audit writer: {e}")))?;
        Ok(ServerKeys {
            by_id: RwLock::new(records.into_iter().map(|(_, record)| (record.id, Arc::new(record))).collect()),
            limiters: Mutex::new(HashMap::new()),
            audit: sender,
            started: std::time::Instant::now(),
        })
    }

    fn record(&self, entry: AuditEntry) {
        // The writer only stops when the application is gone; nothing to record then.
        let _ = self.audit.send(AuditMessage::Entry(entry));
    }

    fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.audit.send(AuditMessage::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

impl Application {
    /// Stores a new server key (`hull keys create`). The secret stays with the operator; Hull
    /// gets the public key.
    pub fn create_server_key(&self, new: NewServerKey) -> Result<ServerKeyInfo> {
        check_key_name(&new.name)?;
        let scope = Scope::parse(&new.allow)?;
        if let Some(rate) = &new.rate {
            RateLimit::parse(rate)?;
        }
        let created_at = now_ms();
        if new.expires_at_ms.is_some_and(|expires| expires <= created_at) {
            return Err(Error::bad_request("InvalidKeyExpiry", "A server key's expiry must be in the future."));
        }
        let info = ServerKeyInfo {
            name: new.name.clone(),
            key_id: new.key_id.to_hex(),
            allow: scope.patterns(),
            act_as: new.act_as,
            read_only: new.read_only,
            allow_browser: new.allow_browser,
            rate: new.rate.clone(),
            created_at,
            expires_at: new.expires_at_ms,
            revoked_at: None,
        };
        let keys = &self.inner.server_keys;
        let mut by_id = keys.by_id.write();
        self.inner.database.run_system(KEYS_OCC_MAX_RETRIES, |tx| {
            let stored = read_keys(tx)?;
            if stored.len() >= SERVER_KEYS_MAX {
                return Err(Error::bad_request(
                    "TooManyServerKeys",
                    format!("This deployment already holds {SERVER_KEYS_MAX} server keys; revoke and delete old ones first."),
                ));
            }
            if stored.iter().any(|(_, r)| r.info.name == new.name && r.info.revoked_at.is_none()) {
                return Err(Error::bad_request(
                    "ServerKeyExists",
                    format!("A server key named '{}' already exists. Revoke it first, or choose another name.", new.name),
                ));
            }
            if stored.iter().any(|(_, r)| r.id == new.key_id) {
                return Err(Error::bad_request("ServerKeyExists", "A server key with this id already exists; mint a new key."));
            }
            tx.insert_system_table(SERVER_KEYS_TABLE, key_fields(&info, &new.public_key))
        })?;
        let rate = new.rate.as_deref().map(RateLimit::parse).transpose()?;
        let record = KeyRecord { info: info.clone(), id: new.key_id, public_key: new.public_key, scope, rate };
        by_id.insert(new.key_id, Arc::new(record));
        Ok(info)
    }

    /// Every key, active and revoked, by name.
    pub fn list_server_keys(&self) -> Vec<ServerKeyInfo> {
        let mut keys: Vec<ServerKeyInfo> = self.inner.server_keys.by_id.read().values().map(|r| r.info.clone()).collect();
        keys.sort_by(|a, b| (&a.name, a.created_at).cmp(&(&b.name, b.created_at)));
        keys
    }

    /// Revokes the active key named `name`: from now on it and every token derived from it are
    /// refused, also on connections that authenticated with it earlier.
    pub fn revoke_server_key(&self, name: &str) -> Result<ServerKeyInfo> {
        let keys = &self.inner.server_keys;
        let mut by_id = keys.by_id.write();
        let revoked_at = now_ms();
        let (record, _ts) = self.inner.database.run_system(KEYS_OCC_MAX_RETRIES, |tx| {
            let stored = read_keys(tx)?;
            let Some((document, record)) = stored.into_iter().find(|(_, r)| r.info.name == name && r.info.revoked_at.is_none())
            else {
                return Err(Error::new(Code::NotFound, "ServerKeyNotFound", format!("There is no active server key named '{name}'.")));
            };
            let mut info = record.info.clone();
            info.revoked_at = Some(revoked_at);
            tx.replace(document.id(), key_fields(&info, &record.public_key))?;
            Ok(KeyRecord { info, ..record })
        })?;
        let info = record.info.clone();
        by_id.insert(record.id, Arc::new(record));
        Ok(info)
    }

    /// The newest audit entries (of key `name`, or of every key), newest first.
    pub fn server_key_audit(&self, name: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.inner.server_keys.flush();
        let mut tx = self.inner.database.begin_system();
        let Some(table) = tx.catalog().table_by_name(SERVER_KEY_AUDIT_TABLE).map(|t| t.number) else {
            return Ok(Vec::new());
        };
        let mut stream = QueryStream::full_table(&mut tx, table, Order::Desc)?;
        let mut entries = Vec::new();
        while entries.len() < limit.min(AUDIT_READ_MAX)
            && let Some(document) = stream.next(&mut tx)?
        {
            let entry = audit_entry(document.object());
            if name.is_none_or(|name| entry.key == name) {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Authenticates a server key or token (`hull_sk_…` / `hull_st_…`) presented where admin
    /// keys go. `Ok(None)` when `credential` is neither, so the caller checks it as an admin key.
    pub fn server_key_caller(
        &self,
        credential: &str,
        acting_as: Option<UserIdentity>,
        origin: &RequestOrigin,
    ) -> Result<Option<Caller>> {
        let is_token = credential.starts_with(TOKEN_PREFIX);
        if !is_token && !ServerKey::is_server_key(credential) {
            return Ok(None);
        }
        let keys = &self.inner.server_keys;
        let by_id = keys.by_id.read();
        let now = now_ms();
        let (record, token) = if is_token {
            let claims: TokenClaims = hull_keys::verify_token(credential, |id| by_id.get(&id).map(|r| r.public_key), now / 1000)?;
            let record = by_id.get(&claims.key_id).cloned().ok_or_else(invalid_key)?;
            let narrowed = claims.allow.as_deref().map(Scope::parse).transpose()?;
            (record, Some((claims.expires_at, narrowed)))
        } else {
            let key = ServerKey::parse(credential)?;
            let record = by_id.get(&key.key_id()).cloned();
            // Derive and compare even for an unknown id, so the time taken does not tell a
            // well-formed unknown key from a known one.
            let stored = record.as_ref().map_or([0u8; 32], |r| r.public_key);
            let matches = key.matches(&stored);
            match record {
                Some(record) if matches => (record, None),
                Some(record) => {
                    keys.record(denial(&record, "key", None, "the key's secret does not match", origin, acting_as.as_ref()));
                    return Err(invalid_key());
                }
                None => return Err(invalid_key()),
            }
        };
        drop(by_id);
        let via = if token.is_some() { "token" } else { "key" };
        let refuse = |error: Error| {
            keys.record(denial(&record, via, None, &error.message, origin, acting_as.as_ref()));
            Err(error)
        };
        if let Some(error) = record.unusable(now) {
            return refuse(error);
        }
        if origin.from_browser && !record.info.allow_browser {
            return refuse(Error::new(
                Code::Forbidden,
                "ServerKeyFromBrowser",
                format!(
                    "The server key '{}' was presented by a browser (the request has an Origin or Sec-Fetch header). \
                     Server keys belong on servers: call Hull from your server code, or mint the key with \
                     --allow-browser if this client really is trusted.",
                    record.info.name
                ),
            ));
        }
        if acting_as.is_some() && !record.info.act_as {
            return refuse(Error::new(
                Code::Forbidden,
                "ServerKeyCannotActAs",
                format!("The server key '{}' may not act as a user: mint it with --act-as to allow that.", record.info.name),
            ));
        }
        Ok(Some(Caller::ServerKey(ServerKeyCaller {
            key_id: record.id,
            name: record.info.name.clone(),
            token,
            acting_as,
            origin: origin.clone(),
        })))
    }

    /// Whether a server-key caller's key (and token) is still usable.
    pub(crate) fn revalidate_server_key(&self, caller: &ServerKeyCaller) -> Result<()> {
        let record = self.inner.server_keys.by_id.read().get(&caller.key_id).cloned().ok_or_else(invalid_key)?;
        let now = now_ms();
        if let Some(error) = record.unusable(now) {
            return Err(error);
        }
        match caller.token {
            Some((expires_at, _)) if now / 1000 >= expires_at => Err(Error::new(
                Code::Unauthenticated,
                "BadServerToken",
                "The provided server token is invalid: it has expired.",
            )),
            _ => Ok(()),
        }
    }

    /// Decides whether a server-key caller may run `path` (a function of kind `udf_type`, if it
    /// exists): `Err` for a credential that stopped working or a rate limit (the request
    /// fails), `Ok(false)` for a function outside the key's rights (it looks missing),
    /// `Ok(true)` to run it. Every decision is audited under `request_id`.
    pub(crate) fn authorize_server_key_call(
        &self,
        caller: &ServerKeyCaller,
        path: &FunctionPath,
        udf_type: Option<hull_js::UdfType>,
        request_id: &str,
    ) -> Result<bool> {
        let (module, name) = (path.module().strip_suffix(".js").unwrap_or(path.module()), path.function());
        let target = Target {
            function: format!("{module}:{name}"),
            module,
            name,
            reachable: !path.is_system() && !path.is_dependency_chunk(),
            exists: udf_type.is_some(),
            writes: udf_type != Some(hull_js::UdfType::Query),
        };
        self.authorize(caller, &target, request_id)
    }

    /// [`Self::authorize_server_key_call`] for an HTTP action: the route counts as the function
    /// `http:<path>` (so `--allow 'http:*'` reaches every route), and as one that may write.
    pub(crate) fn authorize_server_key_http(&self, caller: &ServerKeyCaller, method: &str, path: &str, request_id: &str) -> Result<bool> {
        let target = Target {
            function: format!("http:{method} {path}"),
            module: "http",
            name: path,
            reachable: true,
            exists: true,
            writes: true,
        };
        self.authorize(caller, &target, request_id)
    }

    fn authorize(&self, caller: &ServerKeyCaller, target: &Target<'_>, request_id: &str) -> Result<bool> {
        let keys = &self.inner.server_keys;
        let record = keys.by_id.read().get(&caller.key_id).cloned().ok_or_else(invalid_key)?;
        let entry = |outcome: &str, reason: Option<String>| AuditEntry {
            time: now_ms(),
            key: record.info.name.clone(),
            via: if caller.token.is_some() { "token" } else { "key" }.to_owned(),
            function: Some(target.function.clone()),
            outcome: outcome.to_owned(),
            reason,
            acting_as: subject(caller.acting_as.as_ref()),
            request_id: Some(request_id.to_owned()),
            client_address: caller.origin.client_address.clone(),
        };
        if let Err(error) = self.revalidate_server_key(caller) {
            keys.record(entry("denied", Some(error.message.clone())));
            return Err(error);
        }
        if let Some(limit) = record.rate {
            let now = keys.started.elapsed().as_secs_f64();
            let mut limiters = keys.limiters.lock();
            let limiter = limiters.entry(caller.key_id).or_insert_with(|| RateLimiter::new(limit, now));
            if let Err(wait_s) = limiter.try_acquire(now) {
                drop(limiters);
                keys.record(entry("rateLimited", None));
                let retry_ms = (wait_s * 1000.0).ceil().max(1.0) as u64;
                return Err(Error::new(
                    Code::RateLimited,
                    "RateLimited",
                    format!(
                        "The server key '{}' is over its rate limit of {}. Retry after {retry_ms} ms.",
                        record.info.name,
                        record.info.rate.as_deref().unwrap_or("?")
                    ),
                )
                .with_retry_after(std::time::Duration::from_millis(retry_ms)));
            }
        }
        let (module, name) = (target.module, target.name);
        let denied = if !target.reachable || !record.scope.allows(module, name) {
            Some("outside the key's scope")
        } else if caller.token.as_ref().and_then(|(_, scope)| scope.as_ref()).is_some_and(|scope| !scope.allows(module, name)) {
            Some("outside the token's scope")
        } else if !target.exists {
            Some("no such function")
        } else if record.info.read_only && target.writes {
            Some("the key is read-only")
        } else {
            None
        };
        match denied {
            Some(reason) => {
                keys.record(entry("denied", Some(reason.to_owned())));
                Ok(false)
            }
            None => {
                keys.record(entry("allowed", None));
                Ok(true)
            }
        }
    }

    /// The identity an HTTP action sees for a server key or token presented as `Authorization:
    /// Bearer` (`None` when the credential is not a server key, does not check out, or its
    /// scope lacks `http:*`; the handler then runs without an identity, as for any header that
    /// is not Convex auth).
    /// The decision is audited under the HTTP action's `request_id`.
    pub(crate) fn server_key_http_identity(
        &self,
        credential: &str,
        method: &str,
        path: &str,
        origin: &RequestOrigin,
        request_id: &str,
    ) -> Option<serde_json::Value> {
        let Ok(Some(Caller::ServerKey(caller))) = self.server_key_caller(credential, None, origin) else { return None };
        match self.authorize_server_key_http(&caller, method, path, request_id) {
            Ok(true) => Some(serde_json::json!({
                "tokenIdentifier": format!("{SERVER_KEY_ISSUER}|{}", caller.name),
                "issuer": SERVER_KEY_ISSUER,
                "subject": caller.name,
            })),
            _ => None,
        }
    }
}

/// The `issuer` of the identity HTTP actions see for a server key.
pub const SERVER_KEY_ISSUER: &str = "hull:server-key";

/// What a server-key caller asks to run, for [`Application::authorize`].
struct Target<'a> {
    /// As audited: `module:function` or `http:METHOD /path`.
    function: String,
    /// Matched against the scopes.
    module: &'a str,
    name: &'a str,
    /// False for `_system/*` and bundler chunks, which no scope reaches.
    reachable: bool,
    exists: bool,
    /// Not a query: refused to read-only keys.
    writes: bool,
}

fn denial(
    record: &KeyRecord,
    via: &str,
    function: Option<String>,
    reason: &str,
    origin: &RequestOrigin,
    acting_as: Option<&UserIdentity>,
) -> AuditEntry {
    AuditEntry {
        time: now_ms(),
        key: record.info.name.clone(),
        via: via.to_owned(),
        function,
        outcome: "denied".to_owned(),
        reason: Some(reason.to_owned()),
        acting_as: subject(acting_as),
        request_id: None,
        client_address: origin.client_address.clone(),
    }
}

fn subject(identity: Option<&UserIdentity>) -> Option<String> {
    let identity = identity?;
    identity.0.get("subject").or_else(|| identity.0.get("tokenIdentifier")).and_then(|s| s.as_str()).map(str::to_owned)
}

fn check_key_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= KEY_NAME_MAX_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::bad_request(
            "InvalidServerKeyName",
            format!("Invalid server key name '{name}': use 1 to {KEY_NAME_MAX_LEN} letters, digits, '_' or '-'."),
        ))
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `2026-11-27T14:00:00Z` for messages.
fn iso_time(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

fn optional_ms(value: Option<u64>) -> Value {
    value.map_or(Value::Null, |ms| Value::Float64(ms as f64))
}

fn optional_string(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

fn key_fields(info: &ServerKeyInfo, public_key: &[u8; 32]) -> Object {
    Object::from([
        ("name".to_owned(), Value::String(info.name.clone())),
        ("keyId".to_owned(), Value::String(info.key_id.clone())),
        ("publicKey".to_owned(), Value::Bytes(public_key.to_vec())),
        ("allow".to_owned(), Value::Array(info.allow.iter().cloned().map(Value::String).collect())),
        ("actAs".to_owned(), Value::Boolean(info.act_as)),
        ("readOnly".to_owned(), Value::Boolean(info.read_only)),
        ("allowBrowser".to_owned(), Value::Boolean(info.allow_browser)),
        ("rate".to_owned(), optional_string(info.rate.as_deref())),
        ("createdAt".to_owned(), Value::Float64(info.created_at as f64)),
        ("expiresAt".to_owned(), optional_ms(info.expires_at)),
        ("revokedAt".to_owned(), optional_ms(info.revoked_at)),
    ])
}

fn read_keys(tx: &mut Transaction) -> Result<Vec<(Document, KeyRecord)>> {
    let Some(table) = tx.catalog().table_by_name(SERVER_KEYS_TABLE).map(|t| t.number) else {
        return Ok(Vec::new());
    };
    let mut stream = QueryStream::full_table(tx, table, Order::Asc)?;
    let mut records = Vec::new();
    while let Some(document) = stream.next(tx)? {
        let record = decode_key(document.object()).ok_or_else(|| {
            Error::internal("CorruptServerKey", format!("the {SERVER_KEYS_TABLE} document {} is malformed", document.id()))
        })?;
        records.push((document, record));
    }
    Ok(records)
}

fn decode_key(object: &Object) -> Option<KeyRecord> {
    let string = |name: &str| match object.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let boolean = |name: &str| match object.get(name) {
        Some(Value::Boolean(b)) => Some(*b),
        _ => None,
    };
    let ms = |name: &str| match object.get(name) {
        Some(Value::Float64(f)) => Some(Some(*f as u64)),
        Some(Value::Null) => Some(None),
        _ => None,
    };
    let allow: Vec<String> = match object.get("allow")? {
        Value::Array(items) => items.iter().map(|v| if let Value::String(s) = v { Some(s.clone()) } else { None }).collect::<Option<_>>()?,
        _ => return None,
    };
    let public_key: [u8; 32] = match object.get("publicKey")? {
        Value::Bytes(bytes) => bytes.as_slice().try_into().ok()?,
        _ => return None,
    };
    let rate = match object.get("rate")? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        _ => return None,
    };
    let info = ServerKeyInfo {
        name: string("name")?,
        key_id: string("keyId")?,
        allow,
        act_as: boolean("actAs")?,
        read_only: boolean("readOnly")?,
        allow_browser: boolean("allowBrowser")?,
        rate,
        created_at: ms("createdAt")??,
        expires_at: ms("expiresAt")?,
        revoked_at: ms("revokedAt")?,
    };
    Some(KeyRecord {
        id: KeyId::from_hex(&info.key_id)?,
        scope: Scope::parse(&info.allow).ok()?,
        rate: info.rate.as_deref().map(RateLimit::parse).transpose().ok()?,
        public_key,
        info,
    })
}

fn audit_fields(entry: &AuditEntry) -> Object {
    Object::from([
        ("time".to_owned(), Value::Float64(entry.time as f64)),
        ("key".to_owned(), Value::String(entry.key.clone())),
        ("via".to_owned(), Value::String(entry.via.clone())),
        ("function".to_owned(), optional_string(entry.function.as_deref())),
        ("outcome".to_owned(), Value::String(entry.outcome.clone())),
        ("reason".to_owned(), optional_string(entry.reason.as_deref())),
        ("actingAs".to_owned(), optional_string(entry.acting_as.as_deref())),
        ("requestId".to_owned(), optional_string(entry.request_id.as_deref())),
        ("clientAddress".to_owned(), optional_string(entry.client_address.as_deref())),
    ])
}

fn audit_entry(object: &Object) -> AuditEntry {
    let string = |name: &str| match object.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    AuditEntry {
        time: match object.get("time") {
            Some(Value::Float64(f)) => *f as u64,
            _ => 0,
        },
        key: string("key").unwrap_or_default(),
        via: string("via").unwrap_or_default(),
        function: string("function"),
        outcome: string("outcome").unwrap_or_default(),
        reason: string("reason"),
        acting_as: string("actingAs"),
        request_id: string("requestId"),
        client_address: string("clientAddress"),
    }
}

fn count_documents(tx: &mut Transaction, table: &str) -> Result<usize> {
    let Some(table) = tx.catalog().table_by_name(table).map(|t| t.number) else {
        return Ok(0);
    };
    let mut stream = QueryStream::full_table(tx, table, Order::Asc)?;
    let mut count = 0;
    while stream.next(tx)?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// The audit writer: batches queued entries into one transaction each, deleting the oldest
/// beyond `entries_max`. Ends when the application (the sender) is gone.
fn write_audit(database: Database, receiver: mpsc::Receiver<AuditMessage>, mut count: usize, entries_max: usize) {
    while let Ok(first) = receiver.recv() {
        let (mut entries, mut flushes) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                AuditMessage::Entry(entry) => entries.push(entry),
                AuditMessage::Flush(done) => flushes.push(done),
            }
            next = if entries.len() < AUDIT_BATCH_MAX { receiver.try_recv().ok() } else { None };
        }
        if !entries.is_empty() {
            let excess = (count + entries.len()).saturating_sub(entries_max);
            let written = database.run_system(KEYS_OCC_MAX_RETRIES, |tx| {
                for entry in &entries {
                    tx.insert_system_table(SERVER_KEY_AUDIT_TABLE, audit_fields(entry))?;
                }
                let table = tx.catalog().table_by_name(SERVER_KEY_AUDIT_TABLE).map(|t| t.number).expect("just inserted");
                let mut oldest = QueryStream::full_table(tx, table, Order::Asc)?;
                let mut deleted = 0;
                while deleted < excess
                    && let Some(document) = oldest.next(tx)?
                {
                    tx.delete(document.id())?;
                    deleted += 1;
                }
                Ok(deleted)
            });
            match written {
                Ok((deleted, _)) => count = count + entries.len() - deleted,
                // The trail is best effort against storage failure: the call it describes has
                // already been answered. Say so where an operator looks.
                Err(error) => eprintln!("hull: could not write {} server-key audit entries: {}", entries.len(), error.message),
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_795_795_200_000), "2026-11-27T16:00:00Z");
        assert_eq!(iso_time(951_782_400_000 + 3_661_000), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn key_names_are_checked() {
        assert!(check_key_name("sveltekit-prod_1").is_ok());
        for bad in ["", "has space", "a:b", &"x".repeat(KEY_NAME_MAX_LEN + 1)] {
            assert_eq!(check_key_name(bad).unwrap_err().short, "InvalidServerKeyName", "{bad}");
        }
    }
}
