import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

// Vector fixture: a vector index with a filter field.
export default defineSchema({
  snippets: defineTable({ embedding: v.array(v.float64()), kind: v.string(), text: v.string() }).vectorIndex(
    "by_embedding",
    { vectorField: "embedding", dimensions: 3, filterFields: ["kind"] },
  ),
});
