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
  let [id, last] = (load(SESSION_KEY) as [string, number] | null | undefined) || ["", 0];
  return () => {
    const now = Date.now();
    if (!id || now - last > SESSION_IDLE_MS) id = uuid();
    last = now;
    save(SESSION_KEY, [id, last]);
    return id;
  };
}

/**
 * The visitor id, which links visits to measure return rates. It is used only while the
 * visitor consents to the "visitor" category, and deleted when a `consent()` call
 * (`decided`) withdraws it. A page that starts without that consent keeps it unused: a
 * consent manager grants it again after each page starts, and it must be the same id.
 */
export function visitorId(allowed: boolean, decided?: boolean): string | undefined {
  const id = allowed ? (load(VISITOR_KEY, true) as string | null | undefined) || uuid() : undefined;
  if (allowed || decided) save(VISITOR_KEY, id, true);
  return id;
}
