import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

// The end-to-end benchmark's data; the Node baseline and the limit server hold the same
// rows in SQLite (bench/node/server.mjs, bench/src/bin/limit_server.rs).
export default defineSchema({
  docs: defineTable({ k: v.number(), payload: v.string() }).index("by_k", ["k"]),
  counters: defineTable({ name: v.string(), n: v.number() }).index("by_name", ["name"]),
});
