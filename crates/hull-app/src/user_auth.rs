//! End-user authentication: the providers of `auth.config.js`, evaluated at push time (with the
//! environment variables of that moment, as Convex does), stored with the deployment and
//! switched atomically with its code; and the callers their tokens prove.
//!
//! Stored in `_auth_config` (one document: the provider list as `appAuth` JSON), so a restart
//! uses exactly what the last push evaluated, without re-running `auth.config.js`.

use std::sync::Arc;
use std::time::SystemTime;

use hull_auth::{AuthConfig, AuthErrorKind, Verifier, VerifierOptions};
use hull_db::Transaction;
use hull_errors::{Code, Error, Result};
use hull_js::AuthConfigError;
use hull_store::Order;
use hull_values::{Object, Value};

use crate::call::Caller;
use crate::deployment::WorkerPool;
use crate::Application;

/// The system table holding the pushed auth providers.
pub const AUTH_CONFIG_TABLE: &str = "_auth_config";

/// Evaluates the push's `auth.config.js` (when it has one) on the analyzing worker: the
/// providers as `appAuth` JSON, checked. Refuses the push with Convex's messages.
pub(crate) fn evaluate(analyzer: &WorkerPool) -> Result<Option<serde_json::Value>> {
    let providers = analyzer.run(|runtime| {
        runtime.evaluate_auth_config().map_err(|error| match &error {
            AuthConfigError::MissingEnvironmentVariable(_) => {
                Error::bad_request("AuthConfigMissingEnvironmentVariable", error.message())
            }
            AuthConfigError::Invalid(_) => Error::bad_request("InvalidAuthConfig", error.message()),
        })
    })?;
    let Some(providers) = providers else { return Ok(None) };
    let config = AuthConfig::from_providers_json(&providers)
        .map_err(|e| Error::bad_request("InvalidAuthConfig", format!("Hit an error while pushing:\n{}", e.message())))?;
    Ok(Some(config.to_app_auth_json()))
}

/// The stored providers (`None`: the deployment has no `auth.config.js`).
pub(crate) fn read(tx: &mut Transaction) -> Result<Option<(hull_values::DocumentId, serde_json::Value)>> {
    let Some(table) = tx.catalog().table_by_name(AUTH_CONFIG_TABLE).map(|t| t.number) else {
        return Ok(None);
    };
    let mut stream = hull_db::QueryStream::full_table(tx, table, Order::Asc)?;
    let Some(document) = stream.next(tx)? else { return Ok(None) };
    let corrupt = || Error::internal("CorruptAuthConfig", format!("the {AUTH_CONFIG_TABLE} document is malformed"));
    let Some(Value::String(text)) = document.object().get("providers") else { return Err(corrupt()) };
    let providers = serde_json::from_str(text).map_err(|_| corrupt())?;
    Ok(Some((document.id(), providers)))
}

/// Replaces the stored providers with `providers`.
pub(crate) fn write(tx: &mut Transaction, providers: Option<&serde_json::Value>) -> Result<()> {
    if let Some((id, _)) = read(tx)? {
        tx.delete(id)?;
    }
    if let Some(providers) = providers {
        let fields = Object::from([("providers".to_owned(), Value::String(providers.to_string()))]);
        tx.insert_system_table(AUTH_CONFIG_TABLE, fields)?;
    }
    Ok(())
}

/// A verifier for `providers` that keeps the cached keys `previous` has for providers both
/// share (a redeploy does not refetch every JWKS).
pub(crate) fn verifier(providers: Option<&serde_json::Value>, previous: Option<&Verifier>) -> Result<Arc<Verifier>> {
    let config = match providers {
        Some(providers) => AuthConfig::from_providers_json(providers)
            .map_err(|e| Error::internal("CorruptAuthConfig", format!("the stored auth config is invalid: {}", e.message())))?,
        None => AuthConfig::empty(),
    };
    Ok(Arc::new(match previous {
        Some(previous) => previous.with_config(config),
        None => Verifier::new(config, VerifierOptions::default()),
    }))
}

/// A user's identity as functions see it, with the token's expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct UserCaller {
    identity: hull_auth::UserIdentity,
}

impl UserCaller {
    /// What `ctx.auth.getUserIdentity()` returns.
    pub fn identity(&self) -> serde_json::Value {
        self.identity.to_json()
    }
}

/// The client-visible error for a refused token: 401 with the provider's short code for a bad
/// token, 503 when the provider could not be reached (the token may be fine).
fn auth_error(error: hull_auth::AuthError) -> Error {
    let code = match error.kind() {
        AuthErrorKind::ProviderUnreachable => Code::Unavailable,
        _ => Code::Unauthenticated,
    };
    Error::new(code, error.short(), error.message().to_owned())
}

impl Application {
    /// Verifies a user's JWT (`Authorization: Bearer`, or a sync `Authenticate` with
    /// `tokenType: "User"`) against the live deployment's providers. Blocks while a provider's
    /// keys are fetched: call it off async threads.
    pub fn user_caller(&self, token: &str) -> Result<Caller> {
        let verifier = self.current().auth.clone();
        let identity = verifier.verify(token, SystemTime::now()).map_err(auth_error)?;
        Ok(Caller::User(UserCaller { identity }))
    }

    /// Whether a user caller's token is still unexpired (upstream's `TokenExpired`).
    pub(crate) fn revalidate_user(&self, caller: &UserCaller) -> Result<()> {
        let now_s = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        caller.identity.check_unexpired(now_s).map_err(auth_error)
    }

    /// The live deployment's providers as `appAuth` JSON (`[]` without `auth.config.js`).
    pub fn auth_providers(&self) -> serde_json::Value {
        self.current().auth.config().to_app_auth_json()
    }
}
