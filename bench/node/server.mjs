// The Node baseline of the end-to-end benchmark (bench/src/e2e): what a SvelteKit developer
// might write instead of a backend. node:http serves JSON endpoints over better-sqlite3 (WAL,
// synchronous=FULL: every insert is durable before it is acknowledged, one transaction and
// one fsync each); ws broadcasts the watched counter to every subscriber after each write.
// No reactivity, validation or isolation beyond SQLite's.
//
//   node server.mjs <port> <database file>
//
// Endpoints (the same as bench/src/bin/limit_server.rs, so one load generator drives both):
//   GET  /healthz                      "ok"
//   GET  /get?id=N                     {_id, k, payload} or null
//   GET  /range?k=K&n=N                the first N documents with k >= K, by k
//   GET  /counter?name=S               the counter's value (0 when missing)
//   POST /insert      {k}              the new id
//   POST /insertMany  {start, count}   count documents in one transaction; the count
//   POST /seed        {start, count}   the same, returning the new ids
//   POST /increment   {name}           the counter's new value; broadcast to /ws subscribers
//   POST /readWrite   {id, k}          reads document id, inserts {k}; the new id
//   GET  /ws (WebSocket)               sends the counter "fanout" now and after every change
import http from "node:http";
import Database from "better-sqlite3";
import { WebSocketServer } from "ws";

const [port, file] = process.argv.slice(2);
if (!port || !file) {
  console.error("usage: node server.mjs <port> <database file>");
  process.exit(2);
}

const PAYLOAD = "The quick brown fox jumps over the lazy dog; a payload of about 100 bytes of text per document.";
const WATCHED_COUNTER = "fanout";

const db = new Database(file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec(`
  CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, k REAL NOT NULL, payload TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS docs_by_k ON docs (k);
  CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
`);

const getDoc = db.prepare("SELECT id AS _id, k, payload FROM docs WHERE id = ?");
const rangeDocs = db.prepare("SELECT id AS _id, k, payload FROM docs WHERE k >= ? ORDER BY k LIMIT ?");
const insertDoc = db.prepare("INSERT INTO docs (k, payload) VALUES (?, ?)");
const getCounter = db.prepare("SELECT n FROM counters WHERE name = ?");
const upsertCounter = db.prepare(
  "INSERT INTO counters (name, n) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET n = n + 1 RETURNING n",
);

const insertMany = db.transaction((start, count) => {
  const ids = [];
  for (let i = 0; i < count; i++) ids.push(Number(insertDoc.run(start + i, PAYLOAD).lastInsertRowid));
  return ids;
});
const increment = db.transaction((name) => upsertCounter.get(name).n);
const readWrite = db.transaction((id, k) => {
  if (getDoc.get(id) === undefined) throw new Error(`document ${id} is missing`);
  return Number(insertDoc.run(k, PAYLOAD).lastInsertRowid);
});
const counterValue = (name) => getCounter.get(name)?.n ?? 0;

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      } catch (error) {
        reject(error);
      }
    });
    req.on("error", reject);
  });
}

const sockets = new Set();
function broadcast(value) {
  const message = JSON.stringify({ value });
  for (const socket of sockets) socket.send(message);
}

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  const q = url.searchParams;
  switch (`${req.method} ${url.pathname}`) {
    case "GET /healthz":
      return send(res, 200, "ok");
    case "GET /get":
      return send(res, 200, getDoc.get(Number(q.get("id"))) ?? null);
    case "GET /range":
      return send(res, 200, rangeDocs.all(Number(q.get("k")), Number(q.get("n"))));
    case "GET /counter":
      return send(res, 200, counterValue(q.get("name")));
    case "POST /insert": {
      const { k } = await readJson(req);
      return send(res, 200, Number(insertDoc.run(k, PAYLOAD).lastInsertRowid));
    }
    case "POST /insertMany": {
      const { start, count } = await readJson(req);
      return send(res, 200, insertMany(start, count).length);
    }
    case "POST /seed": {
      const { start, count } = await readJson(req);
      return send(res, 200, insertMany(start, count));
    }
    case "POST /increment": {
      const { name } = await readJson(req);
      const n = increment(name);
      if (name === WATCHED_COUNTER) broadcast(n);
      return send(res, 200, n);
    }
    case "POST /readWrite": {
      const { id, k } = await readJson(req);
      return send(res, 200, readWrite(id, k));
    }
    default:
      return send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => send(res, 500, { error: String(error) }));
});
server.keepAliveTimeout = 60_000;
const wss = new WebSocketServer({ server, path: "/ws" });
wss.on("connection", (socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
  socket.send(JSON.stringify({ value: counterValue(WATCHED_COUNTER) }));
});
server.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${port}`));
