//! Sync protocol messages (wire spec section 6; client `browser/sync/protocol.ts`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The largest client message the server reads. Mutation and action arguments may be up to
/// 16 MiB (`FUNCTION_MAX_ARGS_SIZE`), and JSON around them is small.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = (16 << 20) + 64 * 1024;
/// The largest number of query-set modifications in one message (a reconnecting client sends
/// one Add per live query).
pub const MAX_MODIFICATIONS_PER_MESSAGE: usize = 10_000;

/// A malformed or out-of-protocol client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// What is wrong, for the FatalError the client will log.
    pub message: String,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ProtocolError> for hull_errors::Error {
    fn from(error: ProtocolError) -> hull_errors::Error {
        hull_errors::Error::bad_request("InvalidSyncMessage", error.message)
    }
}

fn protocol_error(message: impl Into<String>) -> ProtocolError {
    ProtocolError { message: message.into() }
}

/// Encodes a timestamp as the clients expect: base64 of its 8 little-endian bytes.
pub fn encode_ts(ts: u64) -> String {
    STANDARD.encode(ts.to_le_bytes())
}

/// Decodes [`encode_ts`]'s form.
pub fn decode_ts(encoded: &str) -> Result<u64, ProtocolError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded))
        .map_err(|_| protocol_error(format!("invalid timestamp {encoded:?}: not base64")))?;
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| protocol_error(format!("invalid timestamp {encoded:?}: not 8 bytes")))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Adds a query to the client's set, or removes one.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type")]
pub enum QueryModification {
    /// Subscribe to a query.
    Add {
        /// The client's number for this query.
        #[serde(rename = "queryId")]
        query_id: u32,
        /// The function path as the client spelled it.
        #[serde(rename = "udfPath")]
        udf_path: String,
        /// The arguments: an array holding one Convex-JSON object.
        args: Vec<serde_json::Value>,
        /// The journal from the query's last result (opaque), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        journal: Option<Option<String>>,
        /// A component path (admin only).
        #[serde(rename = "componentPath", default, skip_serializing_if = "Option::is_none")]
        component_path: Option<String>,
    },
    /// Unsubscribe.
    Remove {
        /// The query.
        #[serde(rename = "queryId")]
        query_id: u32,
    },
}

/// What the client authenticates with.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "tokenType")]
pub enum AuthenticationToken {
    /// An end user's JWT.
    User {
        /// The token.
        value: String,
    },
    /// An admin (or Hull server) key, optionally acting as a user.
    Admin {
        /// The key.
        value: String,
        /// The identity to act as (`impersonating`, alias `acting_as`).
        #[serde(default, alias = "acting_as", skip_serializing_if = "Option::is_none")]
        impersonating: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// No authentication (logging out).
    None,
}

/// A message from the client.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    /// First message on every socket.
    Connect {
        /// The client's session (a UUID, stable across reconnects).
        #[serde(rename = "sessionId")]
        session_id: String,
        /// Sockets the client opened before this one.
        #[serde(rename = "connectionCount")]
        connection_count: u32,
        /// Why the last socket closed.
        #[serde(rename = "lastCloseReason")]
        last_close_reason: Option<String>,
        /// The newest timestamp the client has seen (encoded).
        #[serde(rename = "maxObservedTimestamp", default, skip_serializing_if = "Option::is_none")]
        max_observed_timestamp: Option<String>,
        /// The client's clock, in ms.
        #[serde(rename = "clientTs", default, skip_serializing_if = "Option::is_none")]
        client_ts: Option<f64>,
    },
    /// Change the identity.
    Authenticate {
        /// The identity version this change applies to.
        #[serde(rename = "baseVersion")]
        base_version: u32,
        /// The credential.
        #[serde(flatten)]
        token: AuthenticationToken,
    },
    /// Change the query set.
    ModifyQuerySet {
        /// The query-set version this change applies to.
        #[serde(rename = "baseVersion")]
        base_version: u32,
        /// The version after it.
        #[serde(rename = "newVersion")]
        new_version: u32,
        /// Adds and removes, in order.
        modifications: Vec<QueryModification>,
    },
    /// Run a mutation.
    Mutation {
        /// The client's number for the request (shared with actions).
        #[serde(rename = "requestId")]
        request_id: u32,
        /// The function path.
        #[serde(rename = "udfPath")]
        udf_path: String,
        /// The arguments.
        args: Vec<serde_json::Value>,
        /// A component path (admin only).
        #[serde(rename = "componentPath", default, skip_serializing_if = "Option::is_none")]
        component_path: Option<String>,
    },
    /// Run an action.
    Action {
        /// The client's number for the request.
        #[serde(rename = "requestId")]
        request_id: u32,
        /// The function path.
        #[serde(rename = "udfPath")]
        udf_path: String,
        /// The arguments.
        args: Vec<serde_json::Value>,
        /// A component path (admin only).
        #[serde(rename = "componentPath", default, skip_serializing_if = "Option::is_none")]
        component_path: Option<String>,
    },
    /// Client diagnostics; the server ignores them.
    Event {
        /// What happened.
        #[serde(rename = "eventType")]
        event_type: String,
        /// Details.
        #[serde(default)]
        event: serde_json::Value,
    },
}

