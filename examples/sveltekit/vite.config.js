import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [sveltekit()],
  // The Convex functions are deployed to Hull, not bundled into the app (only their generated
  // `api` references are imported).
  server: { fs: { allow: ["../../packages"] } },
});
