import { guard } from "./lib/safe";
import { load, save } from "./lib/store";
import type { WireEvent } from "./contract";
import { MAX_STORED, STORED_PREFIX, storedKeys, type Failures, type Saved } from "./transport";

export const RETRY_MIN_MS = 1_000;
export const RETRY_MAX_MS = 60_000;
/** Retry-After is obeyed up to an hour. */
const RETRY_AFTER_MAX_MS = 3_600_000;

/** Another try for events whose earlier send may have arrived after all: the collector checks. */
export function again(events: WireEvent[]): WireEvent[] {
  for (const event of events) event.a = Math.min((event.a || 0) + 1, 1000);
  return events;
}

/**
 * What a failed send does: wait (exponential backoff with jitter, or the collector's
 * Retry-After), and keep what cannot wait for the next page in localStorage. A send fails
 * only after the page has started, so the script build does this in its second file.
 */
export function handleFailures(failures: Failures): void {
  failures.wait = (response, fails, events) => {
    again(events);
    const after = +(response.headers?.get("retry-after") as string) * 1000;
    const backoff = Math.min(RETRY_MIN_MS * 2 ** fails, RETRY_MAX_MS);
    // Jitter spreads the retries of many pages that failed at the same moment; a missing,
    // past or unreadable Retry-After leaves the backoff alone.
    return Math.max(Math.min(after, RETRY_AFTER_MAX_MS) || 0, backoff * (0.5 + Math.random() / 2));
  };
  // Under a key of its own, so no merge can race.
  failures.keep = guard((events, current, sid) => {
    // Bounded: the oldest saved events make room (keys sort by time: Date.now() has 13
    // digits from 2001 to 2286). A batch that crosses the bound keeps its newest events.
    let room = MAX_STORED - events.length;
    for (const key of storedKeys().reverse()) {
      const saved = load(key, true) as Partial<Saved> | null | undefined;
      const older = saved?.e || [];
      if (room < older.length) save(key, room > 0 ? { ...saved, e: older.slice(-room) } : undefined, true);
      room -= older.length;
    }
    // Each event keeps the page it happened on; the batch keeps its session.
    const kept = again(events.slice(-MAX_STORED));
    for (const event of kept) event.u ||= current.u;
    // (Time and a random tail: two pages saving in one millisecond keep both.)
    save(
      STORED_PREFIX + Date.now() + "." + Math.random().toString(36).slice(2, 10),
      { sid: sid || current.sid, e: kept },
      true,
    );
  });
}
