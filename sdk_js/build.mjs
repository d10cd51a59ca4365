// Builds the two outputs and prints their sizes, which are part of the product.
import { build } from "esbuild";
import { minify } from "terser";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const common = {
  bundle: true,
  minify: true,
  target: "es2021",
  legalComments: "none",
  mangleProps: /^_/,
  logLevel: "warning",
};

const budget = JSON.parse(readFileSync("budget.json", "utf8"));

/**
 * web-vitals from its ES modules rather than its prebuilt bundle, without what the snippet
 * never asks for, so the second file does not carry it: soft navigations (reported only
 * with the `reportSoftNavs` option, which the snippet does not pass), INP's long animation
 * frames and their summary (the snippet reports long frames itself, and reads only INP's
 * input delay, processing and presentation), metric ids, and its selectors (the snippet
 * names elements its own way). Each
 * cut must find what it cuts: a web-vitals that changed fails the build, never ships whole
 * or half-cut unseen.
 */
const vitalsModules = fileURLToPath(new URL("node_modules/web-vitals/dist/modules/", import.meta.url));
const CUTS = {
  "lib/softNavs.js": [[/^[\s\S]*$/, "export const checkSoftNavsEnabled = () => false;\nexport const storeSoftNavEntry = () => {};\n"]],
  "attribution/onINP.js": [
    [/const attributeLoAFDetails = \(attribution\) => \{[\s\S]*?\n {4}\};\n/, "const attributeLoAFDetails = () => {};\n"],
    [/\n {4}observe\(\['long-animation-frame'\], handleLoAFEntries, opts\);/, ""],
    [/const handleLoAFEntries = [\s\S]*?\n {4}\};\n/, ""],
    [/const getIntersectingLoAFs = [\s\S]*?\n {4}\};\n/, "const getIntersectingLoAFs = () => [];\n"],
    [/\n {8}\/\/ Create a set of LoAF entries[\s\S]*?loaf\.startTime > latestProcessingEnd\)\);\n {8}\}\);/, ""],
    // The pruning of its lists once the entries at hand are taken, not at the next idle time.
    [/whenIdleOrHidden\(cleanupEntries\);/, "queueMicrotask(cleanupEntries);"],
  ],
  // Event entries taken as they arrive, not at the next idle time: the snippet reads INP at
  // page hide only, when web-vitals takes what is still queued at once, and an idle
  // callback for each batch of entries (and its visibility listener) took more of the main
  // thread than taking the entries (0.3–0.5 ms against 0.1 in Chromium, a click's batch).
  "onINP.js": [
    [
      /whenIdleOrHidden\(\(\) => \{(\n {16}for \(const entry of entries\) \{[\s\S]*?\n {16}\}\n {12})\}\);\n {8}\};/,
      "{$1}\n        };",
    ],
  ],
  // A metric's id tells reports of one metric apart for a page that sends each change;
  // the snippet sends each report as an event of its own.
  "lib/generateUniqueID.js": [[/^[\s\S]*$/, 'export const generateUniqueID = () => "";\n']],
  // The snippet names a metric's element as it names click targets (generateTarget).
  "lib/getSelector.js": [[/^[\s\S]*$/, 'export const getSelector = () => "";\n']],
};
const leanVitals = {
  name: "lean-web-vitals",
  setup(b) {
    b.onResolve({ filter: /^web-vitals\/attribution$/ }, () => ({ path: vitalsModules + "attribution/index.js" }));
    b.onLoad({ filter: /web-vitals[\\/]dist[\\/]modules[\\/].*\.js$/ }, ({ path }) => {
      const name = path.slice(vitalsModules.length).replaceAll("\\", "/");
      let contents = readFileSync(path, "utf8");
      for (const [pattern, replacement] of CUTS[name] || []) {
        if (!pattern.test(contents)) throw new Error(`web-vitals changed: ${name} has no ${pattern}`);
        contents = contents.replace(pattern, replacement);
      }
      return { contents, loader: "js" };
    });
  },
};
rmSync("dist", { recursive: true, force: true });

/**
 * The <script> files: esbuild bundles, terser minifies (its extra passes save about 4 %
 * over esbuild's minifier, and every byte of these is downloaded on every first visit).
 * `hoist` moves function declarations up front: that lets gzip match the snippet's
 * helpers better (about 0.5 %) but costs web-vitals' file as much, so it is per file.
 * The `unsafe*` options stay off: they rewrite comparisons in ways that differ for NaN
 * and undefined, which the event fields rely on. esbuild's syntax pass goes first: it
 * turns `const` into `let`, which terser keeps (about 1 % of the gzipped snippet). The
 * files are not marked "use strict" (tsconfig's strict would add it): nothing in them
 * depends on strict mode, and the directive costs bytes.
 */
async function script(entry, outfile, hoist) {
  const r = await build({
    ...common,
    plugins: [leanVitals],
    minify: false,
    minifySyntax: true,
    tsconfigRaw: { compilerOptions: { alwaysStrict: false } },
    entryPoints: [entry],
    format: "iife",
    write: false,
  });
  const out = await minify(r.outputFiles[0].text, {
    ecma: 2021,
    toplevel: true,
    compress: { passes: 5, unsafe_arrows: true, pure_getters: true, hoist_funs: hoist },
    mangle: { properties: { regex: /^_/ } },
    format: { comments: false },
  });
  writeFileSync(outfile, out.code);
}

mkdirSync("dist");
await script("src/iife.ts", "dist/microx.js", true);
await script("src/vitals-chunk.ts", "dist/microx-vitals.js", false);
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

for (const file of ["dist/microx.js", "dist/microx-vitals.js", "dist/microx.mjs"]) {
  const raw = readFileSync(file);
  const gz = gzipSync(raw, { level: 9 }).length;
  const br = brotliCompressSync(raw, {
    params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY },
  }).length;
  const limit = budget[file] ? `  (budget ${budget[file]} B gzip)` : "";
  console.log(`${file.padEnd(22)} ${String(raw.length).padStart(6)} B raw  ${String(gz).padStart(5)} B gzip  ${String(br).padStart(5)} B brotli${limit}`);
}
