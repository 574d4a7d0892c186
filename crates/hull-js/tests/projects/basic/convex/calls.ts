import { ConvexError, v } from "convex/values";
import { api } from "./_generated/api";
import { action, mutation, query } from "./_generated/server";
import { createFunctionHandle } from "convex/server";

// --- ctx.runMutation / ctx.runQuery inside transactions ---------------------------------------

export const insertOne = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    return await ctx.db.insert("channels", { name });
  },
});

export const insertThenThrow = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    await ctx.db.insert("channels", { name });
    throw new ConvexError({ code: "NOPE", name });
  },
});

export const names = query({
  args: {},
  handler: async (ctx) => {
    const all = await ctx.db.query("channels").collect();
    return all.map((c) => c.name);
  },
});

// A failing nested mutation leaves no writes; the caller catches and goes on.
export const nestedMutations = mutation({
  args: {},
  handler: async (ctx): Promise<any> => {
    await ctx.db.insert("channels", { name: "outer" });
    let caught: any = null;
    try {
      await ctx.runMutation(api.calls.insertThenThrow, { name: "rolled-back" });
    } catch (e: any) {
      caught = { message: e.message, data: e.data, isConvexError: e instanceof ConvexError };
    }
    let badArgs = "";
    try {
      await ctx.runMutation(api.calls.insertOne, { name: 7 as any });
    } catch (e: any) {
      badArgs = e.message.split("\n")[0];
    }
    let wrongKind = "";
    try {
      await ctx.runMutation(api.calls.names as any, {});
    } catch (e: any) {
      wrongKind = e.message;
    }
    const inner = await ctx.runMutation(api.calls.insertOne, { name: "inner" });
    const seenByQuery: string[] = await ctx.runQuery(api.calls.names, {});
    const stale: string[] = await (ctx.runQuery as any)(api.calls.names, {}, { useStaleSnapshot: true });
    const innerDoc = await ctx.db.get(inner);
    return { caught, badArgs, wrongKind, seenByQuery, stale, innerName: innerDoc?.name ?? null };
  },
});

// A nested mutation that succeeded is undone with its caller when the caller fails.
export const nestedThenFail = mutation({
  args: {},
  handler: async (ctx) => {
    await ctx.runMutation(api.calls.insertOne, { name: "doomed" });
    throw new Error("caller fails");
  },
});

// Nested-in-nested: the middle mutation catches its own callee's failure.
export const middle = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    await ctx.db.insert("channels", { name: `${name}-middle` });
    try {
      await ctx.runMutation(api.calls.insertThenThrow, { name: `${name}-deep` });
    } catch {
      // ignored
    }
    return await ctx.runQuery(api.calls.names, {});
  },
});

export const twoLevels = mutation({
  args: {},
  handler: async (ctx): Promise<string[]> => {
    return await ctx.runMutation(api.calls.middle, { name: "two" });
  },
});

// What a query may not call (raw syscalls: the library's types already refuse these).
export const queryCallsTooMuch = query({
  args: {},
  handler: async (ctx) => {
    const convex = (globalThis as any).Convex;
    const results: string[] = [];
    const attempt = async (f: () => any) => {
      try {
        await f();
        results.push("ok");
      } catch (e: any) {
        results.push(e.message);
      }
    };
    const runUdf = (udfType: string) =>
      convex.asyncSyscall(
        "1.0/runUdf",
        JSON.stringify({ udfType, name: "calls:insertOne", args: { name: "q" } }),
      );
    await attempt(() => runUdf("mutation"));
    await attempt(() => runUdf("snapshotQuery"));
    await attempt(() => runUdf("action"));
    await attempt(() => (ctx.runQuery as any)(api.calls.names, {}, { useStaleSnapshot: true }));
    await attempt(() =>
      convex.asyncSyscall("1.0/actions/query", JSON.stringify({ name: "calls:names", args: {} })),
    );
    await attempt(() =>
      convex.asyncSyscall("1.0/runUdf", JSON.stringify({ udfType: "query", args: {} })),
    );
    await attempt(() =>
      convex.asyncSyscall(
        "1.0/runUdf",
        JSON.stringify({ udfType: "query", name: "calls:names", args: [1] }),
      ),
    );
    await attempt(() => convex.asyncSyscall("hull/fetch", "{}"));
    return results;
  },
});

