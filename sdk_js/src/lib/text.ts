/** Collapse whitespace and cut to `max` characters (the contract's limit for the field). */
export function clip(text: string | null | undefined, max: number): string {
  return (text || "").replace(/\s+/g, " ").trim().slice(0, max);
}
