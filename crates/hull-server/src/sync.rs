//! The sync WebSocket (`/api/<client version>/sync`, wire protocols §6), in a minimal form:
//! enough for the CLI's system queries (`npx convex env list/get`, `run --watch`) and simple
//! clients. Queries are re-run whenever the database's newest timestamp moves (checked every
//! [`SYNC_POLL_INTERVAL`]), not through read-set subscriptions; the full socket loop of the
//! sync issue replaces this. Every Transition chains from the previous one; a commit a mutation
//! made is followed by a Transition at or after its timestamp.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use hull_app::{CallKind, CallOutcome, Caller, FunctionPath, UserIdentity};
use hull_sync::protocol::{
    chunk_transition, AuthenticationToken, ClientMessage, ServerMessage, StateModification, StateVersion,
    MAX_TRANSITION_CHUNK_BYTES,
};
use hull_sync::state::ReceivedState;

use crate::AppState;

/// How often an idle socket checks for new commits.
pub const SYNC_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How often the server pings: clients drop a socket after 60 s of silence and expect a JSON
/// `Ping` at least every ~15 s (wire protocols §6.8).
pub const SYNC_PING_INTERVAL: Duration = Duration::from_secs(15);

/// The sync route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/{version}/sync", get(upgrade))
}

async fn upgrade(State(state): State<AppState>, peer: crate::auth::Peer, headers: axum::http::HeaderMap, ws: WebSocketUpgrade) -> Response {
    let origin = crate::auth::request_origin(&headers, peer.0);
    ws.max_message_size(hull_sync::protocol::MAX_CLIENT_MESSAGE_BYTES).on_upgrade(move |socket| run(state, origin, socket))
}

/// One socket's state.
struct Session {
    state: AppState,
    received: ReceivedState,
    caller: Caller,
    /// Where the socket's upgrade request came from.
    origin: hull_app::RequestOrigin,
    /// The version the client has reached (the last Transition's end).
    version: StateVersion,
    /// Each query's last result, so a re-run sends only what changed.
    results: BTreeMap<u32, StateModification>,
}