// --- ctx.runAction ------------------------------------------------------------------------------

export const innerAction = action({
  args: { n: v.number() },
  handler: async (ctx, { n }): Promise<any> => {
    console.log("inner action", n);
    await ctx.runMutation(api.calls.insertOne, { name: `from-action-${n}` });
    const names: string[] = await ctx.runQuery(api.calls.names, {});
    if (n < 0) throw new ConvexError({ negative: n });
    return { n, count: names.length };
  },
});

export const outerAction = action({
  args: { n: v.number() },
  handler: async (ctx, { n }): Promise<any> => {
    const first: any = await ctx.runAction(api.calls.innerAction, { n });
    const both: any[] = await Promise.all([
      ctx.runAction(api.calls.innerAction, { n: n + 1 }),
      ctx.runQuery(api.calls.names, {}),
    ]);
    let failed: any = null;
    try {
      await ctx.runAction(api.calls.innerAction, { n: -1 });
    } catch (e: any) {
      failed = { data: e.data, isConvexError: e instanceof ConvexError };
    }
    let wrongKind = "";
    try {
      await ctx.runAction(api.calls.names as any, {});
    } catch (e: any) {
      wrongKind = e.message;
    }
    return { first, second: both[0], namesBefore: both[1].length, failed, wrongKind };
  },
});

export const recursiveAction = action({
  args: { n: v.number() },
  handler: async (ctx, { n }): Promise<number> => {
    if (n === 0) return 0;
    const inner: number = await ctx.runAction(api.calls.recursiveAction, { n: n - 1 });
    return inner + 1;
  },
});

// The 1.0/actions/* argument shapes, straight at the host.
export const actionSyscallShapes = action({
  args: {},
  handler: async () => {
    const convex = (globalThis as any).Convex;
    const results: string[] = [];
    const attempt = async (op: string, args: any) => {
      try {
        results.push(JSON.stringify(await convex.asyncSyscall(op, JSON.stringify(args))));
      } catch (e: any) {
        results.push(e.message);
      }
    };
    const base = { version: "1.48.0", requestId: "r" };
    await attempt("1.0/actions/query", { ...base, name: "calls:names", args: {} });
    await attempt("1.0/actions/query", { ...base, name: "calls", args: {} });
    await attempt("1.0/actions/query", { ...base, args: {} });
    await attempt("1.0/actions/query", { ...base, reference: "_reference/x", args: {} });
    await attempt("1.0/actions/mutation", { ...base, functionHandle: "function://x", args: {} });
    await attempt("1.0/actions/action", { ...base, name: "calls:innerAction", args: "nope" });
    await attempt("1.0/actions/action", { ...base, name: 5, args: {} });
    await attempt("1.0/runUdf", { udfType: "query", name: "calls:names", args: {} });
    return results;
  },
});

// --- fetch -------------------------------------------------------------------------------------

