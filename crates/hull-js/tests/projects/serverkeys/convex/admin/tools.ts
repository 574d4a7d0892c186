import { internalAction, internalQuery } from "./../_generated/server";
import { internal } from "./../_generated/api";

// Reached by a `admin/*` pattern.
export const ping = internalQuery({
  args: {},
  handler: async () => "pong",
});

// An action calling an internal query: allowed for a key whose scope includes this action.
export const pingTwice = internalAction({
  args: {},
  handler: async (ctx): Promise<string[]> => [await ctx.runQuery(internal.admin.tools.ping, {}), await ctx.runQuery(internal.admin.tools.ping, {})],
});
