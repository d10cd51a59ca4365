/** A URL part at least this long is a token if it has a letter beside a digit, or a run of hex. */
const TOKEN_LENGTH = 16;
/**
 * A URL part that is an id: a number; a UUID (36 hex digits and dashes); 8 to 24 hex
 * digits with a digit among them (a database's object id, a short hash; longer ones are tokens); 6 to 15 letters
 * and digits with letters between two digits (`16odw8b`, `x7k2m9p`), which words with a
 * number in them (`iphone15`, `h264`, `mp3`) and words (`contacts`) lack.
 */
const ID = /^(\d+|[\da-f-]{36}|(?=.*\d)[\da-f]{8,24}|(?=.*\d[a-z]+\d)[\da-z]{6,15})$/i;

/**
 * A URL without query string or fragment, except the query parameters in `keep` and a
 * hash route (`#/cart`, `#!/cart`): both often carry personal data (emails, tokens,
 * search terms), so by default neither leaves the page. In what is kept after the origin
 * (path segments, query values, the route), a part holding an email becomes `[email]`
 * and one that looks like a token (an id, a reset or login link's key, a JWT) `[token]`.
 * A slug (`summer-sale-2024`) has no letter from g to z beside a digit and no run of 8
 * hex digits, and neither has a percent-escaped path in another script (`%D0%BA…`).
 * A part that is an id (`ID`) becomes `:id`, and a path matching one of `routes`
 * (`/orgs/:org/users`, a `:name` or `*` matching any one segment) becomes that route: a
 * route is one template, not one path per record.
 */
export function cleanUrl(href: string, keep: readonly string[] = [], routes: readonly string[] = []): string {
  // base, query (without "?", up to a second one), and the fragment when it is a route
  // (without its own query; else "")
  // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- every part may be empty: it matches any string
  const [, base, query, route] = /^([^?#]*)(?:\?([^?#]*))?[^#]*(#!?\/[^?]*|)/.exec(href)!;
  const kept = [...new URLSearchParams(query)]
    .filter(([name]) => keep.includes(name))
    .map((pair) => pair.map(encodeURIComponent).join("="));
  // A declared route's `:name` and `*` stand for any one segment; the rest is taken as it is.
  const path = routes.reduce(
    (url, pattern) =>
      url.replace(
        RegExp(`(//[^/]*)${pattern.replace(/[^\w/:*-]/g, "\\$&").replace(/[:*][^/]*/g, "[^/]+")}$`),
        "$1" + pattern,
      ),
    base || "",
  );
  return (path + (kept[0] ? "?" + kept.join("&") : "") + route).replace(
    /^\w+:\/\/[^/]*|[^/?#&=]+/g,
    (part, at: number) => {
      // The origin is matched first (at 0) and kept as it is.
      if (!at) return part;
      if (/@|%40/i.test(part)) return "[email]";
      if (ID.test(part)) return ":id";
      if (part.length >= TOKEN_LENGTH && /[g-z]\d|\d[g-z]|[\da-f]{8}/i.test(part)) return "[token]";
      return part;
    },
  );
}
