import { ConvexError, v } from "convex/values";
import { api } from "./_generated/api";
import { mutation, query } from "./_generated/server";

// Edit a message in place: patch (with an optional field removed), replace.
export const editMessage = mutation({
  args: { id: v.id("messages"), body: v.optional(v.string()) },
  handler: async (ctx, { id, body }) => {
    const before = await ctx.db.get(id);
    if (before === null) throw new ConvexError("no such message");
    if (body === undefined) {
      await ctx.db.patch(id, { edited: undefined });
    } else {
      await ctx.db.patch(id, { body, edited: true });
    }
    return await ctx.db.get(id);
  },
});

export const bump = mutation({
  args: { name: v.string() },
  returns: v.number(),
  handler: async (ctx, { name }) => {
    const row = await ctx.db
      .query("counters")
      .withIndex("by_name", (q) => q.eq("name", name))
      .unique();
    if (row === null) {
      await ctx.db.insert("counters", { name, value: 1 });
      return 1;
    }
    await ctx.db.patch(row._id, { value: row.value + 1 });
    return row.value + 1;
  },
});

export const throws = query({
  args: {},
  handler: async () => {
    throw new Error("boom");
  },
});

export const throwsData = mutation({
  args: { code: v.number() },
  handler: async (_ctx, { code }) => {
    throw new ConvexError({ code, tags: ["a", "b"], big: 7n });
  },
});

export const writeInQuery = query({
  args: {},
  handler: async (ctx) => {
    // A query's db is a reader; reach around the types to try a write.
    await (ctx.db as any).insert("channels", { name: "nope" });
    return "wrote";
  },
});

export const badReturn = query({
  args: {},
  returns: v.string(),
  handler: async () => {
    return 42 as any;
  },
});

export const returnsDate = query({
  args: {},
  handler: async () => {
    return new Date() as any;
  },
});

export const spin = query({
  args: {},
  handler: async () => {
    for (;;) {}
  },
});

export const recurse = query({
  args: {},
  handler: async () => {
    const f = (n: number): number => f(n + 1) + 1;
    return f(0);
  },
});

export const hog = query({
  args: {},
  handler: async () => {
    const parts: string[] = [];
    for (let i = 0; i < 1e9; i++) parts.push("x".repeat(1024) + i);
    return parts.length;
  },
});

export const nondeterminism = query({
  args: {},
  handler: async () => {
    return {
      now: Date.now(),
      date: new Date().toISOString(),
      random: [Math.random(), Math.random()],
      encoded: Array.from(new TextEncoder().encode("héllo")),
      decoded: new TextDecoder().decode(new Uint8Array([104, 105])),
    };
  },
});

export const logs = query({
  args: {},
  handler: async () => {
    console.log("log", 1, { a: [1, 2] });
    console.info("info");
    console.warn("warn");
    console.error("error", new Error("e1").message);
    console.debug("debug");
    return null;
  },
});

export const values = query({
  args: {
    i: v.int64(),
    f: v.float64(),
    b: v.bytes(),
    l: v.union(v.literal("a"), v.literal("b")),
    arr: v.array(v.number()),
    rec: v.record(v.string(), v.boolean()),
    n: v.null(),
    any: v.any(),
  },
  handler: async (_ctx, args) => {
    return args;
  },
});

// Bypasses the library's read-only reader to check the host refuses writes in queries.
export const rawInsertInQuery = query({
  args: {},
  handler: async () => {
    const convex = (globalThis as any).Convex;
    return await convex.asyncSyscall(
      "1.0/insert",
      JSON.stringify({ table: "channels", value: { name: "nope" } }),
    );
  },
});

export const whoami = query({
  args: {},
  handler: async (ctx) => {
    return await ctx.auth.getUserIdentity();
  },
});

export const catchesSyscallError = query({
  args: {},
  handler: async (ctx) => {
    try {
      await ctx.db.get("not-an-id" as any);
      return "no error";
    } catch (e: any) {
      return `caught: ${e.message}`;
    }
  },
});