impl ClientMessage {
    /// Decodes one text frame, strictly.
    pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
        if text.len() > MAX_CLIENT_MESSAGE_BYTES {
            return Err(protocol_error(format!(
                "message of {} bytes is larger than the limit of {MAX_CLIENT_MESSAGE_BYTES} bytes",
                text.len()
            )));
        }
        let message: ClientMessage = serde_json::from_str(text).map_err(|error| protocol_error(format!("invalid message: {error}")))?;
        match &message {
            ClientMessage::ModifyQuerySet { modifications, .. } if modifications.len() > MAX_MODIFICATIONS_PER_MESSAGE => {
                return Err(protocol_error(format!(
                    "ModifyQuerySet with {} modifications; at most {MAX_MODIFICATIONS_PER_MESSAGE} per message",
                    modifications.len()
                )));
            }
            ClientMessage::Connect { max_observed_timestamp: Some(ts), .. } => {
                decode_ts(ts)?;
            }
            _ => {}
        }
        Ok(message)
    }
}

/// The versions a Transition moves between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StateVersion {
    /// The query-set version.
    pub query_set: u32,
    /// The identity version.
    pub identity: u32,
    /// The snapshot timestamp.
    pub ts: u64,
}

impl StateVersion {
    fn to_json(self) -> serde_json::Value {
        serde_json::json!({"querySet": self.query_set, "identity": self.identity, "ts": encode_ts(self.ts)})
    }
}

/// One change in a Transition.
#[derive(Clone, Debug, PartialEq)]
pub enum StateModification {
    /// A query's new result.
    QueryUpdated {
        /// The query.
        query_id: u32,
        /// The result (Convex JSON).
        value: serde_json::Value,
        /// Its log lines.
        log_lines: Vec<String>,
        /// Its journal.
        journal: Option<String>,
    },
    /// A query failed.
    QueryFailed {
        /// The query.
        query_id: u32,
        /// The error as the client shows it.
        error_message: String,
        /// Its log lines.
        log_lines: Vec<String>,
        /// Its journal.
        journal: Option<String>,
        /// `ConvexError` data (Convex JSON), if any.
        error_data: Option<serde_json::Value>,
    },
    /// A query left the set.
    QueryRemoved {
        /// The query.
        query_id: u32,
    },
}

impl StateModification {
    fn to_json(&self) -> serde_json::Value {
        match self {
            StateModification::QueryUpdated { query_id, value, log_lines, journal } => {
                serde_json::json!({"type": "QueryUpdated", "queryId": query_id, "value": value, "logLines": log_lines, "journal": journal})
            }
            StateModification::QueryFailed { query_id, error_message, log_lines, journal, error_data } => {
                let mut json = serde_json::json!({"type": "QueryFailed", "queryId": query_id, "errorMessage": error_message, "logLines": log_lines, "journal": journal});
                if let Some(data) = error_data {
                    json["errorData"] = data.clone();
                }
                json
            }
            StateModification::QueryRemoved { query_id } => serde_json::json!({"type": "QueryRemoved", "queryId": query_id}),
        }
    }
}

