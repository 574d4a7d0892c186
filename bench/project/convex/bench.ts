import { action, mutation, query, QueryCtx } from "./_generated/server";
import { api } from "./_generated/api";
import { v } from "convex/values";

// The payload every benchmark document carries (about 100 bytes), the same text as the
// baselines' (bench/node/server.mjs, bench/src/bin/limit_server.rs).
const PAYLOAD = "The quick brown fox jumps over the lazy dog; a payload of about 100 bytes of text per document.";

/** Point read. */
export const get = query({
  args: { id: v.id("docs") },
  handler: async (ctx, { id }) => await ctx.db.get(id),
});

/** The first `n` documents with `k >= k`, in index order. */
export const range = query({
  args: { k: v.number(), n: v.number() },
  handler: async (ctx, { k, n }) =>
    await ctx.db.query("docs").withIndex("by_k", (q) => q.gte("k", k)).take(n),
});

/** One durable insert; returns the new id. */
export const insert = mutation({
  args: { k: v.number() },
  handler: async (ctx, { k }) => await ctx.db.insert("docs", { k, payload: PAYLOAD }),
});

/** `count` documents with k = start, start + 1, ... in one transaction; returns the count. */
export const insertMany = mutation({
  args: { start: v.number(), count: v.number() },
  handler: async (ctx, { start, count }) => {
    for (let i = 0; i < count; i++) {
      await ctx.db.insert("docs", { k: start + i, payload: PAYLOAD });
    }
    return count;
  },
});

/** Like `insertMany`, but returns the new ids (the harness reads them by id afterwards). */
export const seed = mutation({
  args: { start: v.number(), count: v.number() },
  handler: async (ctx, { start, count }) => {
    const ids = [];
    for (let i = 0; i < count; i++) {
      ids.push(await ctx.db.insert("docs", { k: start + i, payload: PAYLOAD }));
    }
    return ids;
  },
});

function findCounter(ctx: QueryCtx, name: string) {
  return ctx.db
    .query("counters")
    .withIndex("by_name", (q) => q.eq("name", name))
    .unique();
}

/** Adds one to the counter `name` (created at 1); returns the new value. */
export const increment = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    const counter = await findCounter(ctx, name);
    if (counter === null) {
      await ctx.db.insert("counters", { name, n: 1 });
      return 1;
    }
    await ctx.db.patch(counter._id, { n: counter.n + 1 });
    return counter.n + 1;
  },
});

/** The counter `name`'s value (0 when missing): what the fan-out subscribers watch. */
export const counter = query({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    const counter = await findCounter(ctx, name);
    return counter?.n ?? 0;
  },
});

/** An action calling a query and a mutation: reads one document, inserts another. */
export const readWrite = action({
  args: { id: v.id("docs"), k: v.number() },
  handler: async (ctx, { id, k }): Promise<string> => {
    const doc = await ctx.runQuery(api.bench.get, { id });
    if (doc === null) throw new Error(`document ${id} is missing`);
    return await ctx.runMutation(api.bench.insert, { k });
  },
});
