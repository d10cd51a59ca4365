// Builds the two outputs and prints their sizes, which are part of the product.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const common = {
  bundle: true,
  minify: true,
  target: "es2019",
  legalComments: "none",
  mangleProps: /^_/,
  logLevel: "warning",
};

rmSync("dist", { recursive: true, force: true });
await build({ ...common, entryPoints: ["src/iife.ts"], outfile: "dist/microx.js", format: "iife" });
await build({
  ...common,
  entryPoints: ["src/index.ts"],
  outfile: "dist/microx.mjs",
  format: "esm",
  // An npm user's bundler dedupes web-vitals with their own copy.
  external: ["web-vitals"],
});
execFileSync("node_modules/.bin/tsc", ["-p", "tsconfig.json", "--emitDeclarationOnly"], {
  stdio: "inherit",
});

for (const file of ["dist/microx.js", "dist/microx.mjs"]) {
  const raw = readFileSync(file);
  const gz = gzipSync(raw, { level: 9 }).length;
  const br = brotliCompressSync(raw, {
    params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY },
  }).length;
  console.log(`${file.padEnd(18)} ${String(raw.length).padStart(6)} B raw  ${String(gz).padStart(5)} B gzip  ${String(br).padStart(5)} B brotli`);
}
