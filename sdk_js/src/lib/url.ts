/**
 * A URL without query string or fragment, except the query parameters in `keep` and a
 * hash route (`#/cart`, `#!/cart`): both often carry personal data (emails, tokens,
 * search terms), so by default neither leaves the page.
 */
export function cleanUrl(href: string, keep: readonly string[] = []): string {
  const hash = href.indexOf("#");
  const route = hash >= 0 && /^#!?\//.test(href.slice(hash)) ? href.slice(hash).split("?")[0]! : "";
  const [base, query] = (hash >= 0 ? href.slice(0, hash) : href).split("?") as [string, string?];
  const kept: string[] = [];
  if (query && keep.length) {
    new URLSearchParams(query).forEach((v, k) => {
      if (keep.includes(k)) kept.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    });
  }
  return base + (kept.length ? `?${kept.join("&")}` : "") + route;
}
