import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  // Public: everyone sees the list live.
  messages: defineTable({ author: v.string(), body: v.string() }),
  // Private: each user's notes, read and written only through internal functions.
  notes: defineTable({ owner: v.string(), text: v.string() }).index("by_owner", ["owner"]),
});
