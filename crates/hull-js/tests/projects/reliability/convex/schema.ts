import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  // Every append writes one row to each table in one transaction: after any crash the two
  // tables must hold exactly the same (client, seq) pairs.
  entries: defineTable({ client: v.string(), seq: v.number() }).index("by_client_seq", ["client", "seq"]),
  mirror: defineTable({ client: v.string(), seq: v.number() }).index("by_client_seq", ["client", "seq"]),
  // List-append workload (serializability checker): one list per key.
  lists: defineTable({ key: v.number(), values: v.array(v.number()) }).index("by_key", ["key"]),
  // Bank workload: transfers between accounts never change the total.
  accounts: defineTable({ name: v.string(), balance: v.number() }).index("by_name", ["name"]),
});
