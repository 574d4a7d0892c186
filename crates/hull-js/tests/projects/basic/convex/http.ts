import { httpRouter } from "convex/server";
import { api } from "./_generated/api";
import { httpAction } from "./_generated/server";

const http = httpRouter();

http.route({
  path: "/hello",
  method: "GET",
  handler: httpAction(async () => new Response("hello", { status: 200 })),
});

http.route({
  pathPrefix: "/files/",
  method: "POST",
  handler: httpAction(async (_ctx, request) => {
    const text = await request.text();
    const url = new URL(request.url);
    return new Response(
      JSON.stringify({ len: text.length, path: url.pathname, q: url.searchParams.get("q") }),
      { headers: { "content-type": "application/json", "x-custom": "1" } },
    );
  }),
});

http.route({
  path: "/channels",
  method: "GET",
  handler: httpAction(async (ctx) => {
    const result = await ctx.runQuery(api.channels.all, {});
    return Response.json(result);
  }),
});

http.route({
  path: "/channels",
  method: "POST",
  handler: httpAction(async (ctx, request) => {
    const { name } = await request.json();
    const id = await ctx.runMutation(api.channels.create, { name });
    return new Response(JSON.stringify({ id }), { status: 201 });
  }),
});

http.route({
  path: "/boom",
  method: "GET",
  handler: httpAction(async () => {
    throw new Error("http boom");
  }),
});

export default http;
