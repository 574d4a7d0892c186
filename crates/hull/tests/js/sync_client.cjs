// Drives a running `hull serve` over the sync WebSocket with the real ConvexClient from the
// pinned `convex` package (npm/node_modules), on the `ws` package's WebSocket (Node 20 has no
// global one). Usage: node sync_client.cjs <deployment url> <admin key>
// The deployment must run the hull-js fixture project (tests/projects/basic).
// Prints "ok" when every check passed; any failure throws (non-zero exit with the reason).
"use strict";

const assert = require("node:assert/strict");
const net = require("node:net");
const WebSocket = require("ws");
const { ConvexClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");

const [url, adminKey] = process.argv.slice(2);
if (!url || !adminKey) {
  throw new Error("usage: node sync_client.cjs <deployment url> <admin key>");
}
const ref = (name) => makeFunctionReference(name);
/** How long one expected update may take. */
const WAIT_MS = 20000;

function client(address = url) {
  return new ConvexClient(address, { webSocketConstructor: WebSocket, logger: false });
}

/** Resolves with the first value of `name(args)` on `c` that satisfies `predicate`. */
function waitFor(c, name, args, predicate, what) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_MS);
    const finish = (settle, value) => {
      clearTimeout(timer);
      // Unsubscribing inside the callback is allowed, but do it after this turn.
      setImmediate(() => unsubscribe());
      settle(value);
    };
    unsubscribe = c.onUpdate(
      ref(name),
      args,
      (value) => {
        if (predicate(value)) finish(resolve, value);
      },
      (error) => {
        if (predicate(error)) finish(resolve, error);
      },
    );
  });
}

// 1. A subscription sees another client's mutation.
async function anotherClientsMutationReachesASubscriber() {
  const [watcher, writer] = [client(), client()];
  await waitFor(watcher, "calls:names", {}, Array.isArray, "the first result");
  const seen = waitFor(watcher, "calls:names", {}, (names) => names.includes("from-writer"), "the writer's insert");
  await writer.mutation(ref("calls:insertOne"), { name: "from-writer" });
  await seen;
  await Promise.all([watcher.close(), writer.close()]);
}

// 2. `await mutation()` resolves only once the client's own subscriptions include the write.
async function aMutationResolvesAfterItsEffectIsVisible() {
  const c = client();
  const subscription = c.onUpdate(ref("channels:all"), {}, () => {});
  await waitFor(c, "channels:all", {}, (v) => v !== undefined, "the first result");
  for (let i = 0; i < 5; i++) {
    const name = `own-${i}`;
    await c.mutation(ref("channels:create"), { name });
    const current = subscription.getCurrentValue();
    assert.ok(current.names.includes(name), `after await mutation(), the subscription lacks ${name}: ${JSON.stringify(current)}`);
  }
  subscription.unsubscribe();
  await c.close();
}

// 3. Authenticating re-runs every subscription under the new identity: an internal query
// looks missing to an anonymous client and answers for an admin.
async function anAuthChangeRerunsSubscriptions() {
  const c = client();
  const missing = await waitFor(c, "messages:countByAuthor", { author: "ann" }, (v) => v instanceof Error, "the anonymous error");
  assert.match(missing.message, /Could not find public function for 'messages:countByAuthor'/);
  const counted = waitFor(c, "messages:countByAuthor", { author: "ann" }, (v) => typeof v === "number", "the admin's answer");
  c.setAdminAuth(adminKey);
  assert.equal(await counted, 0);
  await c.close();
}

// 4. A paginated query stays consistent with the whole table while rows are inserted: every
// Transition computes all of a client's queries at one snapshot, so the first page is always
// a prefix of the full list seen in the same update.
async function aPaginatedQueryStaysConsistentDuringInserts() {
  const [reader, writer] = [client(), client()];
  const pageArgs = { paginationOpts: { numItems: 5, cursor: null } };
  const checks = [];
  let failure = null;
  let names;
  let page;
  const check = () => {
    if (names === undefined || page === undefined) return;
    const first = page.page.map((c) => c.name);
    try {
      assert.deepEqual(first, names.slice(0, first.length), "the page is a prefix of the list");
      assert.equal(first.length, Math.min(5, names.length), "the page is full while rows remain");
      checks.push(names.length);
    } catch (error) {
      failure = failure ?? error;
    }
  };
  const namesSubscription = reader.onUpdate(ref("calls:names"), {}, (value) => {
    names = value;
    page = pageSubscription.getCurrentValue();
    check();
  });
  const pageSubscription = reader.onUpdate(ref("channels:page"), pageArgs, (value) => {
    page = value;
    names = namesSubscription.getCurrentValue();
    check();
  });
  const before = (await waitFor(reader, "calls:names", {}, Array.isArray, "the first list")).length;
  const inserts = [];
  for (let i = 0; i < 12; i++) {
    inserts.push(writer.mutation(ref("calls:insertOne"), { name: `row-${i}` }));
  }
  await Promise.all(inserts);
  await waitFor(reader, "calls:names", {}, (v) => v.length === before + 12, "every insert");
  if (failure) throw failure;
  assert.ok(checks.length >= 2, `too few updates checked: ${checks}`);
  namesSubscription.unsubscribe();
  pageSubscription.unsubscribe();
  await Promise.all([reader.close(), writer.close()]);
}

