import type { WireEvent } from "./contract";
import { guard } from "./lib/safe";
import { load, save } from "./lib/store";
import { storedKeys, type Failures, type Saved } from "./transport";

/** Sends a saved batch under its session; falsy keeps it saved (see `bridge` in `core.ts`). */
export type Resend = (events: WireEvent[], sid: string) => boolean | undefined;

/** How often saved events are looked for again: ones whose resend failed, or that another tab left. */
export const RETAKE_MS = 5_000;

/**
 * Send what earlier pages left unsent (the collector was failing when they were left),
 * each batch under its own session, now and every few seconds while any is left: a batch
 * is kept while the collector asks to wait, and one whose resend fails is saved again.
 * Storage keeps them until this runs, so the script build does it in its second file.
 *
 * Each saved batch is read and deleted by one tab only: under a Web Lock where the browser
 * has them, so two tabs opening at once do not both send it (a copy would still be stored
 * once: the collector checks resends). Neither throws: storage is read through its
 * never-throwing helpers, and a lock that cannot be had (an opaque origin) rejects.
 */
export function sendSaved(resend: Resend, failures: Failures): void {
  /** The next look, while one is due. */
  let timer: unknown;
  const take = (): void => {
    for (const key of storedKeys()) {
      const saved = load(key, true) as Partial<Saved> | null | undefined;
      // Kept while it cannot go (the collector asks to wait, no consent); deleted once
      // sent, or if it is not a batch.
      if (!(Array.isArray(saved?.e) && saved.sid) || resend(saved.e, saved.sid)) save(key, undefined, true);
    }
  };
  const run = guard((): void => {
    timer = 0;
    // Asking for the lock is a round trip to the browser: only when there is something
    // to take (`take` looks again once it holds the lock), and again a while later.
    if (!storedKeys()[0]) return;
    const locks = (navigator as { locks?: LockManager }).locks;
    if (locks) locks.request("microx_q", take).catch(() => undefined);
    else take();
    later();
  });
  const later = (): unknown => (timer ||= setTimeout(run, RETAKE_MS));
  // Looked for again only when something may be there: while batches stay saved, after
  // this page saved one (a resend failed, or the page was hidden while the collector was
  // failing), or when another tab changed storage. A look every few seconds whatever the
  // case cost a callback of 0.05–0.2 ms in Chromium, in a quarter of a click's windows.
  // (`handleFailures` has set it.)
  const keep = failures.keep as NonNullable<Failures["keep"]>;
  failures.keep = (...args) => {
    keep(...args);
    later();
  };
  addEventListener("storage", later);
  run();
}
