/**
 * What the page does on its own: DOM changes, network requests, navigations and scrolls.
 * Clicks get their feedback latency from it, routes their settle time, loading cues
 * their start and end. One observer serves every capture.
 */
export type Activity = "dom" | "req" | "nav" | "scroll";
type Watcher = (kind: Activity, now: number) => void;

const watchers: Watcher[] = [];

/** The page's fetch before anyone wrapped it: the snippet's own requests are not page activity. */
export let rawFetch: typeof fetch;

export function watch(fn: Watcher): void {
  watchers.push(fn);
}

/** Run `scan` now, and again on the next turn after DOM changes (they arrive in bursts). */
export function rescan(scan: () => void): void {
  let scheduled = false;
  watch((kind) => {
    if (kind === "dom" && !scheduled) {
      scheduled = true;
      setTimeout(() => {
        scheduled = false;
        scan();
      });
    }
  });
  scan();
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

/**
 * Make `o[m]` report `kind` each time the page calls it: before the call, or `after` it
 * (a history change must have updated `location` before routes read it).
 */
function wrap<T extends object>(o: T, m: keyof T & string, kind: Activity, after?: boolean): void {
  const orig = o[m] as unknown as ((...args: unknown[]) => unknown) | undefined;
  if (orig) {
    (o as Record<string, unknown>)[m] = function (this: unknown, ...args: unknown[]) {
      if (!after) notify(kind);
      const r = orig.apply(this, args);
      if (after) notify(kind);
      return r;
    };
  }
}

export function observeActivity(): void {
  rawFetch = fetch.bind(window);
  new MutationObserver(() => notify("dom")).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    characterData: true,
  });
  wrap(window, "fetch", "req");
  wrap(XMLHttpRequest.prototype, "send", "req");
  wrap(window, "open", "nav");
  wrap(history, "pushState", "nav", true);
  wrap(history, "replaceState", "nav", true);
  for (const type of ["popstate", "hashchange", "pagehide"]) addEventListener(type, () => notify("nav"));
  addEventListener("scroll", () => notify("scroll"), { capture: true, passive: true });
}