// 5. A mutation resent on a new socket of the same session (what a reconnecting client does
// for mutations it saw no answer to) runs once. At the protocol level, with raw messages.
function openSocket() {
  const socket = new WebSocket(url.replace(/^http/, "ws") + "/api/1.48.0/sync");
  const messages = [];
  const waiters = [];
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString());
    messages.push(message);
    for (const waiter of waiters.splice(0)) waiter();
  });
  const next = async (type) => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const index = messages.findIndex((m) => m.type === type);
      if (index >= 0) return messages.splice(index, 1)[0];
      if (Date.now() > deadline) throw new Error(`no ${type} arrived`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  const opened = new Promise((resolve, reject) => {
    socket.on("open", resolve);
    socket.on("error", reject);
  });
  const send = (message) => socket.send(JSON.stringify(message));
  return { socket, opened, next, send };
}

async function aResentMutationRunsOnce() {
  const sessionId = "6c1f2c8e-3d4b-4a5e-9f60-7182a3b4c5d6";
  const bump = { type: "Mutation", requestId: 0, udfPath: "util:bump", args: [{ name: "resent" }] };
  const connect = (count) => ({ type: "Connect", sessionId, connectionCount: count, lastCloseReason: count ? "InactiveServer" : "InitialConnect", clientTs: Date.now() });

  const first = openSocket();
  await first.opened;
  first.send(connect(0));
  first.send(bump);
  const answer = await first.next("MutationResponse");
  assert.equal(answer.success, true, JSON.stringify(answer));
  assert.equal(answer.result, 1);
  first.socket.terminate(); // the connection drops without a close handshake

  const second = openSocket();
  await second.opened;
  second.send(connect(1));
  second.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
  second.send(bump);
  const replay = await second.next("MutationResponse");
  assert.deepEqual(replay, answer, "the resend is answered with the recorded response");
  second.send({ ...bump, requestId: 1 });
  const next = await second.next("MutationResponse");
  assert.equal(next.result, 2, "the counter was bumped once by request 0, once by request 1");
  second.socket.close();
}

// 6. The same with the real client: a proxy between it and the server cuts the connection
// right when the server's MutationResponse comes by (dropping it), so the mutation has run but
// the client never heard. The client reconnects through the proxy, resends the mutation on the
// same session, and gets the recorded answer; the counter moved once.
async function aDroppedConnectionDoesNotRunAMutationTwice() {
  const target = new URL(url);
  let cut = false;
  const connections = [];
  const proxy = net.createServer((downstream) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    connections.push(downstream, upstream);
    downstream.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      // Server frames are unmasked text: the message type is visible in the bytes.
      if (!cut && chunk.includes("MutationResponse")) {
        cut = true;
        downstream.destroy();
        upstream.destroy();
        return;
      }
      downstream.write(chunk);
    });
    const close = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const c = client(`http://127.0.0.1:${proxy.address().port}`);
  const first = await c.mutation(ref("util:bump"), { name: "dropped" });
  assert.ok(cut, "the proxy dropped the first answer");
  assert.equal(first, 1, "the resent mutation was answered from the record, not run again");
  assert.equal(await c.mutation(ref("util:bump"), { name: "dropped" }), 2);
  await c.close();
  for (const socket of connections) socket.destroy();
  await new Promise((resolve) => proxy.close(resolve));
}

async function main() {
  await anotherClientsMutationReachesASubscriber();
  await aMutationResolvesAfterItsEffectIsVisible();
  await anAuthChangeRerunsSubscriptions();
  await aPaginatedQueryStaysConsistentDuringInserts();
  await aResentMutationRunsOnce();
  await aDroppedConnectionDoesNotRunAMutationTwice();
  console.log("ok");
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
