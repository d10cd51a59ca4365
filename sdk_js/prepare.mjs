// `npm install ./sdk_js` links this folder and runs this: its build tools are
// devDependencies, which npm does not install for a linked package, so they are installed
// here first (their own scripts skipped: this file is one of them), then the build runs.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ["npm"];
if (!existsSync("node_modules/esbuild")) {
  execFileSync(npm[0], [...npm.slice(1), "ci", "--ignore-scripts", "--no-audit", "--no-fund"], { stdio: "inherit" });
}
execFileSync(process.execPath, ["build.mjs"], { stdio: "inherit" });
