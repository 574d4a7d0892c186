//! A sync session: newline-separated client messages parsed and applied, as the server's socket
//! loop does, to `hull_sync::state::ReceivedState` (query-set and identity versions), with each
//! query's function path and Convex-JSON arguments decoded. Never panics; versions only move
//! forward and exactly as the accepted message says; a refused modification changes nothing;
//! the query set stays within `MAX_QUERIES_PER_SOCKET`.
#![no_main]

use hull_app::FunctionPath;
use hull_sync::protocol::{AuthenticationToken, ClientMessage, QueryModification, decode_ts};
use hull_sync::state::{MAX_QUERIES_PER_SOCKET, ReceivedState};
use hull_values::Value;
use libfuzzer_sys::fuzz_target;

/// Bounds the work per input: a session longer than this is no more interesting.
const MESSAGES_PER_SESSION_MAX: usize = 64;

fn decode_call(udf_path: &str, args: &[serde_json::Value]) {
    let _ = FunctionPath::parse(udf_path);
    for arg in args {
        let _ = Value::from_json(arg);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(text) = hull_fuzz::text(data) else {
        return;
    };
    let mut state = ReceivedState::default();
    for line in text.lines().take(MESSAGES_PER_SESSION_MAX) {
        let Ok(message) = ClientMessage::parse(line) else {
            continue;
        };
        let before = state.clone();
        match message {
            ClientMessage::Connect {
                max_observed_timestamp,
                ..
            } => {
                if let Some(ts) = max_observed_timestamp {
                    decode_ts(&ts).expect("parse checked the timestamp");
                }
            }
            ClientMessage::Authenticate {
                base_version,
                token,
            } => {
                if let AuthenticationToken::Admin {
                    impersonating: Some(attributes),
                    ..
                } = token
                {
                    let _ = hull_app::UserIdentity::from_attributes(attributes);
                }
                match state.modify_identity(base_version) {
                    Ok(version) => {
                        assert_eq!(version, before.identity_version() + 1);
                        assert_eq!(state.identity_version(), version);
                    }
                    Err(_) => assert_eq!(state.identity_version(), before.identity_version()),
                }
            }
            ClientMessage::ModifyQuerySet {
                base_version,
                new_version,
                modifications,
            } => {
                let mut added_here = Vec::new();
                for modification in &modifications {
                    if let QueryModification::Add {
                        query_id,
                        udf_path,
                        args,
                        ..
                    } = modification
                    {
                        decode_call(udf_path, args);
                        added_here.push(*query_id);
                    }
                }
                match state.modify_query_set(base_version, new_version, modifications) {
                    Ok(change) => {
                        assert_eq!(state.query_set_version(), new_version);
                        assert!(new_version > before.query_set_version());
                        for id in &change.added {
                            assert!(
                                state.queries().contains_key(id),
                                "an added query is missing"
                            );
                        }
                        for id in &change.removed {
                            // Added and removed by the same message is allowed (and answered).
                            assert!(
                                before.queries().contains_key(id) || added_here.contains(id),
                                "a removed query was never there"
                            );
                        }
                    }
                    Err(_) => {
                        assert_eq!(state.query_set_version(), before.query_set_version());
                        assert_eq!(
                            state.queries(),
                            before.queries(),
                            "a refused ModifyQuerySet changed the set"
                        );
                    }
                }
                assert!(state.queries().len() <= MAX_QUERIES_PER_SOCKET);
            }
            ClientMessage::Mutation { udf_path, args, .. }
            | ClientMessage::Action { udf_path, args, .. } => {
                decode_call(&udf_path, &args);
            }
            ClientMessage::Event { .. } => {}
        }
    }
});
