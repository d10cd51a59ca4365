import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { load } from "./load.mjs";

const { cleanUrl } = await load("src/lib/url.ts");
const { clip, scrub } = await load("src/lib/text.ts");
const { uuid } = await load("src/lib/uuid.ts");

test("cleanUrl drops query strings and fragments", () => {
  assert.equal(cleanUrl("https://shop.example/a/b?email=a@b.c&t=1#x"), "https://shop.example/a/b");
  assert.equal(cleanUrl("https://shop.example/#access_token=abc"), "https://shop.example/");
  assert.equal(cleanUrl("https://shop.example/a"), "https://shop.example/a");
});

test("cleanUrl keeps hash routes and allow-listed query parameters only", () => {
  assert.equal(cleanUrl("https://shop.example/#/cart?u=ada"), "https://shop.example/#/cart");
  assert.equal(cleanUrl("https://shop.example/#!/cart"), "https://shop.example/#!/cart");
  assert.equal(
    cleanUrl("https://shop.example/p?email=a@b.c&utm_source=mail&utm_x=1", ["utm_source"]),
    "https://shop.example/p?utm_source=mail",
  );
  assert.equal(cleanUrl("https://shop.example/p?email=a@b.c", ["utm_source"]), "https://shop.example/p");
});

test("scrub removes emails and digit runs before cutting", () => {
  assert.equal(scrub("mail ada@example.com now", 100), "mail [email] now");
  assert.equal(scrub("card 4242 4242 4242 4242 ok", 100), "card # ok");
  assert.equal(scrub("size 42 kettle", 100), "size 42 kettle");
  assert.equal(scrub("call +44 20-7946-0958", 100), "call +#");
  assert.equal(scrub("x".repeat(100), 64).length, 64);
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

test("cleanUrl replaces emails and tokens after the origin, and keeps slugs", () => {
  assert.equal(
    cleanUrl("https://shop2-eu.example.com/account/ada@example.com/orders#/reset/9f86d081884c7d659a2feaa0c55ad015"),
    "https://shop2-eu.example.com/account/[email]/orders#/reset/[token]",
  );
  assert.equal(cleanUrl("https://s.example/u/123e4567-e89b-12d3-a456-426614174000"), "https://s.example/u/:id");
  assert.equal(
    cleanUrl("https://s.example/login/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc"),
    "https://s.example/login/[token]",
  );
  assert.equal(cleanUrl("https://s.example/p?ref=ada%40example.com&u=1", ["ref"]), "https://s.example/p?ref=[email]");
  assert.equal(cleanUrl("/account/ada@example.com/save"), "/account/[email]/save");
  for (const kept of [
    "https://s.example/summer-sale-2024/iphone15-pro",
    "https://s.example/%D0%BA%D0%B0%D1%82%D0%B0%D0%BB%D0%BE%D0%B3",
    "https://s.example/api/v2/items",
  ]) {
    assert.equal(cleanUrl(kept), kept);
  }
});

// Paths as sites have them, shared with the collector's microx_route (tests/read).
const { templates: ID_PATHS, words: WORD_PATHS } = JSON.parse(
  readFileSync(new URL("route-paths.json", import.meta.url), "utf8"),
);

test("cleanUrl turns id segments into :id and keeps words, words with a number and slugs", () => {
  for (const [path, template] of Object.entries(ID_PATHS)) {
    assert.equal(cleanUrl("https://s.example" + path), "https://s.example" + template, path);
  }
  for (const path of WORD_PATHS) assert.equal(cleanUrl("https://s.example" + path), "https://s.example" + path, path);
  // Ids in a hash route and in a kept query value too; a name is no value.
  assert.equal(cleanUrl("https://s.example/#/order/1042?x=1"), "https://s.example/#/order/:id");
  assert.equal(
    cleanUrl("https://s.example/p?ref=16odw8b&c=spring24", ["ref", "c"]),
    "https://s.example/p?ref=:id&c=spring24",
  );
});

test("cleanUrl sends a path matching a declared route as that route", () => {
  const routes = ["/orgs/:org/users", "/blog/*", "/a.b/:x"];
  assert.equal(cleanUrl("https://s.example/orgs/acme/users", [], routes), "https://s.example/orgs/:org/users");
  assert.equal(cleanUrl("https://s.example/orgs/acme/users/7", [], routes), "https://s.example/orgs/acme/users/:id");
  assert.equal(cleanUrl("https://s.example/blog/my-first-post?utm=1", [], routes), "https://s.example/blog/*");
  // A pattern's other characters are taken literally: "." is no wildcard, "(" no error.
  assert.equal(cleanUrl("https://s.example/a.b/c", [], routes), "https://s.example/a.b/:x");
  assert.equal(cleanUrl("https://s.example/axb/c", [], routes), "https://s.example/axb/c");
  assert.equal(cleanUrl("https://s.example/x(y", [], ["/x(y"]), "https://s.example/x(y");
  assert.equal(cleanUrl("https://s.example/blog", [], routes), "https://s.example/blog");
});
