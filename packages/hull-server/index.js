// @hull/server: call Convex functions from a trusted server (SvelteKit `+page.server.ts`, API
// routes, workers) with a Hull server key. Internal functions are allowed when the key's scope
// allows them; the browser never sees the key.
//
// The long-lived key stays in this process: every request carries a short-lived token derived
// from it here, offline (Ed25519, no round trip), so a leaked request log leaks minutes of
// access at most. Both travel as ConvexHttpClient's admin auth, so Hull needs no client changes.
import { ConvexHttpClient } from "convex/browser";
import { deriveToken, parseKey } from "./token.js";

export { deriveToken, MAX_TOKEN_TTL_SECONDS } from "./token.js";

/**
 * A ConvexHttpClient for trusted servers. `query`, `mutation` and `action` accept public and
 * internal function references alike; what a key may call is decided by its scope on Hull.
 */
export class HullServerClient {
  /**
   * @param {string} url the deployment URL
   * @param {{serverKey: string, tokenTtlSeconds?: number, actAs?: object, allow?: string[]}} options
   */
  constructor(url, options) {
    if (!options || typeof options.serverKey !== "string") {
      throw new Error("HullServerClient needs { serverKey } (for example from $env/static/private).");
    }
    parseKey(options.serverKey); // fail fast on a malformed key
    this.#serverKey = options.serverKey;
    this.#ttlSeconds = options.tokenTtlSeconds ?? 300;
    this.#allow = options.allow;
    this.#actAs = options.actAs;
    this.#client = new ConvexHttpClient(url, { logger: options.logger ?? false });
  }

  #serverKey;
  #ttlSeconds;
  #allow;
  #actAs;
  #client;
  #token;
  #tokenExpiresAt = 0;

  /** A client acting as the given end user (the key must allow --act-as). */
  actingAs(identity) {
    return new HullServerClient(this.#client.url, { serverKey: this.#serverKey, tokenTtlSeconds: this.#ttlSeconds, allow: this.#allow, actAs: identity });
  }

  #authenticate() {
    const now = Math.floor(Date.now() / 1000);
    // Refresh with a margin so a token never expires in flight.
    if (!this.#token || now >= this.#tokenExpiresAt - Math.min(30, Math.floor(this.#ttlSeconds / 2))) {
      this.#token = deriveToken(this.#serverKey, { ttlSeconds: this.#ttlSeconds, allow: this.#allow, now });
      this.#tokenExpiresAt = now + this.#ttlSeconds;
    }
    this.#client.setAdminAuth(this.#token, this.#actAs);
  }

  query(reference, args = {}) {
    this.#authenticate();
    return this.#client.query(reference, args);
  }

  mutation(reference, args = {}) {
    this.#authenticate();
    return this.#client.mutation(reference, args);
  }

  action(reference, args = {}) {
    this.#authenticate();
    return this.#client.action(reference, args);
  }
}
