//! The real Convex CLI deploys to Hull: `npx convex deploy --url ... --admin-key ...` (and
//! `npx convex dev --once`) with the pinned CLI from `npm/node_modules`, against a copy of the
//! hull-js fixture project `basic`, talking to a `hull serve` child on free ports. Then the
//! deployed functions are called over HTTP; a redeploy adds an index on a table with data; a
//! schema that existing documents violate is refused with the CLI's message and changes
//! nothing; `convex codegen` changes nothing live; the calls appear in the log stream; garbage
//! Brotli and wrong admin keys get upstream's error envelopes; `convex env set/remove` reach
//! `process.env` in deployed functions; HTTP actions answer on the site port.
//!
//! Node.js is required: without it this test fails, saying so.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;

use support::{convex as convex_command, http, node_modules, require_node, Server};

/// Bound on one HTTP exchange with the server.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn hull(args: &[&str]) -> String {
    String::from_utf8(support::hull(args).stdout).unwrap()
}

fn serve(data_dir: &Path, logs: &Path) -> Server {
    support::serve(data_dir, logs, &[])
}

fn project(root: &Path) -> std::path::PathBuf {
    support::project("basic", root)
}

/// Runs the pinned CLI in `project` against `server`, typechecking off; returns its output
/// (stdout + stderr).
fn convex(project: &Path, server: &Server, key: &str, command: &[&str]) -> (bool, String) {
    let mut command = command.to_vec();
    command.extend(["--typecheck", "disable"]);
    convex_command(project, server, key, &command)
}

