import { uuid } from "./lib/uuid";

/** A visit ends after this long without events (as PostHog does; Datadog uses 15 min). */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
const KEY = "microx_sid";

/**
 * The session id, kept in sessionStorage so a visit survives reloads within the tab.
 * Storage may be blocked (privacy modes, sandboxed iframes): then the id lives in memory.
 */
export function sessionIdFactory(): () => string {
  let id = "";
  let last = 0;
  return () => {
    const now = Date.now();
    if (!id) {
      try {
        const saved = JSON.parse(sessionStorage.getItem(KEY) || "null") as [string, number] | null;
        if (saved) [id, last] = saved;
      } catch {
        // Blocked or corrupt storage: start a fresh in-memory session.
      }
    }
    if (!id || now - last > SESSION_IDLE_MS) id = uuid();
    last = now;
    try {
      sessionStorage.setItem(KEY, JSON.stringify([id, last]));
    } catch {
      // Keep the in-memory id.
    }
    return id;
  };
}
