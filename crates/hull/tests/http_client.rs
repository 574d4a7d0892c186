//! End to end with the real clients: deploys the hull-js fixture project into a data directory
//! (`hull deploy-push-request`), prints an admin key (`hull admin-key`), starts `hull serve` on
//! free ports, and runs `tests/js/http_client.cjs` (`ConvexHttpClient`) and
//! `tests/js/sync_client.cjs` (`ConvexClient` over the sync WebSocket), from the pinned `convex`
//! package in `npm/node_modules`.
//!
//! Node.js is required: without it this test fails, saying so.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{hull, require_node, serve, Server};

fn fixture() -> std::path::PathBuf {
    support::fixture("basic")
}

/// The status of `GET path` with `Authorization: <authorization>`.
fn get_status(port: u16, path: &str, authorization: &str) -> u16 {
    support::http(port, "GET", path, &[("Authorization", authorization)], "").0
}

/// Deploys the fixture project into a fresh data directory, serves it and runs the client
/// script `tests/js/<script>` against it with the deployment URL and an admin key.
fn run_client_script(script: &str) {
    let temp = tempfile::tempdir().unwrap();
    let (server, port, key) = deployed_server(temp.path());
    support::run_node_script_with_args(script, &[&format!("http://127.0.0.1:{port}"), &key], &server);
}

/// Deploys the fixture project into a data directory under `temp` and serves it: the server,
/// its API port and an admin key.
fn deployed_server(temp: &Path) -> (Server, u16, String) {
    require_node();

    let data_dir = temp.join("data");
    let data = data_dir.to_str().unwrap();
    let deployed = hull(&["deploy-push-request", "--data-dir", data, fixture().to_str().unwrap()]);
    let report = String::from_utf8(deployed.stdout).unwrap();
    assert!(report.starts_with("Deployed "), "{report}");
    assert!(report.contains("added indexes counters.by_name, messages.by_channel"), "{report}");

    let key = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap().trim().to_owned();
    let name = std::fs::read_to_string(data_dir.join("instance.json")).unwrap();
    assert!(name.contains(key.split('|').next().unwrap()), "the key names the stored instance: {key} / {name}");

    let server = serve(&data_dir, temp, &[]);
    let port = server.port;
    (server, port, key)
}

#[test]
fn convex_http_client_calls_a_deployed_project_over_a_real_socket() {
    run_client_script("http_client.cjs");
}

/// The real `ConvexClient` over the sync WebSocket: live updates from another client,
/// `await mutation()` after its effect is visible, re-runs on an auth change, a consistent
/// paginated query during inserts, and a resent mutation that runs once (raw protocol, and the
/// real client reconnecting through a proxy that cut the connection as the answer came by).
#[test]
fn convex_client_syncs_live_queries_over_the_websocket() {
    run_client_script("sync_client.cjs");
}

/// The official Rust client (`convex` crate): a subscription sees a mutation's effect.
#[test]
fn the_rust_convex_client_subscribes_and_sees_a_mutation() {
    use futures_util::StreamExt;

    let temp = tempfile::tempdir().unwrap();
    let (server, port, _) = deployed_server(temp.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let mut client = convex::ConvexClient::new(&url).await.unwrap();
        let mut names = client.subscribe("calls:names", Default::default()).await.unwrap();
        let first = tokio::time::timeout(CLIENT_WAIT, names.next()).await.unwrap().unwrap();
        assert_eq!(first, convex::FunctionResult::Value(convex::Value::Array(vec![])));

        let mut writer = client.clone();
        let args = [("name".to_owned(), convex::Value::from("from-rust"))].into();
        let inserted = writer.mutation("calls:insertOne", args).await.unwrap();
        assert!(matches!(inserted, convex::FunctionResult::Value(convex::Value::String(_))), "{inserted:?}");
        let next = tokio::time::timeout(CLIENT_WAIT, names.next()).await.unwrap().unwrap();
        assert_eq!(
            next,
            convex::FunctionResult::Value(convex::Value::Array(vec![convex::Value::from("from-rust")])),
            "server stderr:\n{}",
            server.stderr()
        );
    });
}

/// How long the Rust client may take for one update.
const CLIENT_WAIT: Duration = Duration::from_secs(20);

#[test]
fn admin_keys_are_stable_per_data_dir_and_the_secret_file_is_private() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let data = data.to_str().unwrap();
    let first = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap();
    let second = String::from_utf8(hull(&["admin-key", "--data-dir", data]).stdout).unwrap();
    assert_eq!(first.split('|').next(), second.split('|').next());
    let secret_path = Path::new(data).join("instance_secret");
    let secret = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(secret.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let given = String::from_utf8(
        hull(&["admin-key", "--data-dir", data, "--instance-name", "other", "--instance-secret", &"ef".repeat(32)]).stdout,
    )
    .unwrap();
    assert!(given.starts_with("other|"), "{given}");
}

#[test]
fn keys_issued_for_a_given_name_and_secret_work_on_a_server_started_with_them() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let secret = "5a".repeat(32);
    let flags = ["--instance-name", "given-name", "--instance-secret", secret.as_str()];
    let mut args = vec!["admin-key", "--data-dir", data.to_str().unwrap()];
    args.extend(flags);
    let key = String::from_utf8(hull(&args).stdout).unwrap().trim().to_owned();
    let stored_key = String::from_utf8(hull(&["admin-key", "--data-dir", data.to_str().unwrap()]).stdout).unwrap().trim().to_owned();

    let server = serve(&data, temp.path(), &flags);
    let port = server.port;
    assert_eq!(get_status(port, "/api/check_admin_key", &format!("Convex {key}")), 200, "stderr:\n{}", server.stderr());
    // A key for the stored identity is not valid for the one given on the command line.
    assert_eq!(get_status(port, "/api/check_admin_key", &format!("Convex {stored_key}")), 401);
}

#[test]
fn keys_the_upstream_backend_issued_work_on_a_server_with_the_same_name_and_secret() {
    // The `convex` CLI's local-backend secret and upstream's development keys for `carnitas`
    // under it (current AES-GCM-SIV and legacy secretbox format).
    let secret = "4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974";
    let current = "carnitas|01ec1dc4339bc4a2c653e70016b1e1dea952bcfd707a0cd49c1bddcdfcd4d4a79bb2d6bdfa2f1493a1937cdb71e984c4a7";
    let legacy = "0135d8598650f8f5cb0f30c34ec2e2bb62793bc28717c8eb6fb577996d50be5f4281b59181095065c5d0f86a2c31ddbe9b597ec62b47ded69782cd";
    let temp = tempfile::tempdir().unwrap();
    let server = serve(&temp.path().join("data"), temp.path(), &["--instance-name", "carnitas", "--instance-secret", secret]);
    for key in [current, legacy, &format!("dev:{current}")] {
        assert_eq!(get_status(server.port, "/api/check_admin_key", &format!("Convex {key}")), 200, "{key}\n{}", server.stderr());
    }
    // Acting as a user with an upstream key works like with Hull's own.
    let identity = base64_identity(r#"{"issuer":"https://app","subject":"u1"}"#);
    assert_eq!(get_status(server.port, "/api/check_admin_key", &format!("Convex {current}:{identity}")), 200);

    let other = tempfile::tempdir().unwrap();
    let elsewhere = serve(&other.path().join("data"), other.path(), &["--instance-name", "tacos", "--instance-secret", secret]);
    assert_eq!(get_status(elsewhere.port, "/api/check_admin_key", &format!("Convex {current}")), 401, "another instance name");
}

/// Standard base64 of `json` (what `setAdminAuth(key, identity)` appends).
fn base64_identity(json: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(json)
}
