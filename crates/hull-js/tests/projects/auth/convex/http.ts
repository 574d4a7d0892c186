import { httpRouter } from "convex/server";
import { httpAction } from "./_generated/server";

const http = httpRouter();

// Who the request's `Authorization: Bearer <JWT>` says the caller is (null without one, or
// when the header is not a token of a configured provider).
http.route({
  path: "/whoami",
  method: "GET",
  handler: httpAction(async (ctx) => Response.json(await ctx.auth.getUserIdentity())),
});

export default http;
