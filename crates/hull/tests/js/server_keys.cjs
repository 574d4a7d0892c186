// Drives a running `hull serve` (deployed with tests/projects/serverkeys) with server keys, through
// the unchanged ConvexHttpClient and ConvexClient from the pinned `convex` package and through the
// @hull/server helper (packages/hull-server).
// Usage: node server_keys.cjs '<json: {url, adminKey, hull, keys: {name: key}}>'
// Prints "ok" when every check passed; any failure throws (non-zero exit with the reason).
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { pathToFileURL } = require("node:url");
const WebSocket = require("ws");
const { ConvexHttpClient, ConvexClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");

const { url, adminKey, hull, keys } = JSON.parse(process.argv[2]);
const ref = (name) => makeFunctionReference(name);
const missing = (name) =>
  `Could not find public function for '${name}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function rejects(promise, fragment) {
  try {
    await promise;
  } catch (error) {
    assert.ok(String(error.message).includes(fragment), `expected an error containing ${JSON.stringify(fragment)}, got: ${error.message}`);
    return;
  }
  throw new Error(`expected a failure containing ${JSON.stringify(fragment)}`);
}

function http(key, identity) {
  const client = new ConvexHttpClient(url, { logger: false });
  client.setAdminAuth(key, identity);
  return client;
}

function socket(key) {
  const client = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  client.setAdminAuth(key);
  return client;
}

/** Resolves with the first update `accept` takes, or the first error; rejects after `ms`. */
function nextUpdate(client, name, accept, ms = 10_000) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no update of ${name} within ${ms} ms`));
    }, ms);
    unsubscribe = client.onUpdate(
      ref(name),
      {},
      (value) => {
        if (accept(value)) {
          clearTimeout(timer);
          unsubscribe();
          resolve({ value });
        }
      },
      (error) => {
        clearTimeout(timer);
        unsubscribe();
        resolve({ error });
      },
    );
  });
}

