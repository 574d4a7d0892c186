//! The SvelteKit example (`examples/sveltekit`) end to end in a real browser: `hull serve`, the
//! example's Convex functions deployed with the real CLI, a server key minted with `hull keys
//! create`, the app built (`vite build`, adapter-node) and started with the key in its private
//! environment, then `examples/sveltekit/tests/browser.mjs` drives Debian's Chromium through
//! playwright-core. Screenshots land in `target/tmp/sveltekit-screenshots/`.
//!
//! Needs what `scripts/setup.sh` installs: Node.js, the example's npm packages and chromium.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{answers_http, free_port, hull, require_node, serve};

/// How long the built app may take to listen.
const APP_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const CHROMIUM: &str = "/usr/bin/chromium";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sveltekit").canonicalize().unwrap()
}

/// A child process killed and reaped on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed ({}):\n{text}", output.status);
    text
}

fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_sveltekit_example_keeps_internal_functions_on_the_server_in_a_real_browser() {
    require_node();
    let example = example();
    assert!(example.join("node_modules/@sveltejs/kit").is_dir(), "the example's npm packages are missing: run scripts/setup.sh");
    assert!(Path::new(CHROMIUM).exists(), "chromium is missing: run scripts/setup.sh");

    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let admin_key = String::from_utf8(hull(&["admin-key", "--data-dir", data_dir.to_str().unwrap()]).stdout).unwrap().trim().to_owned();
    let server = serve(&data_dir, temp.path(), &[]);
    let (url, site_url) = (server.url(), format!("http://127.0.0.1:{}", server.site_port));

    run(
        Command::new(example.join("node_modules/.bin/convex"))
            .args(["deploy", "--yes", "--typecheck", "disable", "--url", &url, "--admin-key", &admin_key])
            .current_dir(&example)
            .env_remove("CONVEX_DEPLOYMENT")
            .env_remove("CONVEX_SELF_HOSTED_URL")
            .env_remove("CONVEX_SELF_HOSTED_ADMIN_KEY"),
        "npx convex deploy",
    );
    let created = String::from_utf8(
        hull(&["keys", "create", "--url", &url, "--admin-key", &admin_key, "--name", "sveltekit", "--allow", "secrets:*", "--allow", "http:*", "--act-as"])
            .stdout,
    )
    .unwrap();
    let server_key = created.lines().last().unwrap().to_owned();

    run(Command::new("npm").args(["run", "build"]).current_dir(&example), "npm run build");
    // The key is runtime configuration: no build output holds it, and the browser's bundle does
    // not even know what a key looks like (the helper is server-only code).
    let with_key = files_containing(&example.join("build"), &server_key);
    assert!(with_key.is_empty(), "the build must not contain the server key: {with_key:?}");
    let client_with_prefix = files_containing(&example.join("build/client"), "hull_sk_");
    assert!(client_with_prefix.is_empty(), "browser code must not handle server keys: {client_with_prefix:?}");

    let port = free_port();
    let app_log = temp.path().join("app.log");
    let _app = Running(
        Command::new("node")
            .arg("build/index.js")
            .current_dir(&example)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("ORIGIN", format!("http://127.0.0.1:{port}"))
            .env("PUBLIC_CONVEX_URL", &url)
            .env("HULL_SITE_URL", &site_url)
            .env("HULL_SERVER_KEY", &server_key)
            .stdout(std::fs::File::create(&app_log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + APP_STARTUP_TIMEOUT;
    while !answers_http(port) {
        assert!(Instant::now() < deadline, "the app did not start:\n{}", std::fs::read_to_string(&app_log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }

    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sveltekit-screenshots");
    let output = Command::new("node")
        .arg("tests/browser.mjs")
        .current_dir(&example)
        .env("APP_URL", format!("http://127.0.0.1:{port}"))
        .env("HULL_URL", &url)
        .env("HULL_SITE_URL", &site_url)
        .env("SERVER_KEY", &server_key)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "the browser test failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\napp log:\n{}\nserver stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&app_log).unwrap_or_default(),
        server.stderr()
    );
    for shot in ["1-loaded", "2-live-message-arrived", "3-note-saved", "4-after-attacks"] {
        assert!(screenshots.join(format!("{shot}.png")).is_file(), "screenshot {shot} is missing");
    }

    // Every browser-side attempt left the internal functions untouched; the server's own calls
    // are all in the audit trail, the key allowed.
    let audit = String::from_utf8(hull(&["keys", "audit", "sveltekit", "--url", &url, "--admin-key", &admin_key, "--json"]).stdout).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let functions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["function"].as_str()).collect();
    assert!(functions.contains(&"secrets:getSecretData") && functions.contains(&"secrets:saveNote") && functions.contains(&"http:GET /partner"), "{audit:#}");
}
