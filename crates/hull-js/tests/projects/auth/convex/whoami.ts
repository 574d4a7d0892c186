import { v } from "convex/values";
import { log } from "convex/server";
import { mutation, query } from "./_generated/server";

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
