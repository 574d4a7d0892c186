//! `hull keys`: mint, list, revoke and audit server keys against a running server, and derive
//! short-lived tokens offline.
//!
//! Key decision: `create` mints the key **here** and sends the server only its public half, so
//! the secret exists in exactly one place (this command's stdout) and Hull never holds anything
//! that can impersonate it.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use hull_errors::{Code, Error, Result};
use hull_keys::{MintedKey, ServerKey};
use serde::Deserialize;

use crate::cli::{KeysAuditArgs, KeysCommand, KeysCreateArgs, KeysTokenArgs, ServerArgs};

/// How long a `hull keys` request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer `hull keys` reads from the server.
const RESPONSE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Runs one `hull keys` command; what it prints goes to `out`.
pub fn run(command: KeysCommand, out: &mut impl std::io::Write) -> Result<()> {
    let write_failed = |e: std::io::Error| Error::internal("OutputFailed", format!("could not write the output: {e}"));
    match command {
        KeysCommand::Create(args) => {
            let (info, secret) = create(args)?;
            writeln!(out, "Created server key '{}' (id {}) allowing {}.", info.name, info.key_id, info.allow.join(", "))
                .map_err(write_failed)?;
            writeln!(out, "Store it now, in your server's private environment: it is shown only once.").map_err(write_failed)?;
            writeln!(out, "{secret}").map_err(write_failed)?;
        }
        KeysCommand::List(server) => {
            let keys: Vec<KeyInfo> = request(&server, "GET", "/api/hull/server_keys", None)?;
            for key in keys {
                writeln!(out, "{}", key.describe()).map_err(write_failed)?;
            }
        }
        KeysCommand::Revoke(args) => {
            let body = serde_json::json!({"name": args.name});
            let info: KeyInfo = request(&args.server, "POST", "/api/hull/server_keys/revoke", Some(body))?;
            writeln!(out, "Revoked server key '{}' (id {}).", info.name, info.key_id).map_err(write_failed)?;
        }
        KeysCommand::Audit(args) => audit(args, out).map_err(|e| match e {
            Failure::Io(e) => write_failed(e),
            Failure::Hull(e) => e,
        })?,
        KeysCommand::Token(args) => writeln!(out, "{}", token(args)?).map_err(write_failed)?,
    }
    Ok(())
}

/// A key as the server lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyInfo {
    name: String,
    key_id: String,
    allow: Vec<String>,
    act_as: bool,
    read_only: bool,
    allow_browser: bool,
    rate: Option<String>,
    expires_at: Option<u64>,
    revoked_at: Option<u64>,
}

impl KeyInfo {
    fn describe(&self) -> String {
        let mut options = Vec::new();
        if self.act_as {
            options.push("act-as".to_owned());
        }
        if self.read_only {
            options.push("read-only".to_owned());
        }
        if self.allow_browser {
            options.push("allow-browser".to_owned());
        }
        if let Some(rate) = &self.rate {
            options.push(format!("rate {rate}"));
        }
        if let Some(expires) = self.expires_at {
            options.push(format!("expires {expires} ms"));
        }
        let state = if self.revoked_at.is_some() { "revoked" } else { "active" };
        format!("{}\t{}\t{state}\t{}\t{}", self.name, self.key_id, self.allow.join(","), options.join(","))
    }
}

fn create(args: KeysCreateArgs) -> Result<(KeyInfo, String)> {
    let expires_at = args
        .expires
        .as_deref()
        .map(|text| -> Result<u64> {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            Ok(now + parse_duration(text)?.as_millis() as u64)
        })
        .transpose()?;
    let minted = MintedKey::generate();
    let body = serde_json::json!({
        "name": args.name,
        "keyId": minted.key_id.to_hex(),
        "publicKey": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(minted.public_key),
        "allow": args.allow,
        "actAs": args.act_as,
        "readOnly": args.read_only,
        "allowBrowser": args.allow_browser,
        "expiresAt": expires_at,
        "rate": args.rate,
    });
    let info: KeyInfo = request(&args.server, "POST", "/api/hull/server_keys", Some(body))?;
    Ok((info, minted.secret))
}

enum Failure {
    Io(std::io::Error),
    Hull(Error),
}

fn audit(args: KeysAuditArgs, out: &mut impl std::io::Write) -> std::result::Result<(), Failure> {
    let mut path = format!("/api/hull/server_keys/audit?limit={}", args.limit);
    if let Some(name) = &args.name {
        path.push_str(&format!("&name={}", percent_encode(name)));
    }
    let entries: Vec<serde_json::Value> = request(&args.server, "GET", &path, None).map_err(Failure::Hull)?;
    if args.json {
        return writeln!(out, "{}", serde_json::Value::Array(entries)).map_err(Failure::Io);
    }
    for entry in entries {
        let text = |name: &str| entry[name].as_str().unwrap_or("-").to_owned();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            entry["time"].as_u64().unwrap_or(0),
            text("key"),
            text("via"),
            text("function"),
            text("outcome"),
            text("reason"),
            text("actingAs"),
            text("requestId"),
            text("clientAddress"),
        )
        .map_err(Failure::Io)?;
    }
    Ok(())
}

fn token(args: KeysTokenArgs) -> Result<String> {
    let key = ServerKey::parse(args.key.trim())?;
    let ttl = parse_duration(&args.ttl)?.as_secs();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let allow = (!args.allow.is_empty()).then_some(args.allow.as_slice());
    hull_keys::derive_token(&key, ttl, allow, now)
}

/// `90d`, `12h`, `30m`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let invalid = || Error::bad_request("InvalidDuration", format!("Invalid duration '{text}': use a number and s, m, h or d, e.g. 90d."));
    let split = text.len().checked_sub(1).filter(|&i| text.is_char_boundary(i)).ok_or_else(invalid)?;
    let (count, unit) = text.split_at(split);
    let count: u64 = count.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    count.checked_mul(seconds).filter(|&s| s > 0).map(Duration::from_secs).ok_or_else(invalid)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// One admin API request; a non-2xx answer becomes its `{code, message}` as the error.
fn request<T: serde::de::DeserializeOwned>(server: &ServerArgs, method: &str, path: &str, body: Option<serde_json::Value>) -> Result<T> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(REQUEST_TIMEOUT)).http_status_as_error(false).build().into();
    let url = format!("{}{path}", server.url.trim_end_matches('/'));
    let authorization = format!("Convex {}", server.admin_key.trim());
    let unreachable = |e: ureq::Error| Error::new(Code::Unavailable, "ServerUnreachable", format!("Could not reach Hull at {}: {e}", server.url));
    let response = match (method, body) {
        ("POST", body) => agent
            .post(&url)
            .header("Authorization", &authorization)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or(serde_json::Value::Null).to_string())
            .map_err(unreachable)?,
        _ => agent.get(&url).header("Authorization", &authorization).call().map_err(unreachable)?,
    };
    let status = response.status();
    let mut text = String::new();
    response
        .into_body()
        .into_reader()
        .take(RESPONSE_MAX_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| Error::new(Code::Unavailable, "ServerUnreachable", format!("Could not read Hull's answer: {e}")))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(Error::new(Code::BadRequest, "RequestFailed", format!("Hull answered {status}: {message}")));
    }
    serde_json::from_str(&text).map_err(|e| Error::internal("BadResponse", format!("Hull's answer is not what `hull keys` expects: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("90d").unwrap(), Duration::from_secs(90 * 86_400));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        for bad in ["", "d", "5", "0s", "-1m", "5x", "1é", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad).unwrap_err().short, "InvalidDuration", "{bad}");
        }
    }
}
