// The example in a real browser (Debian's Chromium driven by playwright-core): the page shows
// server-loaded secret data and a live list; a message from a second page appears without a
// reload; the form action writes through the internal mutation; from inside the page, every
// attempt to reach the internal functions fails; the server key appears nowhere the browser can
// see. Screenshots of the key states go to $SCREENSHOT_DIR.
//
// Env: APP_URL (the SvelteKit server), HULL_URL (Hull's API), HULL_SITE_URL (its HTTP actions),
// SERVER_KEY (must never reach the browser), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium). Prints "ok" when all passed.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const { APP_URL, HULL_URL, HULL_SITE_URL, SERVER_KEY, SCREENSHOT_DIR } = process.env;
assert.ok(APP_URL && HULL_URL && HULL_SITE_URL && SERVER_KEY && SCREENSHOT_DIR, "APP_URL, HULL_URL, HULL_SITE_URL, SERVER_KEY and SCREENSHOT_DIR are required");
mkdirSync(SCREENSHOT_DIR, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

// Everything the browser sees: response bodies, request headers, WebSocket frames.
const seen = [];
function watch(page) {
  page.on("request", (request) => seen.push(JSON.stringify(request.headers()) + (request.postData() ?? "")));
  page.on("response", async (response) => {
    try {
      seen.push(await response.text());
    } catch {
      // Redirects and aborted requests have no body.
    }
  });
  page.on("websocket", (socket) => {
    socket.on("framesent", (frame) => seen.push(String(frame.payload)));
    socket.on("framereceived", (frame) => seen.push(String(frame.payload)));
  });
}

const screenshot = (page, name) => page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });

