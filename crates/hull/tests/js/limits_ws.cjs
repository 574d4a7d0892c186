// The sync socket's limits against a running `hull serve` with the `limits` fixture project:
// an oversized frame, too many queries and too many queued mutations each close only the
// socket that sent them, while an official ConvexClient watching `limits:notes` keeps
// receiving updates.
// Usage: node limits_ws.cjs '{"url": ..., "maxQueries": ..., "maxModifications": ..., "maxMutationsQueued": ...}'
// Prints "ok" when every check passed; any failure throws (non-zero exit with the reason).
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const WebSocket = require("ws");
const { ConvexClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");

const { url, maxQueries, maxModifications, maxMutationsQueued } = JSON.parse(process.argv[2]);
const WAIT_MS = 30000;
const syncUrl = `${url.replace(/^http/, "ws")}/api/1.48.0/sync`;

function timeout(what) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS).unref());
}

/** A raw sync socket that has sent Connect; resolves once open. */
function rawSocket() {
  const socket = new WebSocket(syncUrl);
  socket.messages = [];
  socket.on("message", (data) => socket.messages.push(JSON.parse(data.toString())));
  socket.closed = new Promise((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    socket.on("error", reject);
    socket.on("open", () => {
      socket.send(JSON.stringify({ type: "Connect", sessionId: crypto.randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect" }));
      resolve(socket);
    });
  });
}

async function main() {
  const client = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
  const seen = [];
  let notify = () => {};
  client.onUpdate(makeFunctionReference("limits:notes"), {}, (notes) => {
    seen.push(notes);
    notify();
  });
  const waitForNote = (text) =>
    Promise.race([
      new Promise((resolve) => {
        const check = () => seen.some((notes) => notes.includes(text)) && resolve();
        notify = check;
        check();
      }),
      timeout(`the watching client to see "${text}"`),
    ]);
  await client.mutation(makeFunctionReference("limits:addNote"), { text: "before" });
  await waitForNote("before");

  // 1. A frame over the message limit (16 MiB of arguments plus 64 KiB of envelope).
  const big = await rawSocket();
  big.send("x".repeat(17 * 1024 * 1024));
  const bigClose = await Promise.race([big.closed, timeout("the oversized socket to close")]);
  // The server stops reading at the frame header and ends the socket; the client, still
  // sending, sees a bare close frame (1005), the connection end (1006) or 1009, by timing.
  assert.ok([1005, 1006, 1009].includes(bigClose.code), `closed with ${JSON.stringify(bigClose)}`);
  await client.mutation(makeFunctionReference("limits:addNote"), { text: "after big frame" });
  await waitForNote("after big frame");

  // 2. One query more than a socket may hold.
  const greedy = await rawSocket();
  const adds = [];
  for (let id = 0; id <= maxQueries; id++) adds.push({ type: "Add", queryId: id, udfPath: "limits:notes", args: [{}] });
  let version = 0;
  for (let i = 0; i < adds.length; i += maxModifications) {
    greedy.send(JSON.stringify({ type: "ModifyQuerySet", baseVersion: version, newVersion: version + 1, modifications: adds.slice(i, i + maxModifications) }));
    version++;
  }
  await Promise.race([greedy.closed, timeout("the greedy socket to close")]);
  const fatal = greedy.messages.find((m) => m.type === "FatalError");
  assert.ok(fatal && fatal.error.includes("Too many queries"), `no FatalError naming the limit: ${JSON.stringify(greedy.messages.slice(-2))}`);

  await client.mutation(makeFunctionReference("limits:addNote"), { text: "after too many queries" });
  await waitForNote("after too many queries");

  // 3. More mutations than may wait behind a running one (each runs for its full second).
  const impatient = await rawSocket();
  for (let id = 0; id <= maxMutationsQueued + 1; id++) {
    impatient.send(JSON.stringify({ type: "Mutation", requestId: id, udfPath: "limits:spinMutation", args: [{}] }));
  }
  const queueClose = await Promise.race([impatient.closed, timeout("the impatient socket to close")]);
  assert.equal(queueClose.code, 1013, `closed with ${JSON.stringify(queueClose)}`);
  assert.ok(queueClose.reason.startsWith("TooManyConcurrentMutations"), queueClose.reason);

  // The watching client was never disturbed.
  await client.mutation(makeFunctionReference("limits:addNote"), { text: "after too many mutations" });
  await waitForNote("after too many mutations");
  await client.close();
  console.log("ok");
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
