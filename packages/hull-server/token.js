// Server keys and the short-lived tokens derived from them, offline. No dependency on the
// Convex client, so it also runs where only node:crypto is available.
import { createPrivateKey, sign } from "node:crypto";

const KEY_PREFIX = "hull_sk_";
const TOKEN_PREFIX = "hull_st_";
const KEY_VERSION = 1;
const KEY_ID_LEN = 8;
const SEED_LEN = 32;
/** Must match hull-keys' MAX_TOKEN_TTL_SECONDS. */
export const MAX_TOKEN_TTL_SECONDS = 3600;
const SIGNING_CONTEXT = Buffer.from("hull server token v1\n", "utf8");
// DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function parseKey(serverKey) {
  if (typeof serverKey !== "string" || !serverKey.startsWith(KEY_PREFIX)) {
    throw new Error("Not a Hull server key: it should start with hull_sk_ (mint one with `hull keys create`).");
  }
  const bytes = Buffer.from(serverKey.slice(KEY_PREFIX.length), "base64url");
  if (bytes.length !== 1 + KEY_ID_LEN + SEED_LEN || bytes[0] !== KEY_VERSION) {
    throw new Error("Malformed Hull server key: check that it was copied whole.");
  }
  return {
    keyId: bytes.subarray(1, 1 + KEY_ID_LEN).toString("hex"),
    privateKey: createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, bytes.subarray(1 + KEY_ID_LEN)]), format: "der", type: "pkcs8" }),
  };
}

/**
 * Derives a short-lived token from a server key, offline.
 * @param {string} serverKey the `hull_sk_...` key
 * @param {{ttlSeconds?: number, allow?: string[], now?: number}} [options]
 *   `allow` narrows the key's scope for this token (it can never widen it).
 * @returns {string} a `hull_st_...` token
 */
export function deriveToken(serverKey, options = {}) {
  const ttlSeconds = options.ttlSeconds ?? 300;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new Error(`A token's lifetime must be between 1 and ${MAX_TOKEN_TTL_SECONDS} seconds.`);
  }
  const { keyId, privateKey } = parseKey(serverKey);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const claims = { v: 1, kid: keyId, iat: now, exp: now + ttlSeconds };
  if (options.allow != null) claims.allow = options.allow;
  const payload = Buffer.from(JSON.stringify(claims), "utf8");
  const signature = sign(null, Buffer.concat([SIGNING_CONTEXT, payload]), privateKey);
  return `${TOKEN_PREFIX}${payload.toString("base64url")}.${signature.toString("base64url")}`;
}