export const fetchAll = action({
  args: { base: v.string(), closed: v.string() },
  handler: async (_ctx, { base, closed }) => {
    const get = await fetch(`${base}/echo?x=1`, { headers: { "X-Test": "yes" } });
    const getJson: any = await get.json();
    const postText = await fetch(`${base}/echo`, { method: "POST", body: "héllo" });
    const postBytes = await fetch(new URL("/echo", base), {
      method: "PUT",
      body: new Uint8Array([0, 1, 2, 255]),
      headers: [["content-type", "application/octet-stream"]],
    });
    const postBuffer = await fetch(new Request(`${base}/echo`, { method: "PATCH", body: new Uint8Array([9, 8]).buffer }));
    const binary = await fetch(`${base}/bytes`);
    const missing = await fetch(`${base}/missing`);
    const redirected = await fetch(`${base}/redirect`);
    const manual = await fetch(`${base}/redirect`, { redirect: "manual" });
    const parallelStart = Date.now();
    const parallel = await Promise.all([1, 2, 3].map((i) => fetch(`${base}/slow?i=${i}`).then((r) => r.text())));
    const parallelMs = Date.now() - parallelStart;
    let networkError: any = null;
    try {
      await fetch(closed);
    } catch (e: any) {
      networkError = { name: e.name, isTypeError: e instanceof TypeError, hasMessage: e.message.startsWith("fetch failed: ") };
    }
    let badScheme = "";
    try {
      await fetch("ftp://127.0.0.1/x");
    } catch (e: any) {
      badScheme = `${e.name}: ${e.message}`;
    }
    let aborted = "";
    try {
      await fetch(`${base}/echo`, { signal: AbortSignal.abort() });
    } catch (e: any) {
      aborted = e.name;
    }
    const postJson: any = await (await fetch(`${base}/echo`, { method: "POST", body: postText.headers.get("x-echo-length") })).json();
    return {
      get: { status: get.status, ok: get.ok, method: getJson.method, path: getJson.path, xTest: getJson.headers["x-test"], contentType: get.headers.get("content-type") },
      postText: await postText.json(),
      postBytes: await postBytes.json(),
      postBuffer: await postBuffer.json(),
      postJson: postJson.body,
      binary: Array.from(new Uint8Array(await binary.arrayBuffer())),
      missing: { status: missing.status, ok: missing.ok, statusText: missing.statusText, text: await missing.text() },
      redirected: { status: redirected.status, redirected: redirected.redirected, path: ((await redirected.json()) as any).path, url: redirected.url.endsWith("/echo") },
      manual: { status: manual.status, location: manual.headers.get("location") },
      parallel,
      parallelMs,
      networkError,
      badScheme,
      aborted,
    };
  },
});

export const fetchInMutation = mutation({
  args: {},
  handler: async () => {
    try {
      await fetch("http://127.0.0.1:1/");
      return "fetched";
    } catch (e: any) {
      return e.message;
    }
  },
});

// --- unhandled promise rejections ----------------------------------------------------------------

export const unhandledRejection = query({
  args: { handleLater: v.boolean() },
  handler: async (ctx, { handleLater }) => {
    const forgotten = Promise.reject(new Error("forgotten"));
    if (handleLater) {
      // Handled before the microtask checkpoint ends: fine.
      await null;
      await null;
      try {
        await forgotten;
      } catch (e: any) {
        return `caught ${e.message}`;
      }
    }
    await ctx.db.query("channels").first();
    return "done";
  },
});

export const unhandledInAction = action({
  args: {},
  handler: async () => {
    void (async () => {
      throw new ConvexError({ why: "background" });
    })();
    await new Promise((resolve) => setTimeout(resolve, 5));
    return "done";
  },
});

// --- performance.now ---------------------------------------------------------------------------

const spinFor = (ms: number) => {
  let x = 0;
  for (let i = 0; i < ms * 20000; i++) x += i;
  return x;
};

export const perfInQuery = query({
  args: {},
  handler: async () => {
    const first = performance.now();
    spinFor(5);
    return { first, second: performance.now(), origin: performance.timeOrigin === Date.now() };
  },
});

export const perfInMutation = mutation({
  args: {},
  handler: async () => {
    const first = performance.now();
    performance.mark("start");
    spinFor(5);
    performance.mark("end");
    const second = performance.now();
    const measure = performance.measure("spin", "start", "end");
    return {
      firstSmall: first >= 0 && first < 1000,
      increases: second > first,
      measured: measure.duration > 0 && measure.duration <= second - first,
      entries: performance.getEntries().map((e) => `${e.entryType}:${e.name}`),
    };
  },
});