async function httpClients() {
  const svelte = http(keys.sveltekit);
  assert.deepEqual(await svelte.query(ref("secrets:getSecretData"), {}), { secret: "s3cr3t", viewer: null });
  assert.deepEqual(await svelte.action(ref("admin/tools:pingTwice"), {}), ["pong", "pong"]);
  await rejects(svelte.mutation(ref("users:deleteUser"), { id: "u1" }), missing("users:deleteUser"));
  await rejects(svelte.query(ref("users:deletions"), {}), missing("users:deletions"));

  const reader = http(keys.reader);
  assert.equal((await reader.query(ref("secrets:getSecretData"), {})).secret, "s3cr3t");
  await rejects(reader.mutation(ref("secrets:setSecret"), { value: "x" }), missing("secrets:setSecret"));

  // Acting as an end user: only with --act-as.
  const user = { issuer: "https://app.example", subject: "user-7" };
  assert.equal((await http(keys.actor, user).query(ref("secrets:getSecretData"), {})).viewer, "user-7");
  await rejects(http(keys.sveltekit, user).query(ref("secrets:getSecretData"), {}), "may not act as a user");

  // A key presented by a browser is refused, unless minted with --allow-browser.
  const browserCall = (key) =>
    fetch(`${url}/api/query`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Convex ${key}`, origin: "http://localhost:5173" },
      body: JSON.stringify({ path: "secrets:getSecretData", args: {} }),
    });
  const refused = await browserCall(keys.sveltekit);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).code, "ServerKeyFromBrowser");
  assert.equal((await browserCall(keys.kiosk)).status, 200);
}

async function tokens() {
  const helper = await import(pathToFileURL(path.join(__dirname, "../../../../packages/hull-server/index.js")).href);
  // The helper: internal references without casts, a token per few minutes, the key never sent.
  const server = new helper.HullServerClient(url, { serverKey: keys.sveltekit });
  assert.equal((await server.query(ref("secrets:getSecretData"), {})).secret, "s3cr3t");
  await server.mutation(ref("secrets:setSecret"), { value: "from-helper" });
  assert.equal((await server.query(ref("secrets:getSecretData"), {})).secret, "from-helper");
  await rejects(server.mutation(ref("users:deleteUser"), { id: "u2" }), missing("users:deleteUser"));
  const acting = new helper.HullServerClient(url, { serverKey: keys.actor }).actingAs({ issuer: "https://app.example", subject: "user-8" });
  assert.equal((await acting.query(ref("secrets:getSecretData"), {})).viewer, "user-8");

  // A token derived for 1 second works now and fails after 2.
  const brief = helper.deriveToken(keys.sveltekit, { ttlSeconds: 1 });
  assert.equal((await http(brief).query(ref("secrets:getSecretData"), {})).secret, "from-helper");
  await sleep(2100);
  await rejects(http(brief).query(ref("secrets:getSecretData"), {}), "expired");

  // A token narrows, never widens.
  const narrow = helper.deriveToken(keys.sveltekit, { ttlSeconds: 60, allow: ["secrets:getSecretData"] });
  await http(narrow).query(ref("secrets:getSecretData"), {});
  await rejects(http(narrow).mutation(ref("secrets:setSecret"), { value: "x" }), missing("secrets:setSecret"));
  const wide = helper.deriveToken(keys.sveltekit, { ttlSeconds: 60, allow: ["*"] });
  await rejects(http(wide).mutation(ref("users:deleteUser"), { id: "u3" }), missing("users:deleteUser"));
}

async function rateLimit() {
  // A burst from one key hits its limit (5/s); another key is served normally meanwhile.
  const limited = http(keys.limited);
  const other = http(keys.other);
  const burst = await Promise.allSettled(Array.from({ length: 20 }, () => limited.query(ref("secrets:publicInfo"), {})));
  const calm = await Promise.allSettled(Array.from({ length: 20 }, () => other.query(ref("secrets:publicInfo"), {})));
  const refused = burst.filter((r) => r.status === "rejected");
  assert.ok(refused.length >= 10, `a burst of 20 against 5/s: only ${refused.length} refused`);
  assert.ok(refused.every((r) => r.reason.message.includes("over its rate limit")), refused[0]?.reason?.message);
  assert.ok(calm.every((r) => r.status === "fulfilled"), "the other key is unaffected");
  const raw = await fetch(`${url}/api/query`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Convex ${keys.limited}` },
    body: JSON.stringify({ path: "secrets:publicInfo", args: {} }),
  });
  assert.equal(raw.status, 429);
  assert.ok(Number(raw.headers.get("retry-after")) >= 1, "a retry hint");
}

async function sockets() {
  // Over the WebSocket: the key's scope holds, and revocation reaches an open socket.
  const client = socket(keys.victim);
  const first = await nextUpdate(client, "secrets:getSecretData", () => true);
  assert.equal(first.value?.secret, "from-helper", JSON.stringify(first));
  const outside = await nextUpdate(client, "users:deletions", () => true);
  assert.ok(outside.error?.message.includes(missing("users:deletions")), String(outside.error?.message));
  const system = await nextUpdate(client, "_system/cli/queryEnvironmentVariables", () => true);
  assert.ok(system.error, "system functions are out of every key's scope");

  // Acting as an end user over the socket (the key has --act-as).
  const acting = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  acting.setAdminAuth(keys.actor, { issuer: "https://app.example", subject: "user-9" });
  const seen = await nextUpdate(acting, "secrets:getSecretData", () => true);
  assert.equal(seen.value?.viewer, "user-9", JSON.stringify(seen));
  await acting.close();

  const watching = nextUpdate(client, "secrets:getSecretData", (v) => v.secret === "after-revoke");
  await sleep(300);
  execFileSync(hull, ["keys", "revoke", "victim", "--url", url, "--admin-key", adminKey]);
  await http(adminKey).mutation(ref("secrets:setSecret"), { value: "after-revoke" });
  const after = await watching;
  assert.ok(after.error, `a revoked key's socket must not see new data: ${JSON.stringify(after.value)}`);
  await rejects(http(keys.victim).query(ref("secrets:getSecretData"), {}), "was revoked");
  await client.close();
}

async function main() {
  await httpClients();
  await tokens();
  await rateLimit();
  await sockets();
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
