import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  channels: defineTable({ name: v.string() }),
  messages: defineTable({
    channel: v.id("channels"),
    author: v.string(),
    body: v.string(),
    edited: v.optional(v.boolean()),
  }).index("by_channel", ["channel"]),
  counters: defineTable({ name: v.string(), value: v.number() }).index(
    "by_name",
    ["name"],
  ),
});
