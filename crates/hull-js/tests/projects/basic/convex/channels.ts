import { v } from "convex/values";
import { mutation, query } from "./_generated/server";
import { paginationOptsValidator } from "convex/server";

export const create = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    return await ctx.db.insert("channels", { name });
  },
});

export const get = query({
  args: { id: v.id("channels") },
  handler: async (ctx, { id }) => {
    return await ctx.db.get(id);
  },
});

export const rename = mutation({
  args: { id: v.id("channels"), name: v.string() },
  handler: async (ctx, { id, name }) => {
    await ctx.db.patch(id, { name });
    return await ctx.db.get(id);
  },
});

export const replace = mutation({
  args: { id: v.id("channels"), name: v.string() },
  handler: async (ctx, { id, name }) => {
    await ctx.db.replace(id, { name });
    return await ctx.db.get(id);
  },
});

export const remove = mutation({
  args: { id: v.id("channels") },
  handler: async (ctx, { id }) => {
    await ctx.db.delete(id);
    return await ctx.db.get(id);
  },
});

export const page = query({
  args: { paginationOpts: paginationOptsValidator },
  handler: async (ctx, { paginationOpts }) => {
    return await ctx.db.query("channels").paginate(paginationOpts);
  },
});

export const normalize = query({
  args: { table: v.string(), id: v.string() },
  handler: async (ctx, { table, id }) => {
    return ctx.db.normalizeId(table as "channels", id);
  },
});

export const all = query({
  args: {},
  handler: async (ctx) => {
    const out = [];
    for await (const c of ctx.db.query("channels")) {
      out.push(c.name);
    }
    const first = await ctx.db.query("channels").first();
    return { names: out, first: first?.name ?? null };
  },
});
