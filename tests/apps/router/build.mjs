// Bundles the app and puts the built snippet beside it, as a site that adds the tag would.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

const snippet = new URL("../../../sdk_js/dist/", import.meta.url);
const out = new URL("dist/", import.meta.url);
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
await build({
  entryPoints: ["src/main.jsx"],
  outfile: "dist/app.js",
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2021",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
for (const name of ["index.html", "app.css"]) copyFileSync(new URL(`src/${name}`, import.meta.url), new URL(name, out));
// The snippet fetches its second file from beside itself.
for (const name of ["microx.js", "microx-vitals.js"]) copyFileSync(new URL(name, snippet), new URL(name, out));
