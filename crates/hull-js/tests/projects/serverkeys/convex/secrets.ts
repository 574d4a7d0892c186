import { v } from "convex/values";
import { internalMutation, internalQuery, query } from "./_generated/server";

// Server-keys fixture: what a key scoped to `secrets:*` may reach, and nothing else.
export const getSecretData = internalQuery({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    const stored = await ctx.db.query("secrets").order("desc").first();
    return { secret: stored?.value ?? "s3cr3t", viewer: identity?.subject ?? null };
  },
});

export const setSecret = internalMutation({
  args: { value: v.string() },
  handler: async (ctx, { value }) => {
    await ctx.db.insert("secrets", { value });
    return null;
  },
});

// Public: anyone may call it without a key.
export const publicInfo = query({
  args: {},
  handler: async () => "public",
});
