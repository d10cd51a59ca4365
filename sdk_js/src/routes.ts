import { watch } from "./activity";
import { lastClick, VIEW_DF, VIEW_MAX_MS } from "./clicks";
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
  _shown?: ((ms?: number) => void) | undefined;
}

/**
 * Single-page-app navigations (history API, hash routes) as moments of their own: each
 * `route` event carries the time from the interaction that started the navigation (the
 * latest click on a control, at most 10 s before the URL changed) or else from the URL
 * change, to the new view's last change: a data router runs its loaders and actions
 * before it changes the URL, and that wait is the visitor's.
 */
export function captureRoutes(): void {
  let url = pageUrl;
  // What tells one view from another: the path and a hash route as they are (two contacts
  // share one template), not the query string or an in-page anchor.
  const view = (): string => location.href.replace(/\?[^#]*|#(?!!?\/).*/g, "");
  let shown = view();
  let pending: Pending | undefined;

  const settle = (route: Pending): void => {
    if (pending != route) return;
    pending = undefined;
    clearTimeout(route._quiet);
    emit("route", route);
    route._shown?.(route.d);
  };

  watch((kind) => {
    const now = performance.now();
    if (kind == "nav") {
      // (Compares the view shown so far with the current one, which it then becomes.)
      if (shown == (shown = view())) return;
      const next = cleanPageUrl(location.href);
      if (pending) settle(pending);
      fire(ROUTED, url);
      // The route it came from is the previous page or route event's URL in the session.
      pending = { ts: Date.now(), u: next, df: VIEW_DF, _t0: now };
      const click = lastClick;
      // One click starts one route.
      if (click._shown && now - click.t0 < VIEW_MAX_MS) {
        pending._t0 = click.t0;
        pending.p = { by: click.tg };
        pending._shown = click._shown;
        click._shown = undefined;
      }
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
