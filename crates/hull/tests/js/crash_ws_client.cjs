// WebSocket writers for the crash-under-load test (crates/hull/tests/crash_under_load.rs): real
// ConvexClients from the pinned `convex` package (on the `ws` package's WebSocket) that keep
// writing while the test SIGKILLs and restarts `hull serve` on the same port, so each client
// reconnects by itself and resends its unresolved mutations under the same session.
//
// Usage: node crash_ws_client.cjs <deployment url> <writers> <mutations in flight per writer>
// The deployment runs hull-js's fixture project `reliability` (ledger:append, ledger:count).
//
// Commands, one per line on stdin:
//   run <cycle>  each writer (re)subscribes to ledger:count for the rows it writes from now
//                on, and keeps <in flight> ledger:append mutations going;
//   pause        writers stop sending, wait until every mutation they sent resolved (after
//                the reconnect and resend), send and await one more (the subscription must
//                show it: it resumed on the new server), and report;
//   exit         close the clients and print "ok".
// Events, one JSON object per line on stdout:
//   {"ack": [client, seq]}                 a mutation resolved (acknowledged);
//   {"failed": [client, seq, message]}     a mutation was rejected;
//   {"disconnected": client, "inflight": n} a socket dropped with n mutations unresolved (all resent);
//   {"running": cycle} and {"paused": cycle, "writers": [{client, base, count, nextSeq}]}.
"use strict";

const readline = require("node:readline");
const WebSocket = require("ws");
const { ConvexClient } = require("convex/browser");
const { makeFunctionReference } = require("convex/server");

const [url, writersText, inFlightText] = process.argv.slice(2);
const WRITERS = Number(writersText);
const IN_FLIGHT = Number(inFlightText);
if (!url || !(WRITERS > 0) || !(IN_FLIGHT > 0)) {
  throw new Error("usage: node crash_ws_client.cjs <deployment url> <writers> <in flight per writer>");
}
const append = makeFunctionReference("ledger:append");
const count = makeFunctionReference("ledger:count");
/** How long a pause may wait for the clients to reconnect and settle everything they sent. */
const PAUSE_TIMEOUT_MS = 60000;

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

class Writer {
  constructor(index) {
    this.name = `ws-writer-${index}`;
    this.client = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: false });
    this.nextSeq = 0;
    this.inFlight = new Set();
    this.running = false;
    this.loop = Promise.resolve();
    this.base = -1;
    this.latest = undefined;
    this.unsubscribe = () => {};
    let connected = false;
    this.client.subscribeToConnectionState((state) => {
      if (connected && !state.isWebSocketConnected) {
        emit({ disconnected: this.name, inflight: state.inflightMutations });
      }
      connected = state.isWebSocketConnected;
    });
  }

  /** Subscribes to the count of rows after the next sequence number and starts writing. */
  run() {
    this.unsubscribe();
    this.base = this.nextSeq - 1;
    this.latest = undefined;
    const subscription = this.client.onUpdate(count, { client: this.name, after: this.base }, (value) => {
      this.latest = value;
    });
    this.unsubscribe = () => subscription.unsubscribe();
    this.running = true;
    this.loop = this.write();
  }

  send() {
    const seq = this.nextSeq++;
    const done = this.client.mutation(append, { client: this.name, seq }).then(
      (value) => {
        if (value !== seq) throw new Error(`${this.name}/${seq} answered ${JSON.stringify(value)}`);
        emit({ ack: [this.name, seq] });
      },
      (error) => emit({ failed: [this.name, seq, String(error && error.message)] }),
    );
    const tracked = done.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return tracked;
  }

  async write() {
    while (this.running) {
      while (this.running && this.inFlight.size < IN_FLIGHT) this.send();
      await Promise.race(this.inFlight);
    }
    await Promise.all(this.inFlight);
  }

  /** Stops writing, settles everything sent, then proves the subscription is live. */
  async pause() {
    this.running = false;
    await this.loop;
    await this.send();
    if (this.latest === undefined) throw new Error(`${this.name}: the subscription never delivered a result`);
    return { client: this.name, base: this.base, count: this.latest, nextSeq: this.nextSeq };
  }
}

const writers = Array.from({ length: WRITERS }, (_, index) => new Writer(index));

async function pause(cycle) {
  const timer = setTimeout(() => {
    const states = writers.map((w) => ({ client: w.name, inFlight: w.inFlight.size, state: w.client.connectionState() }));
    console.error(`pause ${cycle} timed out: ${JSON.stringify(states)}`);
    process.exit(1);
  }, PAUSE_TIMEOUT_MS);
  const reports = await Promise.all(writers.map((w) => w.pause()));
  clearTimeout(timer);
  emit({ paused: cycle, writers: reports });
}

let current = -1;
const lines = readline.createInterface({ input: process.stdin });
// Commands run one at a time, in order.
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    const [command, argument] = line.trim().split(/\s+/);
    if (command === "run") {
      current = Number(argument);
      for (const writer of writers) writer.run();
      emit({ running: current });
    } else if (command === "pause") {
      await pause(current);
    } else if (command === "exit") {
      await Promise.all(writers.map((w) => w.client.close()));
      console.log("ok");
      process.exit(0);
    } else {
      throw new Error(`unknown command ${JSON.stringify(line)}`);
    }
  }).catch((error) => {
    console.error(error);
    process.exit(1);
  });
});
lines.on("close", () => {
  queue.then(() => process.exit(0));
});
