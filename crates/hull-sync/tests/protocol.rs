//! The sync protocol's wire format, pinned against what the official client sends and expects.

use hull_sync::protocol::{chunk_transition, decode_ts, encode_ts, AuthenticationToken, ClientMessage, QueryModification, ServerMessage, StateModification, StateVersion};
use hull_sync::state::ReceivedState;

#[test]
fn timestamps_are_base64_little_endian() {
    // The wire spec's examples.
    assert_eq!(encode_ts(0), "AAAAAAAAAAA=");
    assert_eq!(encode_ts(1_755_820_800_123_456_789), "Fc2ZCLftXRg=");
    assert_eq!(decode_ts("Fc2ZCLftXRg=").unwrap(), 1_755_820_800_123_456_789);
    assert!(decode_ts("AAAA").is_err());
    assert!(decode_ts("not base64!").is_err());
}

#[test]
fn client_messages_decode_as_the_client_sends_them() {
    let connect = ClientMessage::parse(r#"{"type":"Connect","sessionId":"6c1f0000-0000-4000-8000-000000000000","connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1755820800000}"#).unwrap();
    assert!(matches!(connect, ClientMessage::Connect { connection_count: 0, max_observed_timestamp: None, .. }));
    let modify = ClientMessage::parse(r#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"messages:list","args":[{}],"journal":null},{"type":"Remove","queryId":3}]}"#).unwrap();
    let ClientMessage::ModifyQuerySet { modifications, .. } = modify else { panic!() };
    assert_eq!(modifications[1], QueryModification::Remove { query_id: 3 });
    let admin = ClientMessage::parse(r#"{"type":"Authenticate","tokenType":"Admin","value":"key","baseVersion":0,"impersonating":{"subject":"u1","issuer":"https://x"}}"#).unwrap();
    let ClientMessage::Authenticate { token: AuthenticationToken::Admin { impersonating: Some(identity), .. }, base_version: 0 } = admin else { panic!("{admin:?}") };
    assert_eq!(identity["subject"], "u1");
    assert!(matches!(ClientMessage::parse(r#"{"type":"Authenticate","tokenType":"None","baseVersion":1}"#).unwrap(), ClientMessage::Authenticate { token: AuthenticationToken::None, base_version: 1 }));
    assert!(matches!(ClientMessage::parse(r#"{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi"}]}"#).unwrap(), ClientMessage::Mutation { request_id: 0, .. }));
    assert!(matches!(ClientMessage::parse(r#"{"type":"Event","eventType":"ClientConnect","event":{}}"#).unwrap(), ClientMessage::Event { .. }));
}

#[test]
fn malformed_client_messages_are_errors_not_panics() {
    for bad in [
        "",
        "null",
        "[]",
        "{}",
        r#"{"type":"Nope"}"#,
        r#"{"type":"Connect"}"#,
        r#"{"type":"ModifyQuerySet","baseVersion":-1,"newVersion":1,"modifications":[]}"#,
        r#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":"x"}]}"#,
        r#"{"type":"Mutation","requestId":0,"udfPath":5,"args":[]}"#,
        r#"{"type":"Connect","sessionId":"s","connectionCount":0,"lastCloseReason":null,"maxObservedTimestamp":"AAAA"}"#,
        r#"{"type":"Authenticate","tokenType":"Weird","baseVersion":0}"#,
        "\u{0}",
    ] {
        assert!(ClientMessage::parse(bad).is_err(), "{bad:?} was accepted");
    }
    let huge = format!(r#"{{"type":"Event","eventType":"x","event":"{}"}}"#, "x".repeat(hull_sync::protocol::MAX_CLIENT_MESSAGE_BYTES));
    assert!(ClientMessage::parse(&huge).unwrap_err().message.contains("larger than the limit"));
}

#[test]
fn server_messages_encode_as_the_client_expects() {
    let transition = ServerMessage::Transition {
        start: StateVersion::default(),
        end: StateVersion { query_set: 1, identity: 0, ts: 1_755_820_800_123_456_789 },
        modifications: vec![
            StateModification::QueryUpdated { query_id: 0, value: serde_json::json!([]), log_lines: vec![], journal: None },
            StateModification::QueryRemoved { query_id: 3 },
        ],
        client_clock_skew: Some(3.0),
        server_ts: Some(1),
    };
    let json: serde_json::Value = serde_json::from_str(&transition.to_json_string()).unwrap();
    assert_eq!(json["startVersion"], serde_json::json!({"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}));
    assert_eq!(json["endVersion"]["ts"], "Fc2ZCLftXRg=");
    assert_eq!(json["modifications"][0], serde_json::json!({"type": "QueryUpdated", "queryId": 0, "value": [], "logLines": [], "journal": null}));
    let response = ServerMessage::MutationResponse { request_id: 7, result: Ok((serde_json::Value::Null, 0)), log_lines: vec![] };
    let json: serde_json::Value = serde_json::from_str(&response.to_json_string()).unwrap();
    assert_eq!(json, serde_json::json!({"type": "MutationResponse", "requestId": 7, "success": true, "result": null, "ts": "AAAAAAAAAAA=", "logLines": []}));
    let failed = ServerMessage::MutationResponse { request_id: 8, result: Err(("boom".into(), Some(serde_json::json!({"code": 1})))), log_lines: vec![] };
    let json: serde_json::Value = serde_json::from_str(&failed.to_json_string()).unwrap();
    assert_eq!((json["success"].clone(), json["ts"].clone(), json["errorData"]["code"].clone()), (serde_json::json!(false), serde_json::Value::Null, serde_json::json!(1)));
    assert_eq!(ServerMessage::Ping.to_json_string(), r#"{"type":"Ping"}"#);
}

#[test]
fn large_transitions_split_into_ordered_chunks_at_character_boundaries() {
    let json = format!(r#"{{"type":"Transition","x":"{}"}}"#, "é".repeat(40));
    let parts = chunk_transition(json.clone(), 17);
    assert!(parts.len() > 1);
    let mut joined = String::new();
    for (number, part) in parts.iter().enumerate() {
        let chunk: serde_json::Value = serde_json::from_str(part).unwrap();
        assert_eq!(chunk["partNumber"], number);
        assert_eq!(chunk["totalParts"], parts.len());
        joined.push_str(chunk["chunk"].as_str().unwrap());
    }
    assert_eq!(joined, json);
    assert_eq!(chunk_transition("short".into(), 17), vec!["short".to_string()]);
}

#[test]
fn versions_must_chain() {
    let mut state = ReceivedState::default();
    let add = |id: u32| QueryModification::Add { query_id: id, udf_path: "m:list".into(), args: vec![serde_json::json!({})], journal: None, component_path: None };
    let change = state.modify_query_set(0, 1, vec![add(0), add(1)]).unwrap();
    assert_eq!(change.added, vec![0, 1]);
    assert!(state.modify_query_set(0, 2, vec![]).unwrap_err().message.starts_with("BaseVersionMismatch"));
    assert!(state.modify_query_set(1, 1, vec![]).is_err(), "new version must grow");
    assert_eq!(state.modify_query_set(1, 2, vec![add(0)]).unwrap_err().message, "Duplicate query id 0");
    assert_eq!(state.modify_query_set(1, 2, vec![QueryModification::Remove { query_id: 9 }]).unwrap_err().message, "Unknown query id 9");
    assert_eq!(state.queries().len(), 2, "a refused change changes nothing");
    let change = state.modify_query_set(1, 2, vec![QueryModification::Remove { query_id: 1 }, add(2)]).unwrap();
    assert_eq!((change.added, change.removed), (vec![2], vec![1]));
    assert_eq!(state.query_set_version(), 2);
    assert_eq!(state.modify_identity(0).unwrap(), 1);
    assert!(state.modify_identity(0).is_err());
}
