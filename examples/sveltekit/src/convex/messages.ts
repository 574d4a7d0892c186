import { v } from "convex/values";
import { mutation, query } from "./_generated/server";

// Public: the browser subscribes to this with convex-svelte and sees new messages live.
export const list = query({
  args: {},
  handler: async (ctx) => {
    const messages = await ctx.db.query("messages").order("desc").take(50);
    return messages.reverse().map(({ _id, author, body }) => ({ _id, author, body }));
  },
});

// Public: the browser sends messages directly.
export const send = mutation({
  args: { author: v.string(), body: v.string() },
  handler: async (ctx, { author, body }) => {
    if (body.trim().length === 0 || body.length > 500) throw new Error("A message has 1 to 500 characters.");
    await ctx.db.insert("messages", { author: author.slice(0, 40) || "anonymous", body });
  },
});
