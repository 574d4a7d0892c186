import type { FunctionArgs, FunctionReference, FunctionReturnType } from "convex/server";
import type { UserIdentityAttributes } from "convex/server";

/** The longest lifetime of a derived token, in seconds. */
export declare const MAX_TOKEN_TTL_SECONDS: number;

/** Derives a short-lived `hull_st_...` token from a `hull_sk_...` server key, offline. */
export declare function deriveToken(
  serverKey: string,
  options?: { ttlSeconds?: number; allow?: string[]; now?: number },
): string;

export interface HullServerClientOptions {
  /** The `hull_sk_...` key. Keep it in private server-side configuration. */
  serverKey: string;
  /** Lifetime of the tokens derived for requests (default 300 s, at most 3600 s). */
  tokenTtlSeconds?: number;
  /** Narrow the key's scope for this client's tokens. */
  allow?: string[];
  /** Call functions as this end user (the key must have been minted with --act-as). */
  actAs?: UserIdentityAttributes;
  /** Passed to ConvexHttpClient. */
  logger?: boolean;
}

/** A ConvexHttpClient for trusted servers: public and internal functions, no casts. */
export declare class HullServerClient {
  constructor(url: string, options: HullServerClientOptions);
  actingAs(identity: UserIdentityAttributes): HullServerClient;
  query<Query extends FunctionReference<"query", "public" | "internal">>(
    query: Query,
    ...args: FunctionArgs<Query> extends Record<string, never> ? [args?: FunctionArgs<Query>] : [args: FunctionArgs<Query>]
  ): Promise<FunctionReturnType<Query>>;
  mutation<Mutation extends FunctionReference<"mutation", "public" | "internal">>(
    mutation: Mutation,
    ...args: FunctionArgs<Mutation> extends Record<string, never> ? [args?: FunctionArgs<Mutation>] : [args: FunctionArgs<Mutation>]
  ): Promise<FunctionReturnType<Mutation>>;
  action<Action extends FunctionReference<"action", "public" | "internal">>(
    action: Action,
    ...args: FunctionArgs<Action> extends Record<string, never> ? [args?: FunctionArgs<Action>] : [args: FunctionArgs<Action>]
  ): Promise<FunctionReturnType<Action>>;
}
