import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  // Every append writes one row to each table in one transaction: after any crash the two
  // tables must hold exactly the same (client, seq) pairs.
  entries: defineTable({ client: v.string(), seq: v.number() }).index("by_client_seq", ["client", "seq"]),
  mirror: defineTable({ client: v.string(), seq: v.number() }).index("by_client_seq", ["client", "seq"]),
});