export const fetchOne = action({
  args: { url: v.string(), timeoutMs: v.optional(v.number()) },
  handler: async (_ctx, { url, timeoutMs }) => {
    try {
      const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
      const response = await fetch(url, { signal });
      return { status: response.status, text: await response.text() };
    } catch (e: any) {
      return { error: `${e.name}: ${e.message}` };
    }
  },
});

// Nested calls share the transaction's user-time budget: catching the callee's timeout does
// not buy the caller more time.
export const spinsThroughCallees = query({
  args: {},
  handler: async (ctx) => {
    let caught = 0;
    for (let i = 0; i < 5; i++) {
      try {
        await ctx.runQuery(api.util.spin, {});
      } catch {
        caught += 1;
      }
    }
    return caught;
  },
});

// --- FormData ----------------------------------------------------------------------------------

export const formRoundTrip = action({
  args: { echo: v.string() },
  handler: async (_ctx, { echo }) => {
    const form = new FormData();
    form.append("title", 'a "quoted"\nline');
    form.append("file", new Blob([new Uint8Array([1, 2, 3])], { type: "application/x-thing" }), "data.bin");
    form.append("tags", "x");
    form.append("tags", "y");
    form.set("title", "replaced");
    const encoded = new Response(form);
    const contentType = encoded.headers.get("content-type")!;
    const parsed = await encoded.formData();
    const file = parsed.get("file") as File;
    // Sent with fetch: the server sees the multipart body and its boundary.
    const echoed: any = await (await fetch(echo, { method: "POST", body: form })).json();
    return {
      multipart: contentType.startsWith("multipart/form-data; boundary="),
      keys: [...parsed.keys()],
      title: parsed.get("title"),
      tags: parsed.getAll("tags"),
      file: { name: file.name, type: file.type, bytes: Array.from(new Uint8Array(await file.arrayBuffer())) },
      // Every encoding picks its own boundary; the body uses the one its header names.
      sentType: echoed.body.startsWith("--" + echoed.headers["content-type"].split("boundary=")[1] + "\r\n"),
      sentHasFile: echoed.body.includes('name="file"; filename="data.bin"'),
      urlencoded: [...(await new Request("https://x.test/", { method: "POST", body: new URLSearchParams({ a: "1 2", b: "é" }) }).formData()).entries()],
    };
  },
});

export const formDataInQuery = query({
  args: {},
  handler: async () => {
    const response = new Response("a=1", { headers: { "content-type": "application/x-www-form-urlencoded" } });
    try {
      await response.formData();
      return "parsed";
    } catch (e: any) {
      return e.message;
    }
  },
});

// --- ReadableStream bodies ----------------------------------------------------------------------

export const streams = action({
  args: { base: v.string() },
  handler: async (_ctx, { base }) => {
    const encoder = new TextEncoder();
    const decoder = new TextDecoder();
    // Reading a fetched body chunk by chunk.
    const fetched = await fetch(`${base}/bytes`);
    const reader = fetched.body!.getReader();
    const seen: number[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen.push(...value);
    }
    let lockedError = "";
    try {
      await fetched.text();
    } catch (e: any) {
      lockedError = `${e.name}: ${e.message}`;
    }
    // for await over a body; clones read independently.
    const original = new Response(ReadableStream.from([encoder.encode("ab"), encoder.encode("cd")]));
    const copy = original.clone();
    const parts: string[] = [];
    for await (const chunk of original.body as any) parts.push(decoder.decode(chunk));
    const copyText = await copy.text();
    // A request body sent as a stream.
    const upload = new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode("streamed "));
        controller.enqueue(encoder.encode("upload"));
        controller.close();
      },
    });
    const echoed: any = await (await fetch(`${base}/echo`, { method: "POST", body: upload })).json();
    // Errors from the source reach the reader.
    let sourceError = "";
    try {
      await new Response(new ReadableStream({ pull() { throw new Error("source failed"); } })).text();
    } catch (e: any) {
      sourceError = e.message;
    }
    let chunkError = "";
    try {
      await new Response(ReadableStream.from(["not bytes"])).text();
    } catch (e: any) {
      chunkError = `${e.name}: ${e.message}`;
    }
    return {
      seen,
      bodyUsed: fetched.bodyUsed,
      lockedError,
      parts,
      copyText,
      uploaded: echoed.body,
      blobStream: await new Response(new Blob(["from a blob"]).stream()).text(),
      sourceError,
      chunkError,
    };
  },
});

