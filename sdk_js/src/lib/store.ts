/**
 * Web Storage that never throws: storage is blocked in some privacy modes and sandboxed
 * frames, and full in others; measuring then goes on in memory.
 */
export function load<T>(area: "localStorage" | "sessionStorage", key: string): T | undefined {
  try {
    const raw = window[area].getItem(key);
    return raw ? (JSON.parse(raw) as T) : undefined;
  } catch {
    return undefined;
  }
}

export function save(area: "localStorage" | "sessionStorage", key: string, value: unknown): void {
  try {
    if (value === undefined) window[area].removeItem(key);
    else window[area].setItem(key, JSON.stringify(value));
  } catch {
    // Blocked or full: keep going without it.
  }
}
