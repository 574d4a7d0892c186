import { json } from "@sveltejs/kit";
import { hullSiteUrl, shortLivedToken } from "$lib/hull.server";
import type { RequestHandler } from "./$types";

// An API route calling an HTTP action that only trusted servers may use: it presents a token
// derived from the server key, valid for one minute, never the key itself.
export const GET: RequestHandler = async () => {
  const response = await fetch(`${hullSiteUrl()}/partner`, {
    headers: { authorization: `Bearer ${shortLivedToken()}` },
  });
  return json({ status: response.status, body: await response.json() });
};
