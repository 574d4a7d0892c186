import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";

// Internal: only the SvelteKit server reaches these, with a server key scoped to `secrets:*`
// (acting as the signed-in user). The browser cannot call them at all.
export const getSecretData = internalQuery({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) throw new Error("getSecretData needs a user");
    const notes = await ctx.db
      .query("notes")
      .withIndex("by_owner", (q) => q.eq("owner", identity.subject))
      .collect();
    return {
      user: identity.subject,
      apiPartnerCode: "partner-7f3a", // stands for any record the browser must never fetch itself
      notes: notes.map((n) => n.text),
    };
  },
});

export const saveNote = internalMutation({
  args: { text: v.string() },
  handler: async (ctx, { text }) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity === null) throw new Error("saveNote needs a user");
    await ctx.db.insert("notes", { owner: identity.subject, text: text.slice(0, 500) });
  },
});