try {
  const context = await browser.newContext();
  const first = await context.newPage();
  watch(first);
  await first.goto(APP_URL);
  // Server-loaded secret data (internal query through the server key, acting as alice).
  assert.equal(await first.getByTestId("partner-code").textContent(), "partner-7f3a");
  await first.getByTestId("messages").waitFor({ state: "attached" });
  await screenshot(first, "1-loaded");

  // Live: a message sent from a second page appears on the first without a reload.
  const second = await context.newPage();
  watch(second);
  await second.goto(APP_URL);
  await second.getByTestId("messages").waitFor({ state: "attached" });
  const text = `hello from the second page ${Date.now()}`;
  await second.getByTestId("message-input").fill(text);
  await second.getByTestId("message-send").click();
  await first.getByText(text).waitFor({ timeout: 10_000 });
  await screenshot(first, "2-live-message-arrived");

  // The form action writes through the internal mutation; the page reloads its data.
  const note = `private note ${Date.now()}`;
  await first.getByTestId("note-input").fill(note);
  await first.getByTestId("note-save").click();
  await first.getByTestId("note-saved").waitFor();
  await first.getByTestId("notes").getByText(note).waitFor({ timeout: 10_000 });
  await screenshot(first, "3-note-saved");

  // The HTTP action for trusted servers: the app's API route reaches it with a short-lived
  // token; the page calling it directly is turned away.
  const viaServer = await first.evaluate(async () => (await fetch("/api/partner")).json());
  assert.equal(viaServer.status, 200, JSON.stringify(viaServer));
  assert.equal(viaServer.body.partner, "ACME");
  // (The route sends no CORS headers, so the browser may not even read the 401.)
  const direct = await first.evaluate(async (site) => {
    try {
      const response = await fetch(site + "/partner");
      return { status: response.status, body: await response.text() };
    } catch (error) {
      return { blocked: String(error) };
    }
  }, HULL_SITE_URL);
  assert.ok(direct.blocked || (direct.status === 401 && !direct.body.includes("ACME")), JSON.stringify(direct));

  // From inside the page: every way to reach the internal functions fails.
  const attempts = await first.evaluate(async ({ hull, key }) => {
    const results = [];
    const post = async (route, body, authorization) => {
      const headers = { "content-type": "application/json" };
      if (authorization) headers.authorization = authorization;
      const response = await fetch(hull + route, { method: "POST", headers, body: JSON.stringify(body) });
      return { route, status: response.status, body: await response.text() };
    };
    const paths = ["secrets:getSecretData", "secrets.js:getSecretData", "secrets:saveNote", "secrets", "_system/cli/queryEnvironmentVariables"];
    for (const path of paths) {
      for (const route of ["/api/query", "/api/mutation", "/api/action", "/api/function"]) {
        results.push(await post(route, { path, args: { text: "x" }, format: "json" }));
      }
    }
    for (const run of ["secrets/getSecretData", "secrets/saveNote", "secrets.js/getSecretData"]) {
      results.push(await post(`/api/run/${run}`, { args: { text: "x" } }));
    }
    // Even a leaked key is refused when a browser presents it.
    results.push(await post("/api/query", { path: "secrets:getSecretData", args: {} }, `Convex ${key}`));

    // A WebSocket subscription naming the internal query, anonymous and with the key.
    const socketAnswers = await new Promise((resolve) => {
      const answers = [];
      const socket = new WebSocket(hull.replace(/^http/, "ws") + "/api/1.48.0/sync");
      socket.onopen = () => {
        socket.send(JSON.stringify({ type: "Connect", sessionId: crypto.randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: Date.now() }));
        socket.send(JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [
          { type: "Add", queryId: 0, udfPath: "secrets:getSecretData", args: [{}] },
          { type: "Add", queryId: 1, udfPath: "secrets.js:getSecretData", args: [{}] },
        ] }));
        socket.send(JSON.stringify({ type: "Mutation", requestId: 0, udfPath: "secrets:saveNote", args: [{ text: "from the browser" }] }));
        setTimeout(() => socket.send(JSON.stringify({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: key })), 500);
      };
      socket.onmessage = (event) => answers.push(String(event.data));
      socket.onclose = () => resolve(answers);
      setTimeout(() => { socket.close(); resolve(answers); }, 4000);
    });
    return { results, socketAnswers };
  }, { hull: HULL_URL, key: SERVER_KEY });
  for (const result of attempts.results) {
    assert.ok(!/"status":"success"/.test(result.body), `${result.route} reached a function: ${result.body}`);
    assert.ok(!result.body.includes("partner-7f3a"), `${result.route} leaked secret data`);
  }
  const leakedKey = attempts.results[attempts.results.length - 1];
  assert.equal(leakedKey.status, 403, JSON.stringify(leakedKey));
  assert.ok(leakedKey.body.includes("ServerKeyFromBrowser"), leakedKey.body);
  const socketText = attempts.socketAnswers.join("\n");
  assert.ok(!socketText.includes("partner-7f3a") && !socketText.includes('"success":true'), socketText);
  assert.ok(socketText.includes("Could not find public function for 'secrets:getSecretData'"), socketText);
  assert.ok(socketText.includes('"type":"AuthError"'), `the key over the socket must be refused: ${socketText}`);

  // The server key is nowhere the browser saw: HTML, scripts, API answers, frames, headers.
  const everything = seen.join("\n");
  const keyBody = SERVER_KEY.slice("hull_sk_".length);
  assert.ok(everything.length > 10_000, "the browser saw the page and its scripts");
  for (const [i, chunk] of seen.entries()) {
    // The page's own attempts above sent the key on purpose (a leaked key's refusal); those
    // requests are the only place it may appear, as a request header.
    if (chunk.startsWith("{") && chunk.includes(`"authorization":"Convex ${SERVER_KEY}"`)) continue;
    if (chunk.includes(`"value":"${SERVER_KEY}"`) && chunk.includes('"Authenticate"')) continue;
    assert.ok(!chunk.includes(keyBody), `the server key appeared in what the browser saw (#${i}): ${chunk.slice(0, 300)}`);
    assert.ok(!chunk.includes("hull_st_"), `a server token appeared in what the browser saw (#${i}): ${chunk.slice(0, 300)}`);
  }
  await screenshot(first, "4-after-attacks");
  console.log("ok");
} finally {
  await browser.close();
}
