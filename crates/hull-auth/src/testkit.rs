//! A test identity provider (feature `testkit`): RSA-2048 and P-256 keys generated in the
//! process, tokens signed with them, and a tiny HTTP server on 127.0.0.1 that serves an OIDC
//! discovery document and a JWKS while counting requests. Used by this crate's tests and meant
//! for end-to-end tests of `Authorization: Bearer` and WebSocket `Authenticate` elsewhere;
//! nothing here touches the network beyond loopback.
//!
//! ```no_run
//! use hull_auth::testkit::{TestIssuer, claims, rsa_key};
//! let key = rsa_key(0, "k1");
//! let issuer = TestIssuer::start(&[&key]);
//! // auth.config: {domain: issuer.url, applicationID: "app"}
//! let token = key.sign(&claims(&issuer.url, "app")); // valid at NOW for an hour
//! ```

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use parking_lot::Mutex;
use rsa::signature::SignatureEncoding as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

/// The fixed "now" of every test, in seconds since the epoch.
pub const NOW: u64 = 1_800_000_000;

/// `seconds` since the epoch as a `SystemTime`, for `Verifier::verify`.
pub fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A signing key with its `kid`.
#[derive(Clone)]
pub enum TestKey {
    /// An RSA key (RS256).
    Rsa {
        /// The key ID.
        kid: String,
        /// The private key.
        key: Arc<rsa::RsaPrivateKey>,
    },
    /// A P-256 key (ES256).
    Ec {
        /// The key ID.
        kid: String,
        /// The private key.
        key: Arc<p256::ecdsa::SigningKey>,
    },
}

fn rsa_keys() -> &'static [Arc<rsa::RsaPrivateKey>; 2] {
    static KEYS: OnceLock<[Arc<rsa::RsaPrivateKey>; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let generate = || Arc::new(rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap());
        [generate(), generate()]
    })
}

/// RSA key number `index` (0 or 1; generated once per test binary, they are slow).
pub fn rsa_key(index: usize, kid: &str) -> TestKey {
    TestKey::Rsa {
        kid: kid.into(),
        key: rsa_keys()[index].clone(),
    }
}

/// A fresh P-256 key (ES256).
pub fn ec_key(kid: &str) -> TestKey {
    TestKey::Ec {
        kid: kid.into(),
        key: Arc::new(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng)),
    }
}

impl TestKey {
    /// The key ID.
    pub fn kid(&self) -> &str {
        match self {
            TestKey::Rsa { kid, .. } | TestKey::Ec { kid, .. } => kid,
        }
    }

    /// `RS256` or `ES256`.
    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Rsa { .. } => "RS256",
            TestKey::Ec { .. } => "ES256",
        }
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        match self {
            TestKey::Rsa { kid, key } => json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            }),
            TestKey::Ec { kid, key } => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
                    "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                    "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
                })
            }
        }
    }

    /// The DER/SPKI-ish public bytes an attacker would use as an HMAC secret: here the RSA
    /// modulus, or the EC point.
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            TestKey::Rsa { key, .. } => key.n().to_bytes_be(),
            TestKey::Ec { key, .. } => key
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        }
    }

    fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Rsa { key, .. } => {
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new((**key).clone());
                signer.sign(message).to_vec()
            }
            TestKey::Ec { key, .. } => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
        }
    }

    /// A token with this key's `alg` and `kid` and the given claims.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg(), "kid": self.kid(), "typ": "JWT"}),
            claims,
        )
    }

    /// A token with an arbitrary header, signed by this key.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", encode_json(header), encode_json(claims));
        let signature = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// base64url (no padding) of the JSON text: one JWT segment.
pub fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A JWKS document with these keys' public halves.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

#[derive(Default)]
struct ServerState {
    jwks: Value,
    discovery_hits: usize,
    jwks_hits: usize,
    /// When set, `/jwks` answers with this status and no JSON.
    jwks_status: Option<u16>,
    /// How long `/jwks` takes to answer.
    jwks_delay: Duration,
}

/// An identity provider on 127.0.0.1 serving `/.well-known/openid-configuration` and `/jwks`.
pub struct TestIssuer {
    /// `http://127.0.0.1:<port>`: the OIDC `domain` and the tokens' `iss`.
    pub url: String,
    state: Arc<Mutex<ServerState>>,
}

impl TestIssuer {
    /// Starts serving `keys` on a free loopback port (the thread lives as long as the
    /// process).
    pub fn start(keys: &[&TestKey]) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ServerState {
            jwks: jwks(keys),
            ..Default::default()
        }));
        let (thread_state, thread_url) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &thread_state, &thread_url);
            }
        });
        TestIssuer { url, state }
    }

    /// The JWKS URL, for `customJwt` providers.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// Replaces the served keys (a rotation at the provider).
    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.state.lock().jwks = jwks(keys);
    }

    /// Makes every JWKS response take `delay`.
    pub fn delay_jwks_by(&self, delay: Duration) {
        self.state.lock().jwks_delay = delay;
    }

    /// Makes every JWKS response an HTTP error with `status`.
    pub fn fail_jwks_with(&self, status: u16) {
        self.state.lock().jwks_status = Some(status);
    }

    /// (discovery requests, JWKS requests) so far.
    pub fn hits(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.discovery_hits, state.jwks_hits)
    }
}

fn serve(stream: TcpStream, state: &Mutex<ServerState>, url: &str) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let delay = state.lock().jwks_delay;
    if path == "/jwks" {
        std::thread::sleep(delay);
    }
    let (status, body) = {
        let mut state = state.lock();
        match path.as_str() {
            "/.well-known/openid-configuration" => {
                state.discovery_hits += 1;
                (
                    200,
                    json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}).to_string(),
                )
            }
            "/jwks" => {
                state.jwks_hits += 1;
                match state.jwks_status {
                    Some(status) => (status, "oops".to_owned()),
                    None => (200, state.jwks.to_string()),
                }
            }
            _ => (404, "not found".to_owned()),
        }
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A URL on which nothing listens: connections are refused.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Standard claims for a token valid at [`NOW`].
pub fn claims(issuer: &str, audience: &str) -> Value {
    json!({
        "iss": issuer, "sub": "user-1", "aud": audience,
        "iat": NOW - 10, "exp": NOW + 3600,
    })
}

/// `claims` with `changes` merged in (a `null` removes the claim).
pub fn with(mut base: Value, changes: Value) -> Value {
    let object = base.as_object_mut().unwrap();
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    base
}
