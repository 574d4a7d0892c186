// End-user JWTs through the unchanged clients against a running `hull serve` deployed with
// tests/projects/auth (its OIDC provider is the test's local identity provider).
// Usage: node user_auth.cjs '<json: {url, adminKey, valid, other, shortLived, bad: {name: token}}>'
// `valid` and `other` are good tokens for subjects user-1 and user-2, `shortLived` one that
// expires six seconds after the test starts; `adminKey` acts as users. Prints "ok" when every
// check passed; any failure throws.
"use strict";

const assert = require("node:assert/strict");
const WebSocket = require("ws");
const { ConvexHttpClient, ConvexClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");

const { url, adminKey, valid, other, shortLived, bad } = JSON.parse(process.argv[2]);
const whoami = makeFunctionReference("whoami:whoami");

/** Resolves with the first value of whoami that `accept` takes; rejects after `ms`. */
function waitFor(client, accept, ms = 10_000) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`whoami never became what was expected within ${ms} ms`));
    }, ms);
    unsubscribe = client.onUpdate(whoami, {}, (value) => {
      if (accept(value)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    });
  });
}

async function httpClient() {
  const client = new ConvexHttpClient(url, { logger: false });
  assert.equal(await client.query(whoami, {}), null);
  client.setAuth(valid);
  const identity = await client.query(whoami, {});
  assert.equal(identity.subject, "user-1");
  assert.ok(identity.tokenIdentifier.endsWith("|user-1"), identity.tokenIdentifier);
  for (const [name, token] of Object.entries(bad)) {
    client.setAuth(token);
    try {
      await client.query(whoami, {});
    } catch (error) {
      assert.ok(!/InternalServerError|500/.test(error.message), `${name}: ${error.message}`);
      assert.ok(/Could not|Token|token|No auth provider|NoAuthProvider/i.test(error.message), `${name}: ${error.message}`);
      continue;
    }
    throw new Error(`${name}: a bad token reached the function`);
  }
}

async function socketClient() {
  const client = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  // Anonymous first; then authenticating re-runs the subscription with the identity.
  assert.equal(await waitFor(client, () => true), null);
  const changes = [];
  const authenticated = waitFor(client, (v) => v?.subject === "user-1");
  client.setAuth(async () => valid, (isAuthenticated) => changes.push(isAuthenticated));
  await authenticated;
  // Another user's token on the same client: the subscription follows.
  const switched = waitFor(client, (v) => v?.subject === "user-2");
  client.setAuth(async () => other, (isAuthenticated) => changes.push(isAuthenticated));
  await switched;
  assert.ok(changes.includes(true), JSON.stringify(changes));
  await client.close();

  // A token the server refuses: the client is told it is not authenticated.
  const refused = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  const told = new Promise((resolve) => refused.setAuth(async () => Object.values(bad)[0], resolve));
  assert.equal(await told, false);
  await refused.close();
}

async function actingAs() {
  // An admin acting as a user (setAdminAuth(key, identity)), over HTTP and the WebSocket.
  const identity = { issuer: "https://app.example", subject: "impersonated" };
  const http = new ConvexHttpClient(url, { logger: false });
  http.setAdminAuth(adminKey, identity);
  const seen = await http.query(whoami, {});
  assert.equal(seen.subject, "impersonated");
  assert.equal(seen.tokenIdentifier, "https://app.example|impersonated");
  const socket = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  socket.setAdminAuth(adminKey, identity);
  assert.equal((await waitFor(socket, (v) => v !== null)).subject, "impersonated");
  await socket.close();
}

async function expiry() {
  // A token that expires mid-connection: the server reports it (AuthError), the client asks
  // for a fresh token, gets the same expired one, and ends up unauthenticated.
  const client = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  const states = [];
  const ended = new Promise((resolve) =>
    client.setAuth(async () => shortLived, (isAuthenticated) => {
      states.push(isAuthenticated);
      if (states.includes(true) && !isAuthenticated) resolve();
    }),
  );
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still authenticated: ${JSON.stringify(states)}`)), 30_000);
  });
  await Promise.race([ended, timeout]).finally(() => clearTimeout(timer));
  await client.close();
}

async function main() {
  await expiry(); // first: its token's lifetime started with the test
  await httpClient();
  await actingAs();
  await socketClient();
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
