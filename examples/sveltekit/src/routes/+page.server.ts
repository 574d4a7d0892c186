import { fail } from "@sveltejs/kit";
import { internal } from "$convex/_generated/api";
import { hullAs } from "$lib/hull.server";
import type { Actions, PageServerLoad } from "./$types";

// Stands in for your real session: the signed-in user's id, from a cookie.
function currentUser(cookies: { get(name: string): string | undefined }): string {
  return cookies.get("user") ?? "alice";
}

export const load: PageServerLoad = async ({ cookies }) => {
  const user = currentUser(cookies);
  // An internal query, reached only from here, acting as the signed-in user.
  const secret = await hullAs(user).query(internal.secrets.getSecretData, {});
  return { user, secret };
};

export const actions: Actions = {
  saveNote: async ({ cookies, request }) => {
    const text = String((await request.formData()).get("text") ?? "").trim();
    if (!text) return fail(400, { error: "Write something first." });
    await hullAs(currentUser(cookies)).mutation(internal.secrets.saveNote, { text });
    return { saved: true };
  },
  signIn: async ({ cookies, request }) => {
    const user = String((await request.formData()).get("user") ?? "").trim() || "alice";
    cookies.set("user", user, { path: "/", httpOnly: true, sameSite: "lax" });
    return { signedIn: user };
  },
};
