import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

// Every scheduled or cron run leaves one event: its kind and when it ran.
export default defineSchema({
  counters: defineTable({ name: v.string(), value: v.number() }).index("by_name", ["name"]),
  events: defineTable({ kind: v.string(), at: v.number(), n: v.optional(v.number()), note: v.optional(v.string()) }).index("by_kind", ["kind"]),
});
