import { ConvexError, v } from "convex/values";
import { internalQuery, mutation, query } from "./_generated/server";

export const list = query({
  args: { channel: v.id("channels"), limit: v.optional(v.number()) },
  handler: async (ctx, { channel, limit }) => {
    return await ctx.db
      .query("messages")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .order("desc")
      .take(limit ?? 10);
  },
});

export const send = mutation({
  args: {
    message: v.object({ channel: v.id("channels"), body: v.string() }),
    author: v.string(),
  },
  handler: async (ctx, { message, author }) => {
    if (message.body.trim() === "") {
      throw new ConvexError({
        code: "EMPTY_BODY",
        message: "body must not be empty",
      });
    }
    console.log("sending", { author, len: message.body.length });
    const id = await ctx.db.insert("messages", {
      channel: message.channel,
      body: message.body,
      author,
    });
    return id;
  },
});

export const countByAuthor = internalQuery({
  args: { author: v.string() },
  returns: v.number(),
  handler: async (ctx, { author }) => {
    const rows = await ctx.db
      .query("messages")
      .filter((q) =>
        q.and(q.eq(q.field("author"), author), q.neq(q.field("body"), "")),
      )
      .collect();
    return rows.length;
  },
});
