import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  secrets: defineTable({ value: v.string() }),
  deletions: defineTable({ id: v.string() }),
});
