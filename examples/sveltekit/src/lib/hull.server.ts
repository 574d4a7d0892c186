// The SvelteKit server's Hull client. The server key comes from the private environment
// (`HULL_SERVER_KEY`, set where the server runs); `$lib/*.server.ts` modules can never be
// imported by browser code, and SvelteKit refuses to build if one is.
import { env } from "$env/dynamic/private";
import { env as publicEnv } from "$env/dynamic/public";
import { HullServerClient, deriveToken } from "@hull/server";

function serverKey(): string {
  const key = env.HULL_SERVER_KEY;
  if (!key) throw new Error("HULL_SERVER_KEY is not set: mint one with `hull keys create` (see the README).");
  return key;
}

/** Hull's API URL: the same deployment the browser subscribes to. */
export function hullUrl(): string {
  return env.HULL_URL ?? publicEnv.PUBLIC_CONVEX_URL;
}

/** Where Hull serves HTTP actions (port 3211 by default). */
export function hullSiteUrl(): string {
  return env.HULL_SITE_URL ?? hullUrl().replace(/:3210\b/, ":3211");
}

let client: HullServerClient | undefined;

/** A client calling internal functions with the server key, acting as `user`. */
export function hullAs(user: string): HullServerClient {
  client ??= new HullServerClient(hullUrl(), { serverKey: serverKey() });
  return client.actingAs({ issuer: "https://sveltekit.example", subject: user });
}

/** A short-lived token (one minute) for an HTTP action that only trusted servers may call. */
export function shortLivedToken(): string {
  return deriveToken(serverKey(), { ttlSeconds: 60 });
}
