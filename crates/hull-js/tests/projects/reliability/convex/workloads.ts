import { v } from "convex/values";
import { mutation, query } from "./_generated/server";

// Workloads for the serializability checker (crates/hull-app/tests/serializability.rs).

/** Creates the lists (empty) and the accounts, so transactions never race to create them. */
export const setup = mutation({
  args: { keys: v.number(), accounts: v.number(), balance: v.number() },
  handler: async (ctx, { keys, accounts, balance }) => {
    for (let key = 0; key < keys; key++) await ctx.db.insert("lists", { key, values: [] });
    for (let i = 0; i < accounts; i++) await ctx.db.insert("accounts", { name: `a${i}`, balance });
  },
});

/** A list-append transaction: each op reads a key's whole list or appends a unique value. */
export const txn = mutation({
  args: { ops: v.array(v.object({ f: v.union(v.literal("r"), v.literal("a")), k: v.number(), v: v.optional(v.number()) })) },
  handler: async (ctx, { ops }) => {
    const results: (number[] | null)[] = [];
    for (const op of ops) {
      const list = await ctx.db.query("lists").withIndex("by_key", (q) => q.eq("key", op.k)).unique();
      if (list === null) throw new Error(`no list ${op.k}: run setup first`);
      if (op.f === "r") {
        results.push(list.values);
      } else {
        await ctx.db.patch(list._id, { values: [...list.values, op.v!] });
        results.push(null);
      }
    }
    return results;
  },
});

/** Moves `amount` from one account to another when the first has enough. */
export const transfer = mutation({
  args: { from: v.string(), to: v.string(), amount: v.number() },
  handler: async (ctx, { from, to, amount }) => {
    if (from === to) return false; // (both reads would see the old balance: the second patch would mint money)
    const account = async (name: string) => (await ctx.db.query("accounts").withIndex("by_name", (q) => q.eq("name", name)).unique())!;
    const [a, b] = [await account(from), await account(to)];
    if (a.balance < amount) return false;
    await ctx.db.patch(a._id, { balance: a.balance - amount });
    await ctx.db.patch(b._id, { balance: b.balance + amount });
    return true;
  },
});

/** Every balance, read in one snapshot. */
export const balances = query({
  args: {},
  handler: async (ctx) => (await ctx.db.query("accounts").collect()).map((a) => a.balance),
});
