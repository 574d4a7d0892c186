import { httpRouter } from "convex/server";
import { httpAction } from "./_generated/server";

const http = httpRouter();

// Admits trusted servers only: a server key or token allowed `http:*` shows up as the
// identity { issuer: "hull:server-key", subject: <key name> }.
http.route({
  path: "/partner",
  method: "GET",
  handler: httpAction(async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity?.issuer !== "hull:server-key") {
      return new Response("unauthorized", { status: 401 });
    }
    return Response.json({ key: identity.subject });
  }),
});

export default http;
