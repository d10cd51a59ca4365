/**
 * A random (v4) UUID from getRandomValues, which unlike `crypto.randomUUID` also exists
 * outside secure contexts (plain-http pages).
 */
export function uuid(): string {
  return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (digit) =>
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- one random byte asked for, one there
    (+digit ^ (crypto.getRandomValues(new Uint8Array(1))[0]! & (15 >> (+digit / 4)))).toString(16),
  );
}
