import { watch } from "./activity";
import { cleanPageUrl, emit, fire, pageUrl } from "./tracker";

/** A route has rendered once the DOM has been quiet this long... */
const SETTLE_QUIET_MS = 100;
/** ...or this long has passed, whichever comes first. */
const SETTLE_MAX_MS = 10_000;

interface Pending {
  _t0: number;
  _last: number;
  _ts: number;
  _u: string;
  _from: string;
  _quiet?: ReturnType<typeof setTimeout>;
}

/**
 * Single-page-app navigations (history API, hash routes) as moments of their own: each
 * `route` event carries the time from the navigation to the new view's last change.
 */
export function captureRoutes(): void {
  let url = pageUrl;
  let pending: Pending | undefined;

  const settle = (r: Pending): void => {
    if (pending !== r) return;
    pending = undefined;
    clearTimeout(r._quiet);
    emit("route", { ts: r._ts, u: r._u, d: r._last - r._t0, p: { from: r._from } });
  };

  watch((kind, now) => {
    if (kind === "nav") {
      const next = cleanPageUrl(location.href);
      if (next === url) return;
      if (pending) settle(pending);
      fire("route", { from: url, to: next });
      pending = { _t0: now, _last: now, _ts: Date.now(), _u: next, _from: url };
      url = next;
      setTimeout(settle, SETTLE_MAX_MS, pending);
    }
    const r = pending;
    if (r) {
      r._last = now;
      clearTimeout(r._quiet);
      r._quiet = setTimeout(settle, SETTLE_QUIET_MS, r);
    }
  });
}
