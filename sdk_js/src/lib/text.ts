/** Collapse whitespace and cut to `max` characters (the contract's limit for the field). */
export function clip(text: string | null | undefined, max: number): string {
  return (text || "").replace(/\s+/g, " ").trim().slice(0, max);
}

/**
 * Text a visitor may have typed or that names a person (search terms, comments): emails
 * and runs of three or more digits (phone, card, order numbers) are replaced before the
 * text is cut to `max`.
 */
export function scrub(text: string | null | undefined, max: number): string {
  return clip(
    String(text ?? "")
      .replace(/\S+@\S+/g, "[email]")
      .replace(/\d[\d\s-]+\d/g, (run) => (run.replace(/\D/g, "").length > 2 ? "#" : run)),
    max,
  );
}