/// A message from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// The client's state moves from `start` to `end`.
    Transition {
        /// Must equal the client's current version.
        start: StateVersion,
        /// The new version.
        end: StateVersion,
        /// What changed.
        modifications: Vec<StateModification>,
        /// Diagnostics: the client's clock skew in ms.
        client_clock_skew: Option<f64>,
        /// Diagnostics: the server's clock in ns.
        server_ts: Option<u64>,
    },
    /// A mutation's outcome.
    MutationResponse {
        /// The request.
        request_id: u32,
        /// `Ok((value, commit ts))` or `Err((message, errorData))`.
        result: Result<(serde_json::Value, u64), (String, Option<serde_json::Value>)>,
        /// Log lines.
        log_lines: Vec<String>,
    },
    /// An action's outcome.
    ActionResponse {
        /// The request.
        request_id: u32,
        /// `Ok(value)` or `Err((message, errorData))`.
        result: Result<serde_json::Value, (String, Option<serde_json::Value>)>,
        /// Log lines.
        log_lines: Vec<String>,
    },
    /// Authentication failed (the socket closes after it).
    AuthError {
        /// Why.
        error: String,
        /// The identity version before the attempted update.
        base_version: u32,
        /// Whether this answers an Authenticate (false: the token expired).
        auth_update_attempted: bool,
    },
    /// The client broke the protocol; it will stop for good.
    FatalError {
        /// Why.
        error: String,
    },
    /// Keep-alive.
    Ping,
}

impl ServerMessage {
    /// The JSON text frame.
    pub fn to_json_string(&self) -> String {
        let json = match self {
            ServerMessage::Transition { start, end, modifications, client_clock_skew, server_ts } => {
                let mut json = serde_json::json!({
                    "type": "Transition",
                    "startVersion": start.to_json(),
                    "endVersion": end.to_json(),
                    "modifications": modifications.iter().map(StateModification::to_json).collect::<Vec<_>>(),
                });
                if let Some(skew) = client_clock_skew {
                    json["clientClockSkew"] = serde_json::json!(skew);
                }
                if let Some(ts) = server_ts {
                    json["serverTs"] = serde_json::json!(ts);
                }
                json
            }
            ServerMessage::MutationResponse { request_id, result, log_lines } => match result {
                Ok((value, ts)) => serde_json::json!({"type": "MutationResponse", "requestId": request_id, "success": true, "result": value, "ts": encode_ts(*ts), "logLines": log_lines}),
                Err((message, data)) => {
                    let mut json = serde_json::json!({"type": "MutationResponse", "requestId": request_id, "success": false, "result": message, "ts": null, "logLines": log_lines});
                    if let Some(data) = data {
                        json["errorData"] = data.clone();
                    }
                    json
                }
            },
            ServerMessage::ActionResponse { request_id, result, log_lines } => match result {
                Ok(value) => serde_json::json!({"type": "ActionResponse", "requestId": request_id, "success": true, "result": value, "logLines": log_lines}),
                Err((message, data)) => {
                    let mut json = serde_json::json!({"type": "ActionResponse", "requestId": request_id, "success": false, "result": message, "logLines": log_lines});
                    if let Some(data) = data {
                        json["errorData"] = data.clone();
                    }
                    json
                }
            },
            ServerMessage::AuthError { error, base_version, auth_update_attempted } => {
                serde_json::json!({"type": "AuthError", "error": error, "baseVersion": base_version, "authUpdateAttempted": auth_update_attempted})
            }
            ServerMessage::FatalError { error } => serde_json::json!({"type": "FatalError", "error": error}),
            ServerMessage::Ping => serde_json::json!({"type": "Ping"}),
        };
        json.to_string()
    }
}

/// The largest text frame the server sends; a longer Transition goes out as TransitionChunks
/// (the reference splits above 5,000,000 bytes).
pub const MAX_TRANSITION_CHUNK_BYTES: usize = 5_000_000;

/// Splits a serialized Transition into `TransitionChunk` frames (at UTF-8 boundaries) when it
/// is longer than `max_bytes`; otherwise returns it as is.
pub fn chunk_transition(json: String, max_bytes: usize) -> Vec<String> {
    assert!(max_bytes >= 4, "a chunk must hold at least one character");
    if json.len() <= max_bytes {
        return vec![json];
    }
    let mut parts = Vec::new();
    let mut rest = json.as_str();
    while !rest.is_empty() {
        let mut cut = rest.len().min(max_bytes);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    let id = json.len().to_string();
    let total = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(number, chunk)| serde_json::json!({"type": "TransitionChunk", "chunk": chunk, "partNumber": number, "totalParts": total, "transitionId": id}).to_string())
        .collect()
}
