//! Fetching key sets: OIDC discovery and JWKS over HTTP(S), with a per-source cache.
//!
//! Key decisions:
//! - The cache clock is the `now` each verification is given, not a hidden `Instant`, so the
//!   refetch rate limit and TTL are tested deterministically.
//! - Each key source has a state lock (held only to read or store keys, never across I/O) and
//!   a fetch lock (held across one fetch). A token whose `kid` is missing waits on the fetch
//!   lock, so concurrent misses share one fetch and a burst of unknown `kid`s costs one
//!   request per [`JWKS_REFETCH_INTERVAL_MIN_SECONDS`](crate::limits); a token whose key is
//!   merely older than the TTL never waits: if another thread is already refreshing, it is
//!   verified with the keys at hand.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use ureq::Agent;

use crate::error::AuthError;
use crate::jwks::KeySet;
use crate::limits::PROVIDER_RESPONSE_BYTES_MAX;

/// Where a provider's keys come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeySource {
    /// An OIDC issuer (no trailing slash): discovery document, then its `jwks_uri`.
    Oidc { issuer: String },
    /// A JWKS URL.
    Jwks { url: String },
}

/// Timing knobs, in seconds (see `limits`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CachePolicy {
    pub ttl_seconds: u64,
    pub refetch_interval_min_seconds: u64,
    pub fetch_timeout_seconds: u64,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at_ms: u64,
    last_attempt_ms: Option<u64>,
    last_error: Option<AuthError>,
}

#[derive(Default)]
struct Entry {
    state: Mutex<State>,
    /// Held across one fetch; never taken while `state` is held.
    fetch: Mutex<()>,
}

/// What the cached state says about one `kid`.
enum Cached {
    /// A key with this `kid`, fetched within the TTL.
    Fresh(Arc<KeySet>),
    /// A key with this `kid`, fetched longer ago than the TTL.
    Stale(Arc<KeySet>),
    /// No keys yet, or none with this `kid`.
    Miss,
}

/// Key sets by source, shared by every verifier built from one another (see
/// `Verifier::with_config`).
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<KeySource, Arc<Entry>>>,
}

impl KeyCache {
    /// A cache holding only the entries for `sources` (keys survive a config push that keeps
    /// the provider; removed providers' keys are dropped, so the cache stays bounded).
    pub(crate) fn retaining(&self, sources: &[KeySource]) -> KeyCache {
        let entries = self.entries.lock();
        let kept = entries
            .iter()
            .filter(|(source, _)| sources.contains(source))
            .map(|(source, entry)| (source.clone(), entry.clone()))
            .collect();
        KeyCache {
            entries: Mutex::new(kept),
        }
    }

    /// The keys to verify a token with `kid`: cached, or fetched when there are none, when
    /// they are older than the TTL, or when they lack `kid` — a fetch only when the last
    /// attempt is older than the refetch interval. The caller reports a still-unknown `kid`.
    pub(crate) fn keys(
        &self,
        source: &KeySource,
        kid: &str,
        now_ms: u64,
        policy: CachePolicy,
    ) -> Result<Arc<KeySet>, AuthError> {
        let entry = self
            .entries
            .lock()
            .entry(source.clone())
            .or_default()
            .clone();
        // A separate statement, so the state guard is dropped before `refresh` takes it.
        let status = cached(&entry.state.lock(), kid, now_ms, policy);
        match status {
            Cached::Fresh(keys) => return Ok(keys),
            Cached::Stale(keys) => match entry.fetch.try_lock() {
                Some(_fetching) => refresh(&entry, source, kid, now_ms, policy),
                None => return Ok(keys),
            },
            Cached::Miss => {
                let _fetching = entry.fetch.lock();
                refresh(&entry, source, kid, now_ms, policy);
            }
        }
        // After a failed refetch, keys fetched earlier are still used: a provider outage must
        // not log everyone out.
        let state = entry.state.lock();
        match (&state.keys, &state.last_error) {
            (Some(keys), _) => Ok(keys.clone()),
            (None, Some(error)) => Err(error.clone()),
            (None, None) => Err(AuthError::unreachable(format!(
                "Could not fetch the keys of auth provider {}",
                source.describe()
            ))),
        }
    }
}

