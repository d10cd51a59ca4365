import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

// The script build's gzipped sizes are a published number: growing past the budget fails.
const budget = JSON.parse(readFileSync("budget.json", "utf8"));

for (const [file, limit] of Object.entries(budget)) {
  test(`${file} stays within ${limit} B gzipped`, () => {
    const size = gzipSync(readFileSync(file), { level: 9 }).length;
    assert.ok(size <= limit, `${file} is ${size} B gzipped, over its ${limit} B budget`);
  });
}