export const neverResolves = query({
  args: {},
  handler: async () => {
    await new Promise(() => {});
    return "unreachable";
  },
});

// Module-level state: carries over between requests only when a context is reused.
let calls = 0;
export const moduleState = query({
  args: {},
  handler: async () => {
    calls += 1;
    return calls;
  },
});

export const web = query({
  args: { url: v.string() },
  handler: async (_ctx, { url }) => {
    const u = new URL(url, "https://example.com/base/");
    u.searchParams.append("q", "a b&c");
    const params = new URLSearchParams({ x: "1", y: "é" });
    const bytes = crypto.getRandomValues(new Uint8Array(4));
    return {
      href: u.href,
      host: u.host,
      pathname: u.pathname,
      search: u.search,
      params: params.toString(),
      uuid: crypto.randomUUID(),
      bytes: Array.from(bytes),
      btoa: btoa("hi"),
      atob: atob("aGk="),
      structured: structuredClone({ a: [1, { b: 2 }] }),
      dateCall: typeof Date(),
      dateInstance: new Date() instanceof Date,
      processEnv: typeof process.env,
    };
  },
});

export const returnsFunction = query({
  args: {},
  handler: async () => {
    return (() => 1) as any;
  },
});

export const returnsCycle = query({
  args: {},
  handler: async () => {
    const a: any = { name: "a" };
    a.self = a;
    return a;
  },
});

export const forgetsAwait = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    void ctx.db.insert("channels", { name });
    return "done";
  },
});

export const importTimeValues = query({
  args: {},
  handler: async () => importTime,
});
const importTime = { now: Date.now(), random: Math.random() };

export const readsAndWritesLots = mutation({
  args: { n: v.number() },
  handler: async (ctx, { n }) => {
    for (let i = 0; i < n; i++) {
      await ctx.db.insert("counters", { name: `c${i}`, value: i });
    }
    const all = await ctx.db.query("counters").collect();
    return all.length;
  },
});

export const meta = query({
  args: {},
  handler: async (ctx) => {
    const channels = await ctx.db.query("channels").collect();
    const metrics = await ctx.meta.getTransactionMetrics();
    return {
      fn: await ctx.meta.getFunctionMetadata(),
      deployment: await ctx.meta.getDeploymentMetadata(),
      documentsRead: metrics.documentsRead.used,
      documentsWrittenRemaining: metrics.documentsWritten.remaining,
      count: await (ctx.db.query("channels") as any).count(),
      collected: channels.length,
      snapshotTsIsBigint: typeof ctx.meta.getSnapshotTs() === "bigint",
    };
  },
});

export const forbiddenApis = query({
  args: {},
  handler: async () => {
    const errors: string[] = [];
    try {
      await fetch("https://example.com");
    } catch (e: any) {
      errors.push(e.message);
    }
    try {
      setTimeout(() => {}, 10);
    } catch (e: any) {
      errors.push(e.message);
    }
    return { errors, perf: performance.now() };
  },
});

export const env = query({
  args: { name: v.string() },
  handler: async (_ctx, { name }) => {
    return {
      value: process.env[name] ?? null,
      has: name in process.env,
      keys: Object.keys(process.env),
    };
  },
});

// Breaks out of a query stream early: the library cleans the stream up (1.0/queryCleanup).
export const firstTwoNames = query({
  args: {},
  handler: async (ctx) => {
    const names: string[] = [];
    for await (const channel of ctx.db.query("channels")) {
      names.push(channel.name);
      if (names.length === 2) break;
    }
    return names;
  },
});

// ctx.runQuery inside a mutation runs in the same transaction: it sees the insert.
export const createAndList = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }): Promise<any> => {
    await ctx.db.insert("channels", { name });
    const listed: any = await ctx.runQuery(api.channels.all, {});
    let nestedMutation: string;
    try {
      await ctx.runMutation(api.channels.create, { name: "nested" });
      nestedMutation = "ran";
    } catch (e: any) {
      nestedMutation = e.message;
    }
    return { names: listed.names, nestedMutation };
  },
});

