import { watch } from "./activity";
import type { Tracker } from "./tracker";

/** A route has rendered once the DOM has been quiet this long... */
const SETTLE_QUIET_MS = 100;
/** ...or this long has passed, whichever comes first. */
const SETTLE_MAX_MS = 10_000;

interface Pending {
  t0: number;
  last: number;
  ts: number;
  u: string;
  from: string;
  quiet?: ReturnType<typeof setTimeout>;
}

/**
 * Single-page-app navigations (history API, hash routes) as moments of their own: each
 * `route` event carries the time from the navigation to the new view's last change.
 */
export function captureRoutes(tracker: Tracker): void {
  let url = tracker._url;
  let pending: Pending | undefined;

  const settle = (r: Pending): void => {
    if (pending !== r) return;
    pending = undefined;
    clearTimeout(r.quiet);
    tracker._emit("route", { ts: r.ts, u: r.u, d: r.last - r.t0, p: { from: r.from } });
  };

  watch((kind, now) => {
    if (kind === "nav") {
      const next = tracker._cleanUrl(location.href);
      if (next === url) return;
      if (pending) settle(pending);
      tracker._fire("route", { from: url, to: next });
      const r: Pending = { t0: now, last: now, ts: Date.now(), u: next, from: url };
      pending = r;
      url = next;
      setTimeout(() => settle(r), SETTLE_MAX_MS);
    }
    const r = pending;
    if (r) {
      r.last = now;
      clearTimeout(r.quiet);
      r.quiet = setTimeout(() => settle(r), SETTLE_QUIET_MS);
    }
  });
}
