import { v } from "convex/values";
import { createFunctionHandle, log } from "convex/server";
import { action, internalQuery, mutation, query } from "./_generated/server";
import { internal } from "./_generated/api";

// Auth fixture: auth.config.ts is what this project is for (JsRuntime::evaluate_auth_config).
export const whoami = query({
  args: {},
  handler: async (ctx) => await ctx.auth.getUserIdentity(),
});

// ctx.auth.signJwt: a deployment-signed ES256 token (mutations only).
export const signToken = mutation({
  args: { sub: v.string() },
  handler: async (ctx, { sub }) => await ctx.auth.signJwt({ claims: { sub, role: "reader" }, expiresInSeconds: 60 }),
});

export const signReserved = mutation({
  args: {},
  handler: async (ctx) => await ctx.auth.signJwt({ claims: { cvxTenant: "x" } as any, expiresInSeconds: 60 }),
});

// log.audit: a durable record written with the mutation (Convex Enterprise's audit log).
export const audited = mutation({
  args: { action: v.string(), fail: v.boolean() },
  handler: async (ctx, { action, fail }) => {
    await log.audit({ action, detail: { by: "test", at: log.vars.now, ip: log.vars.ip } });
    if (fail) {
      throw new Error("rolled back");
    }
    return null;
  },
});

// Function handles: created from a reference, then called in place of it.
export const secret = internalQuery({
  args: { n: v.number() },
  handler: async (_ctx, { n }) => n * 2,
});

export const viaHandleInAction = action({
  args: {},
  handler: async (ctx) => {
    const handle = await createFunctionHandle(internal.whoami.secret);
    return { handle, result: await ctx.runQuery(handle, { n: 21 }) };
  },
});

export const viaHandleInMutation = mutation({
  args: {},
  handler: async (ctx) => {
    const handle = await createFunctionHandle(internal.whoami.secret);
    return await ctx.runQuery(handle, { n: 5 });
  },
});