// Malformed syscalls straight at the host: each must be a catchable error, never a crash.
export const hostileSyscalls = mutation({
  args: {},
  handler: async () => {
    const convex = (globalThis as any).Convex;
    const results: string[] = [];
    const attempt = async (f: () => any) => {
      try {
        await f();
        results.push("ok");
      } catch (e: any) {
        results.push(e.message);
      }
    };
    await attempt(() => convex.syscall("1.0/queryStream", "not json"));
    await attempt(() => convex.syscall("1.0/queryStream", JSON.stringify({ query: { source: 7 } })));
    await attempt(() => convex.syscall("1.0/nope", "{}"));
    await attempt(() => convex.asyncSyscall("1.0/get", "{}"));
    await attempt(() => convex.asyncSyscall("1.0/get", JSON.stringify({ id: 42 })));
    await attempt(() => convex.asyncSyscall("1.0/queryStreamNext", JSON.stringify({ queryId: 99 })));
    await attempt(() => convex.asyncSyscall("1.0/insert", JSON.stringify({ table: "_secret", value: {} })));
    await attempt(() => convex.asyncSyscall("1.0/insert", JSON.stringify({ table: "t", value: [1] })));
    await attempt(() => convex.asyncSyscall("1.0/insert", JSON.stringify({ table: "t", value: { $bad: 1 } })));
    await attempt(() => convex.asyncSyscall("1.0/nope", "{}"));
    await attempt(() => convex.asyncSyscall("1.0/schedule", "{}"));
    return results;
  },
});

export const subtleCrypto = query({
  args: { text: v.string() },
  handler: async (_ctx, { text }) => {
    const hex = (buffer: ArrayBuffer) =>
      Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
    const data = new TextEncoder().encode(text);
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode("Jefe"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    const signature = await crypto.subtle.sign("HMAC", key, data);
    let unsupported = "";
    try {
      await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]);
    } catch (e: any) {
      unsupported = `${e.name}: ${e.message}`;
    }
    return {
      sha256: hex(await crypto.subtle.digest("SHA-256", data)),
      sha1: hex(await crypto.subtle.digest({ name: "SHA-1" }, data)),
      hmac: hex(signature),
      verified: await crypto.subtle.verify("HMAC", key, signature, data),
      tampered: await crypto.subtle.verify("HMAC", key, new Uint8Array(32), data),
      unsupported,
    };
  },
});

export const cloneAndEvents = query({
  args: {},
  handler: async () => {
    const shared = { n: 1 };
    const original: any = {
      date: new Date(0),
      map: new Map([["k", shared]]),
      set: new Set([1, 2]),
      bytes: new Uint8Array([1, 2, 3]),
      a: shared,
      b: shared,
    };
    original.self = original;
    const copy = structuredClone(original);
    let cloneError = "";
    try {
      structuredClone({ f: () => 1 });
    } catch (e: any) {
      cloneError = e.name;
    }
    const controller = new AbortController();
    const seen: string[] = [];
    controller.signal.addEventListener("abort", () => seen.push("abort"));
    controller.abort();
    return {
      cycle: copy.self === copy,
      sharedKept: copy.a === copy.b && copy.a !== shared,
      date: copy.date instanceof Date && copy.date.getTime() === 0,
      map: copy.map.get("k") === copy.a,
      set: [...copy.set],
      bytes: Array.from(copy.bytes),
      cloneError,
      aborted: controller.signal.aborted,
      reason: controller.signal.reason.name,
      seen,
    };
  },
});

export const recursiveQuery = query({
  args: { n: v.number() },
  handler: async (ctx, { n }): Promise<number> => {
    if (n === 0) return 0;
    const inner: number = await ctx.runQuery(api.util.recursiveQuery, { n: n - 1 });
    return inner + 1;
  },
});