export const textStreams = action({
  args: {},
  handler: async () => {
    const bytes = new TextEncoder().encode("héllo wörld € 😀");
    // TextDecoder with {stream: true}: multi-byte characters split across chunks.
    const decoder = new TextDecoder();
    let byteByByte = "";
    for (const b of bytes) byteByByte += decoder.decode(new Uint8Array([b]), { stream: true });
    byteByByte += decoder.decode();
    // The same through TextDecoderStream.
    const source = ReadableStream.from(Array.from(bytes, (b) => new Uint8Array([b])));
    const pieces: string[] = [];
    for await (const text of source.pipeThrough(new TextDecoderStream()) as any) pieces.push(text);
    // A TransformStream (with flush) and TextEncoderStream into a Response.
    const upper = ReadableStream.from(["a", "b", "c"])
      .pipeThrough(
        new TransformStream<string, string>({
          transform(chunk, c) {
            c.enqueue(chunk.toUpperCase());
          },
          flush(c) {
            c.enqueue("!");
          },
        }),
      )
      .pipeThrough(new TextEncoderStream());
    const upperText = await new Response(upper).text();
    // pipeTo a WritableStream sink.
    const written: string[] = [];
    await ReadableStream.from(["x", "y"]).pipeTo(
      new WritableStream({
        write(chunk) {
          written.push(chunk);
        },
      }),
    );
    return { byteByByte, joined: pieces.join(""), upperText, written };
  },
});

// --- crypto.subtle: RSASSA-PKCS1-v1_5 and ECDSA P-256 (what jose's RS256/ES256 use) -------------

