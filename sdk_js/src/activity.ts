/**
 * What the page does on its own: DOM changes, network requests, navigations and scrolls.
 * Clicks get their feedback latency from it, routes their settle time, loading cues
 * their start and end. One observer serves every capture.
 */
export type Activity = "dom" | "req" | "nav" | "scroll";
type Watcher = (kind: Activity, now: number) => void;

const watchers: Watcher[] = [];

/** The page's fetch before anyone wrapped it: the snippet's own requests are not page activity. */
export const rawFetch: typeof fetch = (...args) => realFetch(...args);
let realFetch: typeof fetch = (...args) => fetch(...args);

export function watch(fn: Watcher): void {
  watchers.push(fn);
}

export function notify(kind: Activity): void {
  const now = performance.now();
  for (const fn of watchers) {
    try {
      fn(kind, now);
    } catch {
      // One capture's bug must not silence the others.
    }
  }
}

export function observeActivity(): void {
  new MutationObserver(() => notify("dom")).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    characterData: true,
  });
  const w = window as Window & typeof globalThis;
  const f = w.fetch;
  if (f) {
    realFetch = f.bind(w);
    w.fetch = function (this: unknown, ...args: Parameters<typeof fetch>) {
      notify("req");
      return f.apply(this, args);
    } as typeof fetch;
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (this: XMLHttpRequest, ...args) {
    notify("req");
    return send.apply(this, args);
  };
  const open = w.open;
  w.open = function (this: unknown, ...args: Parameters<typeof window.open>) {
    notify("nav");
    return open.apply(this, args);
  } as typeof window.open;
  for (const m of ["pushState", "replaceState"] as const) {
    const orig = history[m];
    history[m] = function (this: History, ...args: Parameters<History["pushState"]>) {
      const r = orig.apply(this, args);
      notify("nav");
      return r;
    };
  }
  addEventListener("popstate", () => notify("nav"));
  addEventListener("hashchange", () => notify("nav"));
  addEventListener("pagehide", () => notify("nav"));
  addEventListener("scroll", () => notify("scroll"), { capture: true, passive: true });
}
