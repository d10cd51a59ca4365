import type { WireEvent } from "./contract";
import { guard } from "./lib/safe";
import { load, save } from "./lib/store";
import { storedKeys, type Saved } from "./transport";

/** Sends a saved batch under its session; falsy keeps it saved (see `bridge` in `core.ts`). */
export type Resend = (events: WireEvent[], sid: string) => boolean | undefined;

/** How often saved events are looked for again: ones whose resend failed, or that another tab left. */
export const RETAKE_MS = 5_000;

/**
 * Send what earlier pages left unsent (the collector was failing when they were left),
 * each batch under its own session, now and every few seconds: a batch is kept while
 * the collector asks to wait, and one whose resend fails is saved again.
 * Storage keeps them until this runs, so the script build does it in its second file.
 *
 * Each saved batch is read and deleted by one tab only: under a Web Lock where the browser
 * has them, so two tabs opening at once do not both send it (a copy would still be stored
 * once: the collector checks resends). Neither throws: storage is read through its
 * never-throwing helpers, and a lock that cannot be had (an opaque origin) rejects.
 */
export function sendSaved(resend: Resend): void {
  const take = (): void => {
    for (const key of storedKeys()) {
      const saved = load(key, true) as Partial<Saved> | null | undefined;
      // Kept while it cannot go (the collector asks to wait, no consent); deleted once
      // sent, or if it is not a batch.
      if (!(Array.isArray(saved?.e) && saved.sid) || resend(saved.e, saved.sid)) save(key, undefined, true);
    }
  };
  const run = guard((): void => {
    // Asking for the lock is a round trip to the browser every few seconds: only when
    // there is something to take (`take` looks again once it holds the lock).
    if (!storedKeys()[0]) return;
    const locks = (navigator as { locks?: LockManager }).locks;
    if (locks) locks.request("microx_q", take).catch(() => undefined);
    else take();
  });
  run();
  setInterval(run, RETAKE_MS);
}
