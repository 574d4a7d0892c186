// Drives a running `hull serve` that runs the hull-js fixture project `scheduler` with the real
// ConvexHttpClient from the pinned `convex` package (npm/node_modules): runAfter(0), runAt in
// the past and the future, cancel, a chain, a mutation that throws after scheduling, the job
// documents as `ctx.db.system` reads them, and the every-second cron.
// Usage: node scheduler_client.cjs <deployment url> <admin key>
// Prints "ok" when every check passed; any failure throws (non-zero exit with the reason).
"use strict";

const assert = require("node:assert/strict");
const { ConvexHttpClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");

const [url, adminKey] = process.argv.slice(2);
if (!url || !adminKey) {
  throw new Error("usage: node scheduler_client.cjs <deployment url> <admin key>");
}
const ref = (name) => makeFunctionReference(name);
const PATIENCE_MS = 20_000;

async function waitFor(what, check) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function main() {
  const client = new ConvexHttpClient(url, { logger: false });
  const job = (id) => client.query(ref("jobs:job"), { id });
  const events = (kind) => client.query(ref("jobs:events"), { kind });
  const finished = (id) =>
    waitFor(`job ${id}`, async () => {
      const doc = await job(id);
      return doc.state.kind !== "pending" && doc.state.kind !== "inProgress" ? doc : null;
    });

  // runAfter(0): runs once, right after the scheduling mutation committed.
  const now = await client.mutation(ref("jobs:scheduleAfter"), { delayMs: 0, kind: "client now" });
  const done = await finished(now);
  assert.deepEqual(done.state, { kind: "success" });
  assert.equal(done.name, "jobs.js:log");
  assert.deepEqual(done.args, [{ kind: "client now" }]);
  assert.equal(typeof done.completedTime, "number");
  assert.equal((await events("client now")).length, 1);

  // runAt in the past runs at once; in the future it waits for its time.
  const start = Date.now();
  const past = await client.mutation(ref("jobs:scheduleAt"), { at: start - 3_600_000, kind: "client past" });
  const future = await client.mutation(ref("jobs:scheduleAt"), { at: start + 1500, kind: "client future" });
  assert.equal((await finished(past)).state.kind, "success");
  assert.equal((await job(future)).state.kind, "pending");
  assert.equal((await finished(future)).state.kind, "success");
  const [ran] = await events("client future");
  assert.ok(ran._creationTime >= start + 1500, `ran ${start + 1500 - ran._creationTime} ms early`);

  // cancel: the job never runs.
  const canceled = await client.mutation(ref("jobs:scheduleAfter"), { delayMs: 500, kind: "client canceled" });
  await client.mutation(ref("jobs:cancel"), { id: canceled });
  assert.equal((await job(canceled)).state.kind, "canceled");

  // A chain: each link schedules the next.
  await client.mutation(ref("jobs:scheduleChain"), { kind: "client chain", length: 4 });
  const chain = await waitFor("the chain", async () => {
    const links = await events("client chain");
    return links.length === 4 ? links : null;
  });
  assert.deepEqual(chain.map((e) => e.n), [3, 2, 1, 0]);

  // A mutation that throws after scheduling schedules nothing.
  const before = (await client.query(ref("jobs:jobs"), {})).length;
  await assert.rejects(client.mutation(ref("jobs:scheduleThenThrow"), { kind: "client thrown" }), /changed my mind/);
  assert.equal((await client.query(ref("jobs:jobs"), {})).length, before);

  // The every-second cron keeps firing, about once a second.
  const ticks = (await events("tick")).length;
  await new Promise((resolve) => setTimeout(resolve, 2200));
  const more = (await events("tick")).length - ticks;
  assert.ok(more >= 1 && more <= 4, `${more} ticks in 2.2 s`);

  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await events("client canceled")).length, 0);
  assert.equal((await events("client thrown")).length, 0);
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
