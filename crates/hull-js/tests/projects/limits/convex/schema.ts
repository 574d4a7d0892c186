import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  rows: defineTable({ i: v.number() }).index("by_i", ["i"]),
  blobs: defineTable({ s: v.string() }),
  notes: defineTable({ text: v.string() }),
});
