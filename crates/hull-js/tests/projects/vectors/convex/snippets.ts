import { v } from "convex/values";
import { getServiceToken } from "convex/server";
import { action, mutation } from "./_generated/server";

export const add = mutation({
  args: { embedding: v.array(v.float64()), kind: v.string(), text: v.string() },
  handler: async (ctx, args) => await ctx.db.insert("snippets", args),
});

export const similar = action({
  args: { vector: v.array(v.float64()), kind: v.optional(v.string()), limit: v.optional(v.number()) },
  handler: async (ctx, { vector, kind, limit }) =>
    await ctx.vectorSearch("snippets", "by_embedding", {
      vector,
      limit,
      filter: kind === undefined ? undefined : (q) => q.eq("kind", kind),
    }),
});

export const filterOnText = action({
  args: {},
  handler: async (ctx) =>
    await ctx.vectorSearch("snippets", "by_embedding", { vector: [1, 0, 0], filter: (q) => q.eq("text" as any, "x") }),
});

// Convex-managed services do not exist on a self-hosted deployment.
export const serviceToken = action({
  args: {},
  handler: async () => await getServiceToken("ai-gateway"),
});
