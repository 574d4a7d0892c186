// Drives a running `hull serve` with the real ConvexHttpClient from the pinned `convex` package
// (npm/node_modules). Usage: node http_client.cjs <deployment url> <admin key>
// The deployment must run the hull-js fixture project (tests/projects/basic).
// Prints "ok" when every check passed; any failure throws (non-zero exit with the reason).
"use strict";

const assert = require("node:assert/strict");
const { ConvexHttpClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");
const { ConvexError } = require("convex/values");

const [url, adminKey] = process.argv.slice(2);
if (!url || !adminKey) {
  throw new Error("usage: node http_client.cjs <deployment url> <admin key>");
}
const ref = (name) => makeFunctionReference(name);
const MISSING_COUNT =
  "Could not find public function for 'messages:countByAuthor'. Did you forget to run `npx convex dev` or `npx convex deploy`?";

async function rejects(promise, check) {
  try {
    await promise;
  } catch (error) {
    check(error);
    return;
  }
  throw new Error("expected the call to fail");
}

async function main() {
  const client = new ConvexHttpClient(url, { logger: false });

  // Public mutation, query and action.
  const channel = await client.mutation(ref("channels:create"), { name: "general" });
  assert.equal(typeof channel, "string");
  await client.mutation(ref("messages:send"), {
    message: { channel, body: "hello" },
    author: "ann",
  });
  const messages = await client.query(ref("messages:list"), { channel });
  assert.equal(messages.length, 1);
  assert.equal(messages[0].body, "hello");
  assert.equal(messages[0].author, "ann");
  assert.equal(await client.action(ref("profiles:latest"), { channel }), 1);

  // Int64 and bytes survive the round trip in convex_encoded_json.
  const values = await client.query(ref("util:values"), {
    i: 42n, f: 1.5, b: new Uint8Array([1, 2, 3]).buffer, l: "a", arr: [1], rec: { x: true }, n: null, any: { deep: [1n] },
  });
  assert.equal(values.i, 42n);
  assert.deepEqual(new Uint8Array(values.b), new Uint8Array([1, 2, 3]));

  // A ConvexError carries its data.
  await rejects(client.mutation(ref("util:throwsData"), { code: 7 }), (error) => {
    assert.ok(error instanceof ConvexError, `not a ConvexError: ${error}`);
    assert.equal(error.data.code, 7);
    assert.equal(error.data.big, 7n);
  });
  // A thrown Error arrives as Convex's redacted message.
  await rejects(client.query(ref("util:throws"), {}), (error) => {
    assert.match(error.message, /^\[Request ID: [0-9a-f]{16}\] Server Error\nUncaught Error: boom\n/);
  });

  // Internal functions look missing without admin rights...
  await rejects(client.query(ref("messages:countByAuthor"), { author: "ann" }), (error) => {
    assert.ok(error.message.includes(MISSING_COUNT), error.message);
  });
  // ... and work with an admin key, through /api/query and /api/function.
  const admin = new ConvexHttpClient(url, { logger: false });
  admin.setAdminAuth(adminKey);
  assert.equal(await admin.query(ref("messages:countByAuthor"), { author: "ann" }), 1);
  assert.equal(await admin.function(ref("messages:countByAuthor"), undefined, { author: "ann" }), 1);
  // Acting as a user is accepted.
  const acting = new ConvexHttpClient(url, { logger: false });
  acting.setAdminAuth(adminKey, { subject: "u1", issuer: "https://convex.test" });
  assert.equal(await acting.query(ref("messages:countByAuthor"), { author: "ann" }), 1);

  // A wrong admin key is refused with upstream's envelope.
  const wrong = new ConvexHttpClient(url, { logger: false });
  wrong.setAdminAuth(adminKey.slice(0, -1) + (adminKey.endsWith("0") ? "1" : "0"));
  await rejects(wrong.query(ref("channels:all"), {}), (error) => {
    assert.equal(
      error.message,
      '{"code":"BadAdminKey","message":"The provided admin key was invalid for this instance"}',
    );
  });

  console.log("ok");
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
