import { ConvexError, v } from "convex/values";
import { z } from "zod";
import { action, query } from "./_generated/server";
import { api } from "./_generated/api";

const Profile = z.object({
  handle: z.string().min(3).max(20).regex(/^[a-z0-9_]+$/),
  age: z.number().int().min(13).optional(),
  links: z.array(z.string().url()).max(5).default([]),
});

export const check = query({
  args: { profile: v.any() },
  handler: async (_ctx, { profile }) => {
    const parsed = Profile.safeParse(profile);
    if (parsed.success) return { ok: true, value: parsed.data };
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
    };
  },
});

export const latest = action({
  args: { channel: v.id("channels") },
  handler: async (ctx, { channel }): Promise<number> => {
    const messages = await ctx.runQuery(api.messages.list, { channel });
    return messages.length;
  },
});

export const sendAndCount = action({
  args: { channel: v.id("channels"), body: v.string() },
  handler: async (ctx, { channel, body }) => {
    try {
      await ctx.runMutation(api.messages.send, {
        message: { channel, body },
        author: "action",
      });
    } catch (e: any) {
      return { error: e.message, data: e.data ?? null, isConvexError: e instanceof ConvexError };
    }
    const messages = await ctx.runQuery(api.messages.list, { channel });
    const identity = await ctx.auth.getUserIdentity();
    return { count: messages.length, identity, randomIsNumber: typeof Math.random() === "number" };
  },
});

export const sleepy = action({
  args: { ms: v.number() },
  handler: async (_ctx, { ms }) => {
    const start = Date.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    let ticks = 0;
    await new Promise<void>((resolve) => {
      const handle = setInterval(() => {
        ticks += 1;
        if (ticks === 3) {
          clearInterval(handle);
          resolve();
        }
      }, 5);
    });
    const cancelled = setTimeout(() => {
      throw new Error("should not run");
    }, 1);
    clearTimeout(cancelled);
    return { ticks, waited: Date.now() - start >= ms + 15 };
  },
});
