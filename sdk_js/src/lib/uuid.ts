/**
 * A random (v4) UUID from getRandomValues, which unlike `crypto.randomUUID` also exists
 * outside secure contexts (plain-http pages). One call gives every digit its byte (by the
 * digit's offset in the template): a call per digit cost more than the rest of an event.
 */
export function uuid(): string {
  const random = crypto.getRandomValues(new Uint8Array(36));
  return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (digit, at: number) =>
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- a byte for each offset of the template
    (+digit ^ (random[at]! & (15 >> (+digit / 4)))).toString(16),
  );
}
