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

// A webhook-style endpoint guarded by a shared token from the environment: 401 without the
// right Authorization header, 200 with it.
http.route({
  path: "/guarded",
  method: "GET",
  handler: httpAction(async (_ctx, request) => {
    const expected = process.env.WEBHOOK_TOKEN;
    if (!expected || request.headers.get("authorization") !== `Bearer ${expected}`) {
      return new Response("unauthorized", { status: 401 });
    }
    return new Response("welcome", { status: 200 });
  }),
});

http.route({
  path: "/boom",
  method: "GET",
  handler: httpAction(async () => {
    throw new Error("http boom");
  }),
});

// Proxies GET ?url=... through fetch(); ?action=n runs an action with ctx.runAction.
http.route({
  path: "/proxy",
  method: "GET",
  handler: httpAction(async (ctx, request) => {
    const params = new URL(request.url).searchParams;
    const n = params.get("action");
    if (n !== null) {
      const result = await ctx.runAction(api.calls.innerAction, { n: Number(n) });
      return Response.json(result);
    }
    const upstream = await fetch(params.get("url")!, { method: "POST", body: "via http action" });
    return new Response(await upstream.arrayBuffer(), {
      status: upstream.status,
      headers: { "content-type": upstream.headers.get("content-type") ?? "text/plain" },
    });
  }),
});

// Parses an urlencoded or multipart body with request.formData().
http.route({
  path: "/form",
  method: "POST",
  handler: httpAction(async (_ctx, request) => {
    const form = await request.formData();
    const entries: any[] = [];
    for (const [name, value] of form) {
      entries.push(
        typeof value === "string"
          ? [name, value]
          : [name, { file: value.name, type: value.type, size: value.size, text: await value.text() }],
      );
    }
    return Response.json(entries);
  }),
});

// A streamed response, written after the handler returned (timers and a query in between).
http.route({
  path: "/stream",
  method: "GET",
  handler: httpAction(async (ctx) => {
    const encoder = new TextEncoder();
    let step = 0;
    const body = new ReadableStream({
      async pull(controller) {
        step += 1;
        if (step === 4) {
          const names: string[] = await ctx.runQuery(api.calls.names, {});
          controller.enqueue(encoder.encode(`names=${names.length}`));
          controller.close();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
        controller.enqueue(encoder.encode(`part${step};`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  }),
});

// Convex's streaming pattern: return the readable side, write the other side afterwards.
http.route({
  path: "/transform",
  method: "GET",
  handler: httpAction(async () => {
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    void (async () => {
      for (const word of ["streamed", " ", "é", "!"]) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        await writer.write(encoder.encode(word));
      }
      await writer.close();
    })();
    return new Response(readable, { headers: { "content-type": "text/plain; charset=utf-8" } });
  }),
});

// Echoes the request body: large bodies in and out.
http.route({
  path: "/echo",
  method: "POST",
  handler: httpAction(async (_ctx, request) => {
    const body = await request.arrayBuffer();
    return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  }),
});

export default http;
