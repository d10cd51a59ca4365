/**
 * A URL without query string or fragment, except the query parameters in `keep` and a
 * hash route (`#/cart`, `#!/cart`): both often carry personal data (emails, tokens,
 * search terms), so by default neither leaves the page.
 */
export function cleanUrl(href: string, keep: readonly string[] = []): string {
  // base, query (without "?", up to a second one), and the fragment when it is a route
  // (without its own query)
  const [, base, query, route] = /^([^?#]*)(?:\?([^?#]*))?[^#]*(#!?\/[^?]*)?/.exec(href)!;
  const kept = [...new URLSearchParams(query)]
    .filter(([k]) => keep.includes(k))
    .map((kv) => kv.map(encodeURIComponent).join("="));
  return base + (kept[0] ? "?" + kept.join("&") : "") + (route || "");
}
