/**
 * A URL without query string or fragment: both often carry personal data (emails,
 * tokens, search terms), so they never leave the page.
 */
export function cleanUrl(href: string): string {
  const cut = href.search(/[?#]/);
  return cut < 0 ? href : href.slice(0, cut);
}
