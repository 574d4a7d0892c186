//! HTTP actions: requests to the site port served by the deployed `http.js` router. Routing
//! (exact path first, then the longest path prefix, per method) happens inside the router's
//! own JavaScript, as upstream's does (`runRequest`), so an unrouted request gets the router's
//! `404 No HttpAction routed for <path>`.

use hull_js::{HttpRequest, HttpResponse};

use crate::{Application, FunctionError};

/// The module holding the app's HTTP router.
const HTTP_MODULE: &str = "http.js";

/// What serving one request came to.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpActionResult {
    /// Nothing is deployed at `http.js`: upstream answers 404 "This Convex deployment does not
    /// have HTTP actions enabled."
    NotEnabled,
    /// The handler's response (the router's own 404 for unrouted requests).
    Response(HttpResponse),
    /// The handler threw: upstream answers 500 with the request id and the error.
    Error {
        /// Random hex id of this request (`[Request ID: <id>]`).
        request_id: String,
        /// The error.
        error: FunctionError,
    },
}

impl Application {
    /// Serves `request` (method upper-case; HEAD is served as GET by the caller) with the
    /// deployed `http.js` router. Blocks until the handler's response is complete. `Err` is for
    /// failures that are not the handler's (overload, storage).
    /// `origin` is where the request came from (audited when it presents a server key).
    pub fn run_http_action(&self, request: HttpRequest, origin: &crate::RequestOrigin) -> hull_errors::Result<HttpActionResult> {
        let deployment = self.current();
        let Some(workers) = deployment.workers.as_ref().filter(|_| deployment.modules.contains(HTTP_MODULE)) else {
            return Ok(HttpActionResult::NotEnabled);
        };
        let request_id = crate::call::request_id();
        // `Authorization: Bearer <JWT>` from a provider of `auth.config.js` makes that user
        // `ctx.auth`'s. As upstream, a header that is not Convex auth (a webhook's own shared
        // token, say) is left to the handler: the request runs without an identity.
        // A Hull server key or token (`--allow 'http:*'`) gives the identity
        // `{issuer: "hull:server-key", subject: <key name>}`, so a handler can admit trusted
        // servers only.
        let identity = match bearer_token(&request) {
            Some(token) if token.starts_with(hull_keys::TOKEN_PREFIX) || token.starts_with(hull_keys::KEY_PREFIX) => {
                self.server_key_http_identity(token, &request.method, url_path(&request.url), origin, &request_id)
            }
            Some(token) => match self.user_caller(token) {
                Ok(crate::Caller::User(user)) => Some(user.identity()),
                _ => None,
            },
            None => None,
        };
        let identifier = format!("{} {}", request.method, url_path(&request.url));
        let database = self.inner.database.clone();
        let started = std::time::Instant::now();
        let started_ms = crate::logs::now_ms() as f64;
        let outcome = workers
            .run(move |runtime| runtime.with_user_identity(identity, |runtime| runtime.run_http_action(&request, &database)))?;
        let result = outcome.result.map_err(FunctionError::from);
        self.inner.executions.record(crate::logs::FunctionExecution {
            cursor_ms: 0,
            udf_type: hull_js::UdfType::HttpAction,
            identifier,
            log_lines: outcome.logs,
            started_ms,
            execution_time_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: result.as_ref().err().map(|e| e.message.clone()),
            request_id: request_id.clone(),
        });
        Ok(match result {
            Ok(response) => HttpActionResult::Response(response),
            Err(error) => HttpActionResult::Error { request_id, error },
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let (_, value) = request.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization"))?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The path of an absolute URL, for log identifiers.
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or(path)
}
