// Bundles one TypeScript source into an importable module, so pure helpers run under
// `node --test` without a separate compile step.
import { build } from "esbuild";

export async function load(entry) {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    write: false,
    platform: "neutral",
    logLevel: "silent",
  });
  const code = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
}
