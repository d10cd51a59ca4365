import { load, save } from "./lib/store";
import { uuid } from "./lib/uuid";

/** A visit ends after this long without events (as PostHog does; Datadog uses 15 min). */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
const SESSION_KEY = "microx_sid";
const VISITOR_KEY = "microx_vid";

/**
 * The session id, kept in sessionStorage so a visit survives reloads within the tab.
 * When storage is blocked the id lives in memory for the page.
 */
export function sessionIdFactory(): () => string {
  let [id, last] = load<[string, number]>("sessionStorage", SESSION_KEY) || ["", 0];
  return () => {
    const now = Date.now();
    if (!id || now - last > SESSION_IDLE_MS) id = uuid();
    save("sessionStorage", SESSION_KEY, [id, (last = now)]);
    return id;
  };
}

/**
 * The visitor id, which links visits to measure return rates. It exists only while the
 * visitor consents to the "visitor" category; revoking consent deletes it.
 */
export function visitorId(allowed: boolean): string | undefined {
  if (!allowed) {
    save("localStorage", VISITOR_KEY, undefined);
    return undefined;
  }
  let id = load<string>("localStorage", VISITOR_KEY);
  if (!id) save("localStorage", VISITOR_KEY, (id = uuid()));
  return id;
}