async fn run(state: AppState, origin: hull_app::RequestOrigin, mut socket: WebSocket) {
    let mut session = Session {
        state,
        received: ReceivedState::default(),
        caller: Caller::Anonymous,
        origin,
        version: StateVersion::default(),
        results: BTreeMap::new(),
    };
    let mut poll = tokio::time::interval(SYNC_POLL_INTERVAL);
    let mut ping = tokio::time::interval(SYNC_PING_INTERVAL);
    loop {
        let outgoing = tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => session.handle(text.as_str()).await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            _ = poll.tick() => {
                if session.state.database().latest_ts().0 == session.version.ts {
                    continue;
                }
                session.transition(false).await.into_iter().collect()
            }
            _ = ping.tick() => vec![ServerMessage::Ping],
            () = session.state.stopped() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        };
        for message in outgoing {
            let fatal = matches!(message, ServerMessage::FatalError { .. } | ServerMessage::AuthError { .. });
            let frames = match &message {
                ServerMessage::Transition { .. } => chunk_transition(message.to_json_string(), MAX_TRANSITION_CHUNK_BYTES),
                _ => vec![message.to_json_string()],
            };
            for frame in frames {
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
            if fatal {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

impl Session {
    async fn handle(&mut self, text: &str) -> Vec<ServerMessage> {
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(error) => return vec![ServerMessage::FatalError { error: error.to_string() }],
        };
        match message {
            ClientMessage::Connect { .. } | ClientMessage::Event { .. } => Vec::new(),
            ClientMessage::Authenticate { base_version, token } => {
                let caller = match token {
                    AuthenticationToken::None => Ok(Caller::Anonymous),
                    AuthenticationToken::Admin { value, impersonating } => crate::auth::admin_token_caller(
                        self.state.application(),
                        &value,
                        impersonating.map(UserIdentity),
                        &self.origin,
                    )
                    .map_err(|e| e.message),
                    AuthenticationToken::User { value } => {
                        // Verifying may fetch the provider's keys: off the socket's task.
                        let application = self.state.application().clone();
                        tokio::task::spawn_blocking(move || application.user_caller(&value))
                            .await
                            .map_err(|_| "verifying the token panicked".to_owned())
                            .and_then(|verified| verified.map_err(|e| e.message))
                    }
                };
                let caller = match caller {
                    Ok(caller) => caller,
                    Err(error) => return vec![ServerMessage::AuthError { error, base_version, auth_update_attempted: true }],
                };
                if let Err(error) = self.received.modify_identity(base_version) {
                    return vec![ServerMessage::FatalError { error: error.to_string() }];
                }
                self.caller = caller;
                // Every result may depend on the identity.
                self.results.clear();
                self.transition(true).await.into_iter().collect()
            }
            ClientMessage::ModifyQuerySet { base_version, new_version, modifications } => {
                match self.received.modify_query_set(base_version, new_version, modifications) {
                    Ok(change) => {
                        for removed in change.removed {
                            self.results.remove(&removed);
                        }
                        self.transition(true).await.into_iter().collect()
                    }
                    Err(error) => vec![ServerMessage::FatalError { error: error.to_string() }],
                }
            }
            ClientMessage::Mutation { request_id, udf_path, args, .. } => {
                let outcome = self.call(CallKind::Mutation, &udf_path, serde_json::Value::Array(args)).await;
                let ts = self.state.database().latest_ts().0;
                let log_lines = log_lines(&outcome);
                let result = result(outcome).map(|value| (value, ts));
                vec![ServerMessage::MutationResponse { request_id, result, log_lines }]
            }
            ClientMessage::Action { request_id, udf_path, args, .. } => {
                let outcome = self.call(CallKind::Action, &udf_path, serde_json::Value::Array(args)).await;
                let log_lines = log_lines(&outcome);
                vec![ServerMessage::ActionResponse { request_id, result: result(outcome), log_lines }]
            }
        }
    }

    /// Re-runs every query at the newest timestamp and answers a Transition with what changed
    /// (`always`: even when nothing did, to acknowledge a version change).
    async fn transition(&mut self, always: bool) -> Option<ServerMessage> {
        let ts = self.state.database().latest_ts().0;
        let mut modifications = Vec::new();
        let queries: Vec<(u32, String, Vec<serde_json::Value>)> =
            self.received.queries().iter().map(|(id, q)| (*id, q.udf_path.clone(), q.args.clone())).collect();
        for (query_id, path, args) in queries {
            let outcome = self.call(CallKind::Query, &path, serde_json::Value::Array(args)).await;
            let log_lines = log_lines(&outcome);
            let modification = match result(outcome) {
                Ok(value) => StateModification::QueryUpdated { query_id, value, log_lines, journal: None },
                Err((error_message, error_data)) => {
                    StateModification::QueryFailed { query_id, error_message, log_lines, journal: None, error_data }
                }
            };
            if self.results.get(&query_id) != Some(&modification) {
                self.results.insert(query_id, modification.clone());
                modifications.push(modification);
            }
        }
        let known: Vec<u32> = self.results.keys().copied().collect();
        for query_id in known.into_iter().filter(|id| !self.received.queries().contains_key(id)) {
            self.results.remove(&query_id);
        }
        let end = StateVersion {
            query_set: self.received.query_set_version(),
            identity: self.received.identity_version(),
            ts: ts.max(self.version.ts),
        };
        if modifications.is_empty() && !always && end == self.version {
            return None;
        }
        let start = std::mem::replace(&mut self.version, end);
        Some(ServerMessage::Transition { start, end, modifications, client_clock_skew: None, server_ts: None })
    }

    async fn call(&self, kind: CallKind, path: &str, args: serde_json::Value) -> Result<CallOutcome, String> {
        let path = FunctionPath::parse(path).map_err(|e| e.message)?;
        let (application, caller) = (self.state.application().clone(), self.caller.clone());
        tokio::task::spawn_blocking(move || application.call(&caller, kind, &path, args))
            .await
            .map_err(|_| "The function call panicked.".to_owned())?
            .map_err(|e| e.message)
    }
}

fn log_lines(outcome: &Result<CallOutcome, String>) -> Vec<String> {
    outcome.as_ref().map(|o| o.logs.iter().map(crate::wire::log_line).collect()).unwrap_or_default()
}

/// A call's value (Convex JSON), or its error message (formatted as over HTTP) and data.
fn result(outcome: Result<CallOutcome, String>) -> Result<serde_json::Value, (String, Option<serde_json::Value>)> {
    let outcome = outcome.map_err(|message| (message, None))?;
    match outcome.result {
        Ok(value) => Ok(value.to_json()),
        Err(error) => {
            let stack = error.stack.as_deref().map(str::trim_end).unwrap_or("");
            let message = format!("[Request ID: {}] Server Error\n{}\n{stack}", outcome.request_id, error.message);
            Err((message, error.data.map(|d| d.to_json())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let state = crate::test_state("hull-test");
        let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../hull-js/tests/fixtures/basic.push.json")).unwrap();
        state.application().deploy_push_request(&fixture).unwrap();
        Session { state, received: ReceivedState::default(), caller: Caller::Anonymous, origin: Default::default(), version: StateVersion::default(), results: BTreeMap::new() }
    }

    async fn send(session: &mut Session, message: serde_json::Value) -> Vec<serde_json::Value> {
        let answers = session.handle(&message.to_string()).await;
        answers.iter().map(|m| serde_json::from_str(&m.to_json_string()).unwrap()).collect()
    }

    fn versions(transition: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
        assert_eq!(transition["type"], "Transition", "{transition}");
        (transition["startVersion"].clone(), transition["endVersion"].clone())
    }

    #[tokio::test]
    async fn an_admin_reads_the_environment_variables_through_the_system_query() {
        let mut session = session();
        let application = session.state.application().clone();
        application.update_environment_variables(vec![hull_app::EnvVarChange { name: "K".into(), value: Some("v".into()) }]).unwrap();
        let key = application.issue_admin_key();
        let answers = send(&mut session, serde_json::json!({"type": "Connect", "sessionId": "s", "connectionCount": 0, "lastCloseReason": null})).await;
        assert!(answers.is_empty());
        let answers = send(&mut session, serde_json::json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": key})).await;
        let (start, end) = versions(&answers[0]);
        assert_eq!((start["identity"].as_u64(), end["identity"].as_u64()), (Some(0), Some(1)));
        let add = serde_json::json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 0, "udfPath": "_system/cli/queryEnvironmentVariables", "args": [{}]},
            {"type": "Add", "queryId": 1, "udfPath": "_system/cli/queryEnvironmentVariables:get", "args": [{"name": "K"}]},
        ]});
        let answers = send(&mut session, add).await;
        let (start, end) = versions(&answers[0]);
        assert_eq!((start["querySet"].as_u64(), end["querySet"].as_u64(), end["identity"].as_u64()), (Some(0), Some(1), Some(1)));
        let modifications = &answers[0]["modifications"];
        assert_eq!(modifications[0]["value"], serde_json::json!([{"name": "K", "value": "v"}]), "{modifications}");
        assert_eq!(modifications[1]["value"], serde_json::json!({"name": "K", "value": "v"}), "{modifications}");
    }

    #[tokio::test]
    async fn a_mutation_is_followed_by_a_transition_at_its_timestamp_with_the_new_results() {
        let mut session = session();
        let add = serde_json::json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 7, "udfPath": "channels:all", "args": [{}]},
        ]});
        let answers = send(&mut session, add).await;
        assert_eq!(answers[0]["modifications"][0]["value"]["names"], serde_json::json!([]), "{answers:?}");
        let mutation = serde_json::json!({"type": "Mutation", "requestId": 0, "udfPath": "channels:create", "args": [{"name": "general"}]});
        let answers = send(&mut session, mutation).await;
        assert_eq!((answers[0]["type"].as_str(), answers[0]["success"].as_bool()), (Some("MutationResponse"), Some(true)), "{answers:?}");
        let committed = hull_sync::protocol::decode_ts(answers[0]["ts"].as_str().unwrap()).unwrap();
        let transition = session.transition(false).await.expect("the commit moved the timestamp");
        let transition: serde_json::Value = serde_json::from_str(&transition.to_json_string()).unwrap();
        let (start, end) = versions(&transition);
        assert!(hull_sync::protocol::decode_ts(end["ts"].as_str().unwrap()).unwrap() >= committed);
        assert_eq!(start["querySet"], end["querySet"]);
        assert_eq!(transition["modifications"][0]["queryId"], 7);
        assert_eq!(transition["modifications"][0]["value"]["names"], serde_json::json!(["general"]), "{transition}");
        // Nothing changed since: no Transition.
        assert!(session.transition(false).await.is_none());
    }

    #[tokio::test]
    async fn a_wrong_admin_key_is_an_auth_error_and_a_broken_chain_is_fatal() {
        let mut session = session();
        let answers = send(&mut session, serde_json::json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "Admin", "value": "hull-test|00"})).await;
        assert_eq!(answers[0]["type"], "AuthError", "{answers:?}");
        let answers = send(&mut session, serde_json::json!({"type": "ModifyQuerySet", "baseVersion": 3, "newVersion": 4, "modifications": []})).await;
        assert_eq!(answers[0]["type"], "FatalError", "{answers:?}");
    }
}
