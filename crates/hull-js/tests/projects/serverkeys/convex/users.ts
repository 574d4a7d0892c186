import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";

// Outside a `secrets:*` key's scope: calling it with that key must look like a missing function.
export const deleteUser = internalMutation({
  args: { id: v.string() },
  handler: async (ctx, { id }) => {
    await ctx.db.insert("deletions", { id });
    return null;
  },
});

export const deletions = internalQuery({
  args: {},
  handler: async (ctx) => (await ctx.db.query("deletions").collect()).map((d) => d.id),
});
