import { httpRouter } from "convex/server";
import { httpAction } from "./_generated/server";

const http = httpRouter();

// For trusted servers only: Hull verifies a server token (`Authorization: Bearer hull_st_...`,
// derived from a key allowed `http:*`) and presents its key to the handler as the identity
// `{ issuer: "hull:server-key", subject: <key name> }`.
http.route({
  path: "/partner",
  method: "GET",
  handler: httpAction(async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (identity?.issuer !== "hull:server-key") {
      return new Response("unauthorized", { status: 401 });
    }
    return Response.json({ partner: "ACME", key: identity.subject, at: Date.now() });
  }),
});

export default http;
