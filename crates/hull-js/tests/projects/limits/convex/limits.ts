// Functions that cross one upstream per-call limit each (crates/hull/tests/limits.rs), and two
// ordinary ones that must keep working beside them.
import { action, mutation, query } from "./_generated/server";
import { api } from "./_generated/api";
import { v } from "convex/values";

/** Inserts `n` small rows in one transaction (limit: 16,000 documents written). */
export const writeRows = mutation({
  args: { n: v.number(), from: v.optional(v.number()) },
  handler: async (ctx, { n, from }) => {
    // In batches: one await per insert would spend a debug build's 1 s time limit.
    const BATCH = 500;
    for (let start = 0; start < n; start += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, n - start) }, (_, k) => (from ?? 0) + start + k);
      await Promise.all(batch.map((i) => ctx.db.insert("rows", { i })));
    }
    return n;
  },
});

/** Inserts `count` documents of about 900 KiB (limit: 16 MiB written per transaction). */
export const writeBlobs = mutation({
  args: { count: v.number() },
  handler: async (ctx, { count }) => {
    const s = "x".repeat(900 * 1024);
    for (let i = 0; i < count; i++) await ctx.db.insert("blobs", { s });
    return count;
  },
});

/** One document over 1 MiB. */
export const writeHugeDocument = mutation({
  args: {},
  handler: async (ctx) => await ctx.db.insert("blobs", { s: "x".repeat(1024 * 1024 + 1) }),
});

/** Reads the whole table (limits: 32,000 documents and 16 MiB read per transaction). */
export const countAll = query({
  args: { table: v.union(v.literal("rows"), v.literal("blobs")) },
  handler: async (ctx, { table }) => (await ctx.db.query(table).collect()).length,
});

/** `n` separate index lookups (limit: 4,096 index ranges read per transaction). */
export const lookups = query({
  args: { n: v.number() },
  handler: async (ctx, { n }) => {
    let found = 0;
    for (let i = 0; i < n; i++) {
      if ((await ctx.db.query("rows").withIndex("by_i", (q) => q.eq("i", i)).first()) !== null) found++;
    }
    return found;
  },
});

/** Never returns (limit: 1 s of user code per query or mutation). */
export const spin = query({
  args: {},
  handler: async () => {
    for (;;) {
      // busy
    }
  },
});

/** A mutation that never returns (stopped at 1 s): keeps a socket's mutation queue full. */
export const spinMutation = mutation({
  args: {},
  handler: async () => {
    for (;;) {
      // busy
    }
  },
});

/** Allocates without bound (limit: the JavaScript heap). */
export const hog = query({
  args: {},
  handler: async () => {
    const kept: number[][] = [];
    for (;;) kept.push(new Array(100_000).fill(1));
  },
});

/** Logs `n` lines (limit: 256 log lines per function). */
export const chatty = query({
  args: { n: v.number() },
  handler: async (_ctx, { n }) => {
    for (let i = 0; i < n; i++) console.log(`line ${i}`);
    return n;
  },
});

/** Returns a string of `bytes` bytes (limit: 16 MiB returned). */
export const bigResult = query({
  args: { bytes: v.number() },
  handler: async (_ctx, { bytes }) => "y".repeat(bytes),
});

/** Writes a note and then returns too much: the write must not commit. */
export const writeThenReturnTooMuch = mutation({
  args: { bytes: v.number() },
  handler: async (ctx, { bytes }) => {
    await ctx.db.insert("notes", { text: "should not commit" });
    return "y".repeat(bytes);
  },
});

/** The length of `payload` (limit: 16 MiB of arguments). */
export const echoLength = query({
  args: { payload: v.string() },
  handler: async (_ctx, { payload }) => payload.length,
});

/** Calls `bigResult` from an action, and reports what it caught. */
export const catchNestedBigResult = action({
  args: { bytes: v.number() },
  handler: async (ctx, { bytes }): Promise<string> => {
    try {
      await ctx.runQuery(api.limits.bigResult, { bytes });
      return "no error";
    } catch (e) {
      return (e as Error).message;
    }
  },
});

/** The notes (a subscription target). */
export const notes = query({
  args: {},
  handler: async (ctx) => (await ctx.db.query("notes").collect()).map((n) => n.text),
});

export const addNote = mutation({
  args: { text: v.string() },
  handler: async (ctx, { text }) => await ctx.db.insert("notes", { text }),
});
