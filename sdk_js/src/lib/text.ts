/** Collapse whitespace and cut to `max` characters (the contract's limit for the field). */
export function clip(text: string | null | undefined, max: number): string {
  return (text || "").replace(/\s+/g, " ").trim().slice(0, max);
}

/** Field values shorter than this are not looked for in page text: they would cut common words. */
const MIN_ECHO = 3;

/** The fields (and editable areas) the visitor has typed into on this page; the forms capture adds them. */
export const typed = new Set<Element>();

/**
 * Text a visitor may have typed or that names a person (search terms, comments): emails
 * and runs of three or more digits (phone, card, order numbers) are replaced before the
 * text is cut to `max`. Text read from the page (`fromPage`: a label, an error message)
 * can also echo what the visitor typed ("Search for …", "Send …", "invalid value …"):
 * what the fields typed into hold now, even ones since removed, is cut out of it (read,
 * never sent).
 */
export function scrub(text: unknown, max: number, fromPage?: boolean): string {
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a page can throw anything: an object reads "[object Object]", which tells nothing it should not
  let result = String(text ?? "");
  if (fromPage) {
    for (const field of typed) {
      // A field's value, or an editable area's text.
      const value = ((field as { value?: string }).value ?? field.textContent).trim();
      if (value[MIN_ECHO - 1]) result = result.replaceAll(value, "…");
    }
  }
  return clip(result.replace(/\S+@\S+/g, "[email]").replace(/\d([\s-]*\d){2,}/g, "#"), max);
}
