#!/usr/bin/env python3
"""Writes the seed inputs of Hull's fuzz targets to fuzz/corpus/<target>/seed-*.

Seeds are real inputs taken from the repository's fixtures and tests (the committed push
fixture, the sync protocol tests' messages, the ID vectors, upstream's published admin keys)
plus inputs signed the way the fuzz harness signs (fuzz/src/lib.rs: its fixed P-256, Ed25519
and instance-secret keys), so libFuzzer starts past the signature checks. The rest of each
corpus directory is what libFuzzer found and `cargo fuzz cmin` kept. Idempotent.

Needs python3 with `cryptography`, and node (Brotli, with the same zlib the convex CLI uses).
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
NOW = 1_800_000_000
SEP = b"\xff"  # hull_fuzz::split_pair


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed-" + name), "wb") as f:
        f.write(data)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value):
    return json.dumps(value, separators=(",", ":"))


# --- Convex JSON: hull-values/tests/json.rs and a document ----------------------------------
for name, value in {
    "integer": {"$integer": "AQAAAAAAAAA="},
    "negative-integer": {"$integer": "//////////8="},
    "nan": {"$float": "AAAAAAAA+H8="},
    "negative-zero": {"$float": "AAAAAAAAAIA="},
    "bytes": {"$bytes": "aGVsbG8="},
    "bytes-url-safe-unpadded": {"$bytes": "-_8"},
    "string": "héllo\u0000",
    "nested": {"": [{"$integer": "AAAAAAAAAAA="}], "a": {"b": [1.5, True, None, "x"]}},
    "document": {"_id": "040020g30g2gc1r81450p30d1r7qke8", "_creationTime": 1.7e12, "body": "hi", "n": {"$integer": "KgAAAAAAAAA="}},
}.items():
    write("convex_json", name, compact(value))

# --- Document IDs: hull-values/tests/fixtures/id_vectors.json -------------------------------
with open(os.path.join(ROOT, "crates/hull-values/tests/fixtures/id_vectors.json")) as f:
    vectors = json.load(f)["vectors"]
for index, vector in enumerate(vectors[:12]):
    write("document_id", f"vector-{index}", vector["id"])
write("document_id", "binary-table-1", struct.pack("<I", 1) + bytes(range(16)))
write("document_id", "binary-table-max", struct.pack("<I", 0xFFFFFFFF) + bytes(16))

# --- Function paths: every spelling of wire protocols §4 ------------------------------------
for name, path in {
    "module-function": "messages:list",
    "module-js": "messages.js:list",
    "directory": "dir/file:fn",
    "default-export": "dir/file",
    "url-path": "messages/list",
    "system": "_system/cli/queryEnvironmentVariables:get",
    "deps": "_deps/ABCD1234.js:default",
}.items():
    write("function_path", name, path)

# --- Sync messages: hull-sync/tests/protocol.rs ---------------------------------------------
sync_messages = {
    "connect": '{"type":"Connect","sessionId":"6c1f0000-0000-4000-8000-000000000000","connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1755820800000}',
    "connect-ts": '{"type":"Connect","sessionId":"s","connectionCount":1,"lastCloseReason":null,"maxObservedTimestamp":"AAAAAAAAAAA="}',
    "modify": '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"messages:list","args":[{}],"journal":null},{"type":"Remove","queryId":3}]}',
    "authenticate-admin": '{"type":"Authenticate","tokenType":"Admin","value":"key","baseVersion":0,"impersonating":{"subject":"u1","issuer":"https://x"}}',
    "authenticate-user": '{"type":"Authenticate","tokenType":"User","value":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln","baseVersion":0}',
    "authenticate-none": '{"type":"Authenticate","tokenType":"None","baseVersion":1}',
    "mutation": '{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi","n":{"$integer":"AQAAAAAAAAA="}}]}',
    "action": '{"type":"Action","requestId":1,"udfPath":"actions/ai:run","args":[{}],"componentPath":"x"}',
    "event": '{"type":"Event","eventType":"ClientConnect","event":{}}',
}
for name, message in sync_messages.items():
    write("sync_message", name, message)
write("sync_session", "session", "\n".join([
    sync_messages["connect"],
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"messages:list","args":[{}]},{"type":"Add","queryId":1,"udfPath":"dir/file","args":[{"a":{"$bytes":"aGk="}}]}]}',
    '{"type":"ModifyQuerySet","baseVersion":1,"newVersion":2,"modifications":[{"type":"Remove","queryId":0}]}',
    sync_messages["authenticate-admin"],
    '{"type":"Authenticate","tokenType":"None","baseVersion":1}',
    sync_messages["mutation"],
]))

# --- Push requests: the committed push fixture, trimmed to its small modules ----------------
with open(os.path.join(ROOT, "crates/hull-js/tests/fixtures/basic.push.json")) as f:
    push = json.load(f)
app = push["appDefinition"]
app["changedModules"] = [m for m in app["changedModules"] if len(m["source"]) < 2000]
# The generated convex.config.js and the bundled schema are large: keep their shape only.
for part in ("definition", "schema"):
    app[part] = {**app[part], "source": app[part]["source"][:400], "sourceMap": None}
app["unchangedModuleHashes"] = [{"path": "util.js", "environment": "isolate", "sha256": "00" * 32}]
push_text = compact(push)
for module in app["changedModules"]:
    if module.get("sourceMap"):
        write("source_map", module["path"].replace("/", "-"), module["sourceMap"])
write("push_request", "basic-small-modules", push_text)
brotli = subprocess.run(
    ["node", "-e", "process.stdout.write(require('zlib').brotliCompressSync(require('fs').readFileSync(0)))"],
    input=push_text.encode(), capture_output=True, check=True).stdout
write("push_brotli", "basic-small-modules", brotli)
write("push_brotli", "admin-key", bytes([139, 7, 128, 123, 34, 97, 100, 109, 105, 110, 75, 101, 121, 34, 58, 34, 107, 34, 125, 3]))

# --- JWTs: tokens for the harness's ES256 provider (fuzz/src/lib.rs) ------------------------
ec_key = ec.derive_private_key(int.from_bytes(b"\x07" * 32, "big"), ec.SECP256R1())


def es256(header, payload):
    signing_input = (b64url(header) + "." + b64url(payload)).encode()
    r, s = decode_dss_signature(ec_key.sign(signing_input, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return signing_input.decode() + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


header = b'{"alg":"ES256","kid":"ec","typ":"JWT"}'
claims = {"iss": "https://issuer.example", "sub": "user-1", "aud": "app", "iat": NOW - 10, "exp": NOW + 3600,
          "name": "Ada", "email": "ada@example.com", "properties": {"id": 7, "tags": ["a"]}}
write("jwt", "raw-valid", b"\x00" + es256(header, compact(claims).encode()).encode())
write("jwt", "raw-rsa-kid", b"\x00" + es256(b'{"alg":"RS256","kid":"rsa"}', b'{"iss":"https://rsa.example","sub":"s","exp":1}').encode())
write("jwt", "signed-claims", b"\x01" + header + SEP + compact(claims).encode())
write("jwt", "signed-default-header", b"\x01" + SEP + compact({**claims, "aud": ["app", "other"], "nbf": NOW}).encode())
write("jwt", "signed-expired", b"\x01" + SEP + compact({**claims, "exp": NOW - 100}).encode())

# --- Auth configs: crates/hull-js/tests/projects/auth/convex/auth.config.ts -----------------
public = ec_key.public_key().public_numbers()
jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "ec", "x": b64url(public.x.to_bytes(32, "big")),
                  "y": b64url(public.y.to_bytes(32, "big"))}]}
write("auth_config", "project", compact({"providers": [
    {"domain": "https://tenant.example.com", "applicationID": "convex"},
    {"type": "customJwt", "issuer": "https://issuer.example.com", "jwks": "https://issuer.example.com/.well-known/jwks.json",
     "algorithm": "RS256", "applicationID": "hull"}]}))
write("auth_config", "inline-jwks", compact({"providers": [
    {"type": "customJwt", "issuer": "https://issuer.example", "algorithm": "ES256",
     "jwks": "data:application/json;base64," + base64.b64encode(compact(jwks).encode()).decode()},
    {"type": "customJwt", "issuer": "https://i2", "algorithm": "ES256", "applicationID": None,
     "jwks": "data:text/plain," + compact(jwks).replace("\"", "%22")}]}))

# --- Server keys and tokens: the harness's fixed key (fuzz/src/lib.rs) ----------------------
seed = b"\x05" * 32
key_text = "hull_sk_" + b64url(b"\x01" + b"fuzz-kid" + seed)
write("server_key", "key", key_text)
write("server_key", "key-id", b"fuzz-kid".hex())
write("server_key", "scope", "messages:list\ndir/*\nmodule.js:*\n*")
for name, rate in {"rate-seconds": "50/s", "rate-minutes": "600/m", "rate-hours": "1/h"}.items():
    write("server_key", name, rate)
ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def server_token(payload):
    signature = ed_key.sign(b"hull server token v1\n" + payload)
    return "hull_st_" + b64url(payload) + "." + b64url(signature)


token_payload = compact({"v": 1, "kid": b"fuzz-kid".hex(), "iat": NOW, "exp": NOW + 60, "allow": ["messages:*"]}).encode()
write("server_token", "raw-valid", b"\x00" + server_token(token_payload).encode())
write("server_token", "signed-payload", b"\x01" + token_payload)
write("server_token", "derive", b"\x02" + struct.pack("<Q", 600) + b"messages:list\ndir/*")

# --- Admin keys: Hull's format under the harness's secret, and upstream's published keys ----
secret = b"\x09" * 32
mac_key = hmac.new(secret, b"hull admin key v1", hashlib.sha256).digest()
payload = b"\x01" + struct.pack(">Q", NOW)
hull_key = "fuzz-instance|" + (payload + hmac.new(mac_key, payload + b"fuzz-instance", hashlib.sha256).digest()).hex()
write("admin_key", "hull-key", b"\x00" + hull_key.encode())
write("admin_key", "upstream-current", b"\x00carnitas|01ec1dc4339bc4a2c653e70016b1e1dea952bcfd707a0cd49c1bddcdfcd4d4a79bb2d6bdfa2f1493a1937cdb71e984c4a7")
write("admin_key", "upstream-legacy", b"\x000135d8598650f8f5cb0f30c34ec2e2bb62793bc28717c8eb6fb577996d50be5f4281b59181095065c5d0f86a2c31ddbe9b597ec62b47ded69782cd")
write("admin_key", "issue", b"\x01" + struct.pack("<Q", NOW))
proto = b"\x0a\x0dfuzz-instance" + b"\x10" + bytes([0x80, 0xa4, 0xcf, 0xda, 0x06]) + b"\x18\x01"
write("admin_key", "sealed-named", b"\x82" + proto)
write("admin_key", "sealed-system-read-only", b"\x02" + proto[:-2] + b"\x22\x00\x28\x01")

# --- Authorization headers ------------------------------------------------------------------
identity = base64.b64encode(b'{"issuer":"https://x","subject":"u1","name":"Ada"}').decode()
for name, (header_value, uri) in {
    "convex-admin": ("Convex " + hull_key, "/api/query"),
    "convex-acting-as": ("Convex " + hull_key + ":" + identity, "/api/mutation"),
    "convex-server-key": ("Convex " + key_text, "/api/action"),
    "bearer-jwt": ("Bearer " + es256(header, compact(claims).encode()), "/http/whoami"),
    "bearer-server-token": ("Bearer " + server_token(token_payload), "/http/hook?x=1"),
    "query-admin-key": ("", "/api/run/messages/list?format=json&adminKey=" + hull_key.replace("|", "%7C")),
}.items():
    write("http_auth", name, header_value.encode() + SEP + uri.encode())
