import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const { cleanUrl } = await load("src/lib/url.ts");
const { clip } = await load("src/lib/text.ts");
const { uuid } = await load("src/lib/uuid.ts");

test("cleanUrl drops query strings and fragments", () => {
  assert.equal(cleanUrl("https://shop.example/a/b?email=a@b.c&t=1#x"), "https://shop.example/a/b");
  assert.equal(cleanUrl("https://shop.example/#/route"), "https://shop.example/");
  assert.equal(cleanUrl("https://shop.example/a"), "https://shop.example/a");
});

test("clip collapses whitespace and cuts to the limit", () => {
  assert.equal(clip("  Add\n\t to   basket ", 100), "Add to basket");
  assert.equal(clip("x".repeat(150), 100).length, 100);
  assert.equal(clip(null, 10), "");
});

test("uuid is a v4 UUID the contract accepts, without crypto.randomUUID too", () => {
  const pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid(), pattern);
  const original = globalThis.crypto.randomUUID;
  globalThis.crypto.randomUUID = undefined;
  try {
    const ids = new Set(Array.from({ length: 1000 }, uuid));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.match(id, pattern);
  } finally {
    globalThis.crypto.randomUUID = original;
  }
});