fn cached(state: &State, kid: &str, now_ms: u64, policy: CachePolicy) -> Cached {
    match &state.keys {
        Some(keys) if keys.find(kid).is_some() => {
            if now_ms.saturating_sub(state.fetched_at_ms) < policy.ttl_seconds * 1000 {
                Cached::Fresh(keys.clone())
            } else {
                Cached::Stale(keys.clone())
            }
        }
        _ => Cached::Miss,
    }
}

/// Fetches `source` into `entry` unless another thread just did (the `kid` is now fresh) or
/// the last attempt is too recent. The caller holds `entry.fetch`.
fn refresh(entry: &Entry, source: &KeySource, kid: &str, now_ms: u64, policy: CachePolicy) {
    {
        let mut state = entry.state.lock();
        let recent = state.last_attempt_ms.is_some_and(|last| {
            now_ms.saturating_sub(last) < policy.refetch_interval_min_seconds * 1000
        });
        if recent || matches!(cached(&state, kid, now_ms, policy), Cached::Fresh(_)) {
            return;
        }
        state.last_attempt_ms = Some(now_ms);
    }
    let result = fetch_keys(source, policy.fetch_timeout_seconds);
    let mut state = entry.state.lock();
    match result {
        Ok(keys) => {
            state.keys = Some(Arc::new(keys));
            state.fetched_at_ms = now_ms;
            state.last_error = None;
        }
        Err(error) => {
            tracing::warn!(
                ?source,
                error = error.message(),
                "auth provider fetch failed"
            );
            state.last_error = Some(error);
        }
    }
}

impl KeySource {
    fn describe(&self) -> String {
        match self {
            KeySource::Oidc { issuer } => format!("'{issuer}'"),
            KeySource::Jwks { url } => format!("'{url}'"),
        }
    }
}

fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
    })
}

fn fetch_keys(source: &KeySource, timeout_seconds: u64) -> Result<KeySet, AuthError> {
    let jwks_url = match source {
        KeySource::Jwks { url } => url.clone(),
        KeySource::Oidc { issuer } => {
            let discovery_url = format!("{issuer}/.well-known/openid-configuration");
            let discovery = get_json(&discovery_url, timeout_seconds)?;
            match discovery.get("jwks_uri") {
                Some(Value::String(uri)) => uri.clone(),
                _ => {
                    return Err(AuthError::unreachable(format!(
                        "The OIDC discovery document at '{discovery_url}' has no `jwks_uri`"
                    )));
                }
            }
        }
    };
    let document = get_json(&jwks_url, timeout_seconds)?;
    KeySet::parse(&document)
        .map_err(|e| AuthError::unreachable(format!("Invalid JWKS at '{jwks_url}': {e}")))
}

fn get_json(url: &str, timeout_seconds: u64) -> Result<Value, AuthError> {
    let fail = |what: String| AuthError::unreachable(format!("Could not fetch '{url}': {what}"));
    let mut response = agent()
        .get(url)
        .header("Accept", "application/json")
        .config()
        .timeout_global(Some(Duration::from_secs(timeout_seconds)))
        .build()
        .call()
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => fail(format!("timed out after {timeout_seconds} s")),
            other => fail(other.to_string()),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP status {status}")));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(PROVIDER_RESPONSE_BYTES_MAX)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => fail(format!(
                "the response is larger than the limit of {PROVIDER_RESPONSE_BYTES_MAX} bytes"
            )),
            other => fail(format!("reading the response failed: {other}")),
        })?;
    serde_json::from_slice(&body).map_err(|e| fail(format!("the response is not JSON: {e}")))
}
