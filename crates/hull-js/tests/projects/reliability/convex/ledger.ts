import { v } from "convex/values";
import { mutation, query } from "./_generated/server";

// One logical write as two rows in two tables, atomically.
export const append = mutation({
  args: { client: v.string(), seq: v.number() },
  handler: async (ctx, { client, seq }) => {
    await ctx.db.insert("entries", { client, seq });
    await ctx.db.insert("mirror", { client, seq });
    return seq;
  },
});

/** Rows per page of `dump` (within Convex's 8,192-element array limit). */
const PAGE = 4000;

// One client's sequence numbers after `after` in both tables, a page at a time, in order.
export const dump = query({
  args: { client: v.string(), after: v.number() },
  handler: async (ctx, { client, after }) => {
    const page = async (table: "entries" | "mirror") =>
      (
        await ctx.db
          .query(table)
          .withIndex("by_client_seq", (q) => q.eq("client", client).gt("seq", after))
          .take(PAGE)
      ).map((row) => row.seq);
    return { entries: await page("entries"), mirror: await page("mirror") };
  },
});

// How many rows one client has after `after` in each table: the live query the crash test's
// WebSocket clients hold across kills (one cycle's rows, so it stays small).
export const count = query({
  args: { client: v.string(), after: v.number() },
  handler: async (ctx, { client, after }) => {
    const rows = async (table: "entries" | "mirror") =>
      (
        await ctx.db
          .query(table)
          .withIndex("by_client_seq", (q) => q.eq("client", client).gt("seq", after))
          .collect()
      ).length;
    return { entries: await rows("entries"), mirror: await rows("mirror") };
  },
});