export const subtleAsymmetric = action({
  args: {
    rsaPkcs8: v.string(),
    rsaSpki: v.string(),
    rsaJwk: v.any(),
    ecPkcs8: v.string(),
    ecSpki: v.string(),
    ecJwk: v.any(),
    ecOpensslSignature: v.string(),
  },
  handler: async (_ctx, a) => {
    const der = (pem: string) =>
      Uint8Array.from(atob(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
    const data = new TextEncoder().encode("hull signs this");
    const tampered = new TextEncoder().encode("hull signs that");
    const rs256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const rsaPrivate = await crypto.subtle.importKey("pkcs8", der(a.rsaPkcs8), rs256, false, ["sign"]);
    const rsaPublic = await crypto.subtle.importKey("spki", der(a.rsaSpki), rs256, true, ["verify"]);
    const rsaJwkPublic = await crypto.subtle.importKey("jwk", a.rsaJwk, rs256, false, ["verify"]);
    const rsaSignature = await crypto.subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, rsaPrivate, data);
    const es256 = { name: "ECDSA", namedCurve: "P-256" };
    const ecdsa = { name: "ECDSA", hash: "SHA-256" };
    const ecPrivate = await crypto.subtle.importKey("pkcs8", der(a.ecPkcs8), es256, false, ["sign"]);
    const ecPublic = await crypto.subtle.importKey("spki", der(a.ecSpki), es256, false, ["verify"]);
    const ecJwkPublic = await crypto.subtle.importKey("jwk", a.ecJwk, es256, false, ["verify"]);
    const ecSignature = await crypto.subtle.sign(ecdsa, ecPrivate, data);
    let wrongKey = "";
    try {
      await crypto.subtle.sign(rs256, rsaPublic, data);
    } catch (e: any) {
      wrongKey = `${e.name}: ${e.message}`;
    }
    let badData = "";
    try {
      await crypto.subtle.importKey("spki", new Uint8Array([1, 2, 3]), rs256, false, ["verify"]);
    } catch (e: any) {
      badData = e.name;
    }
    return {
      rsaSignature: hex(rsaSignature),
      rsaVerifies: await crypto.subtle.verify(rs256, rsaPublic, rsaSignature, data),
      rsaJwkVerifies: await crypto.subtle.verify(rs256, rsaJwkPublic, rsaSignature, data),
      rsaTampered: await crypto.subtle.verify(rs256, rsaPublic, rsaSignature, tampered),
      rsaAlgorithm: {
        ...rsaPrivate.algorithm,
        publicExponent: Array.from((rsaPrivate.algorithm as any).publicExponent),
      },
      rsaTypes: [rsaPrivate.type, rsaPublic.type, rsaPrivate instanceof CryptoKey],
      spkiRoundTrip: hex(await crypto.subtle.exportKey("spki", rsaPublic)) === hex(der(a.rsaSpki).buffer),
      ecLength: ecSignature.byteLength,
      ecVerifies: await crypto.subtle.verify(ecdsa, ecPublic, ecSignature, data),
      ecJwkVerifies: await crypto.subtle.verify(ecdsa, ecJwkPublic, ecSignature, data),
      ecOpenssl: await crypto.subtle.verify(ecdsa, ecPublic, der(a.ecOpensslSignature), data),
      ecTampered: await crypto.subtle.verify(ecdsa, ecPublic, ecSignature, tampered),
      ecAlgorithm: ecPrivate.algorithm,
      wrongKey,
      badData,
    };
  },
});

// --- Ops that are not supported yet: each fails with a clear, catchable error ------------------

const collectErrors = async (attempts: Array<() => Promise<unknown>>) => {
  const out: string[] = [];
  for (const attempt of attempts) {
    try {
      await attempt();
      out.push("ok");
    } catch (e: any) {
      out.push(e.message);
    }
  }
  return out;
};

export const unsupportedInMutation = mutation({
  args: {},
  handler: async (ctx) => {
    return await collectErrors([
      () => ctx.scheduler.runAfter(0, api.calls.names, {}),
      () => ctx.scheduler.cancel("x" as any),
      () => ctx.storage.getUrl("kg2xxx" as any),
      () => ctx.storage.generateUploadUrl(),
      () => createFunctionHandle(api.calls.names),
    ]);
  },
});

export const unsupportedInAction = action({
  args: {},
  handler: async (ctx) => {
    return await collectErrors([
      () => ctx.scheduler.runAfter(0, api.calls.names, {}),
      () => ctx.storage.getUrl("kg2xxx" as any),
      () => ctx.vectorSearch("channels" as any, "by_embedding" as any, { vector: [1, 2] } as any),
      () => createFunctionHandle(api.calls.names),
    ]);
  },
});

// --- ctx.auth.getUserIdentity(): the caller's identity, inherited by nested calls ---------------

export const whoamiAction = action({
  args: {},
  handler: async (ctx) => await ctx.auth.getUserIdentity(),
});

export const whoamiMutation = mutation({
  args: {},
  handler: async (ctx): Promise<any> => ({
    own: await ctx.auth.getUserIdentity(),
    viaQuery: await ctx.runQuery(api.util.whoami, {}),
  }),
});

export const whoamiEverywhere = action({
  args: {},
  handler: async (ctx): Promise<any> => ({
    own: (await ctx.auth.getUserIdentity())?.subject ?? null,
    viaQuery: (await ctx.runQuery(api.util.whoami, {}))?.subject ?? null,
    viaMutation: (await ctx.runMutation(api.calls.whoamiMutation, {})).viaQuery?.subject ?? null,
    viaAction: (await ctx.runAction(api.calls.whoamiAction, {}))?.subject ?? null,
  }),
});