fn call(server: &Server, kind: &str, path: &str, args: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"path": path, "args": args}).to_string();
    let (status, answer) = http(server.port, "POST", &format!("/api/{kind}"), &[("Content-Type", "application/json")], body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str(&answer).unwrap()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} does not contain {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

const CHANNELS_TABLE: &str = "channels: defineTable({ name: v.string() }),";

/// A module added by the redeploy: reads through the index that redeploy adds.
const BY_NAME_MODULE: &str = r#"import { v } from "convex/values";
import { query } from "./_generated/server";

export const find = query({
  args: { name: v.string() },
  handler: async (ctx, { name }) =>
    (await ctx.db.query("channels").withIndex("by_name", (q) => q.eq("name", name)).collect()).map((c) => c.name),
});
"#;

#[test]
fn the_real_convex_cli_deploys_redeploys_and_is_refused_like_upstream() {
    require_node();
    assert!(node_modules().join(".bin/convex").exists(), "the pinned convex CLI is missing from npm/node_modules");

    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let key = hull(&["admin-key", "--data-dir", data_dir.to_str().unwrap()]).trim().to_owned();
    let server = serve(&data_dir, temp.path());
    let project = project(temp.path());

    // 1. First deploy: every module, the schema and its indexes.
    let (ok, out) = convex(&project, &server, &key, &["deploy", "-y"]);
    assert!(ok, "deploy failed:\n{out}\nserver:\n{}", server.stderr());
    assert!(out.contains("[+] messages.by_channel   channel, _creationTime"), "{out}");
    assert!(out.contains("Deployed Convex functions to"), "{out}");
    let created = call(&server, "mutation", "channels:create", serde_json::json!({"name": "general"}));
    assert_eq!(created["status"], "success", "{created}");
    let got = call(&server, "query", "channels:get", serde_json::json!({"id": created["value"]}));
    assert_eq!(got["value"]["name"], "general", "{got}");

    // 2. A redeploy adds an index on the table that now has a document, and a module using it.
    let schema = project.join("convex/schema.ts");
    edit(&schema, CHANNELS_TABLE, r#"channels: defineTable({ name: v.string() }).index("by_name", ["name"]),"#);
    std::fs::write(project.join("convex/byName.ts"), BY_NAME_MODULE).unwrap();
    let (ok, out) = convex(&project, &server, &key, &["deploy", "-y"]);
    assert!(ok, "redeploy failed:\n{out}\nserver:\n{}", server.stderr());
    assert!(out.contains("[+] channels.by_name   name, _creationTime"), "{out}");
    let found = call(&server, "query", "byName:find", serde_json::json!({"name": "general"}));
    assert_eq!(found["value"], serde_json::json!(["general"]), "{found}");

    // 3. A schema the existing document violates is refused with the CLI's message, and nothing
    //    of that push (schema, index drop, new module) goes live.
    edit(&schema, r#"defineTable({ name: v.string() }).index("by_name", ["name"])"#, "defineTable({ name: v.number() })");
    std::fs::write(project.join("convex/extra.ts"), "import { query } from \"./_generated/server\";\nexport const x = query(async () => 1);\n").unwrap();
    let (ok, out) = convex(&project, &server, &key, &["deploy", "-y"]);
    assert!(!ok, "a push violating the schema succeeded:\n{out}");
    assert!(out.contains("Schema validation failed."), "{out}");
    assert!(out.contains("in table \"channels\" does not match the schema:"), "{out}");
    let extra = call(&server, "query", "extra:x", serde_json::json!({}));
    assert_eq!(extra["status"], "error", "the refused push's module went live: {extra}");
    let again = call(&server, "mutation", "channels:create", serde_json::json!({"name": "still a string"}));
    assert_eq!(again["status"], "success", "the refused schema went live: {again}");
    let found = call(&server, "query", "byName:find", serde_json::json!({"name": "general"}));
    assert_eq!(found["value"], serde_json::json!(["general"]), "the refused push dropped the index: {found}");

    // 4. `convex codegen` runs start_push alone: nothing of it goes live.
    edit(&schema, "defineTable({ name: v.number() })", r#"defineTable({ name: v.string() }).index("by_name", ["name"])"#);
    let (ok, out) = convex(&project, &server, &key, &["codegen"]);
    assert!(ok, "codegen failed:\n{out}\nserver:\n{}", server.stderr());
    let extra = call(&server, "query", "extra:x", serde_json::json!({}));
    assert_eq!(extra["status"], "error", "codegen's start_push made a module live: {extra}");

    // 5. A module that throws while loading is refused with upstream's wording.
    let broken = project.join("convex/broken.ts");
    std::fs::write(&broken, "throw new Error(\"broken on purpose\");\nexport const y = 1;\n").unwrap();
    let (ok, out) = convex(&project, &server, &key, &["deploy", "-y"]);
    assert!(!ok, "a push with a module that fails to load succeeded:\n{out}");
    assert!(out.contains("InvalidModules: Hit an error while pushing:") && out.contains("broken on purpose"), "{out}");
    std::fs::remove_file(&broken).unwrap();

    // 6. `convex dev --once` pushes too (it also asks for the canonical URLs).
    let (ok, out) = convex(&project, &server, &key, &["dev", "--once"]);
    assert!(ok, "dev --once failed:\n{out}\nserver:\n{}", server.stderr());
    let extra = call(&server, "query", "extra:x", serde_json::json!({}));
    assert_eq!(extra["value"], 1.0, "{extra}");

    // 7. The calls above are in the log stream (`npx convex logs`, `dev`).
    let auth = format!("Convex {key}");
    let (status, answer) = http(server.port, "GET", "/api/stream_function_logs?cursor=0", &[("Authorization", &auth)], b"");
    assert_eq!(status, 200, "{answer}");
    let logs: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let created = logs["entries"].as_array().unwrap().iter().find(|e| e["identifier"] == "channels.js:create").expect("channels:create is logged");
    assert_eq!((created["kind"].as_str(), created["udfType"].as_str()), (Some("Completion"), Some("Mutation")), "{created}");
    assert!(logs["newCursor"].as_u64().unwrap() > 0, "{logs}");

    // 8. Bad requests get upstream's envelopes.
    let json = [("Content-Type", "application/json")];
    let body = serde_json::json!({"version": "1.48.0", "adminKey": format!("{}0", key)}).to_string();
    let (status, answer) = http(server.port, "POST", "/api/get_config_hashes", &json, body.as_bytes());
    assert_eq!((status, answer.as_str()), (401, r#"{"code":"BadAdminKey","message":"The provided admin key was invalid for this instance"}"#));
    let brotli = [("Content-Type", "application/json"), ("Content-Encoding", "br")];
    let (status, answer) = http(server.port, "POST", "/api/deploy2/start_push", &brotli, b"\xff\xfenot brotli at all");
    assert_eq!(status, 400, "{answer}");
    assert!(answer.starts_with(r#"{"code":"BadJsonBody","message":"Failed to buffer the request body"#), "{answer}");

    // 9. `npx convex env set/remove` reach `process.env` in deployed functions.
    let (ok, out) = convex_command(&project, &server, &key, &["env", "set", "GREETING", "hello from env"]);
    assert!(ok, "env set failed:\n{out}\nserver:\n{}", server.stderr());
    assert!(out.contains("Successfully set GREETING"), "{out}");
    let (ok, out) = convex_command(&project, &server, &key, &["env", "set", "SECOND=two"]);
    assert!(ok, "env set NAME=value failed:\n{out}");
    let read = call(&server, "query", "util:env", serde_json::json!({"name": "GREETING"}));
    assert_eq!(read["value"]["value"], "hello from env", "{read}");
    let (status, answer) = http(server.port, "GET", "/api/list_environment_variables", &[("Authorization", &auth)], b"");
    assert_eq!((status, answer.as_str()), (200, r#"{"environmentVariables":{"GREETING":"hello from env","SECOND":"two"}}"#));
    // `env list` and `env get` read through system queries over the sync WebSocket.
    let (ok, out) = convex_command(&project, &server, &key, &["env", "list", "--include-values"]);
    assert!(ok, "env list failed:\n{out}\nserver:\n{}", server.stderr());
    assert!(out.contains("GREETING=hello from env\nSECOND=two\n"), "{out}");
    let (ok, out) = convex_command(&project, &server, &key, &["env", "get", "SECOND"]);
    assert!(ok && out.trim() == "two", "env get failed:\n{out}");
    let (ok, out) = convex_command(&project, &server, &key, &["env", "get", "MISSING"]);
    assert!(ok && out.contains("Environment variable \"MISSING\" not found"), "{out}");
    let (ok, out) = convex_command(&project, &server, &key, &["env", "remove", "GREETING"]);
    assert!(ok && out.contains("Successfully unset GREETING"), "env remove failed:\n{out}");
    let read = call(&server, "query", "util:env", serde_json::json!({"name": "GREETING"}));
    assert_eq!(read["value"]["value"], serde_json::Value::Null, "{read}");
    let site_url = call(&server, "query", "util:env", serde_json::json!({"name": "CONVEX_SITE_URL"}));
    assert_eq!(site_url["value"]["value"], format!("http://127.0.0.1:{}", server.site_port), "{site_url}");
    let (ok, out) = convex_command(&project, &server, &key, &["env", "set", "1BAD", "x"]);
    assert!(!ok && out.contains("EnvironmentVariableNameInvalid"), "an invalid name was accepted:\n{out}");

    // 10. HTTP actions on the site port, over a real socket.
    let (status, answer) = http(server.site_port, "GET", "/hello", &[], b"");
    assert_eq!((status, answer.as_str()), (200, "hello"));
    let (status, answer) = http(server.site_port, "POST", "/files/a.txt?q=x", &[], b"abc");
    assert_eq!((status, answer.as_str()), (200, r#"{"len":3,"path":"/files/a.txt","q":"x"}"#));
    let (status, answer) = http(server.port, "POST", "/http/files/b.txt", &[], b"abcd");
    assert_eq!((status, answer.as_str()), (200, r#"{"len":4,"path":"/files/b.txt","q":null}"#));
    let (status, answer) = http(server.site_port, "GET", "/unknown", &[], b"");
    assert_eq!((status, answer.as_str()), (404, "No HttpAction routed for /unknown"));
    let (status, _) = http(server.site_port, "PUT", "/hello", &[], b"");
    assert_eq!(status, 404, "a method without a route");
    // An HTTP action guarded by a token set with `npx convex env set`: 401 without it, 200 with it.
    let (ok, out) = convex_command(&project, &server, &key, &["env", "set", "WEBHOOK_TOKEN", "s3cret"]);
    assert!(ok, "env set failed:\n{out}");
    let (status, answer) = http(server.site_port, "GET", "/guarded", &[], b"");
    assert_eq!((status, answer.as_str()), (401, "unauthorized"));
    let (status, _) = http(server.site_port, "GET", "/guarded", &[("Authorization", "Bearer wrong")], b"");
    assert_eq!(status, 401);
    let (status, answer) = http(server.site_port, "GET", "/guarded", &[("Authorization", "Bearer s3cret")], b"");
    assert_eq!((status, answer.as_str()), (200, "welcome"));
    // A body over the limit is refused from its declared length, before it is sent.
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, server.site_port)).unwrap();
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    let head = format!(
        "POST /files/big HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        hull_server::HTTP_ACTION_BODY_LIMIT + 1
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains(r#""code":"PayloadTooLarge""#), "{response}");
    let (status, answer) = http(server.site_port, "GET", "/version", &[], b"");
    assert_eq!(status, 200, "{answer}");
}
