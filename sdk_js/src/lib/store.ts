/**
 * Web Storage that never throws: storage is blocked in some privacy modes and sandboxed
 * frames, and full in others; measuring then goes on in memory. Keys live for the visit
 * (sessionStorage), or across visits (`lasting`: localStorage).
 */
const area = (lasting?: boolean): Storage => (lasting ? localStorage : sessionStorage);

/** The value stored under `key`; null or undefined when there is none or storage cannot be read. */
export function load<T>(key: string, lasting?: boolean): T | null | undefined {
  try {
    // A missing key reads as null, which parses as null.
    return JSON.parse(area(lasting).getItem(key)!);
  } catch {
    return undefined;
  }
}

/** Store `value` under `key`, or remove the key when it is undefined. */
export function save(key: string, value: unknown, lasting?: boolean): void {
  try {
    if (value === undefined) area(lasting).removeItem(key);
    else area(lasting).setItem(key, JSON.stringify(value));
  } catch {
    // Blocked or full: keep going without it.
  }
}
