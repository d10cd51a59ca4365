import { watch } from "./activity";
import { fire, ROUTED } from "./lib/channels";
import { cleanPageUrl, emit, pageUrl, type Fields } from "./tracker";
import { guard } from "./lib/safe";

/** A route has rendered once the DOM has been quiet this long... */
const SETTLE_QUIET_MS = 100;
/** ...or this long has passed, whichever comes first. */
const SETTLE_MAX_MS = 10_000;

/** A route being rendered; it holds the fields of its `route` event, its duration up to its latest change. */
interface Pending extends Fields {
  _t0: number;
  _quiet?: ReturnType<typeof setTimeout>;
}

/**
 * Single-page-app navigations (history API, hash routes) as moments of their own: each
 * `route` event carries the time from the navigation to the new view's last change.
 */
export function captureRoutes(): void {
  let url = pageUrl;
  let pending: Pending | undefined;

  const settle = (route: Pending): void => {
    if (pending != route) return;
    pending = undefined;
    clearTimeout(route._quiet);
    emit("route", route);
  };

  watch((kind) => {
    const now = performance.now();
    if (kind == "nav") {
      const next = cleanPageUrl(location.href);
      if (next == url) return;
      if (pending) settle(pending);
      fire(ROUTED, url);
      // The route it came from is the previous page or route event's URL in the session.
      pending = { ts: Date.now(), u: next, _t0: now };
      url = next;
      setTimeout(guard(settle), SETTLE_MAX_MS, pending);
    }
    if (pending) {
      pending.d = now - pending._t0;
      clearTimeout(pending._quiet);
      pending._quiet = setTimeout(guard(settle), SETTLE_QUIET_MS, pending);
    }
  });
}
