import { query } from "./_generated/server";

// Auth fixture: auth.config.ts is what this project is for (JsRuntime::evaluate_auth_config).
export const whoami = query({
  args: {},
  handler: async (ctx) => await ctx.auth.getUserIdentity(),
});
