/**
 * What the page does on its own: DOM changes, network requests, navigations and scrolls.
 * Clicks get their feedback latency from it, routes their settle time, loading cues
 * their start and end. One observer serves every capture.
 */
export type Activity = "dom" | "req" | "nav" | "scroll";

/**
 * The page's fetch before anyone wrapped it: the snippet's own requests are not page
 * activity. Called unbound, as a page calls `fetch(...)`.
 */
export let rawFetch: typeof fetch;

const watchers: ((kind: Activity) => void)[] = [];

/** Call `watcher` with each kind of activity as it happens. */
export function watch(watcher: (kind: Activity) => void): void {
  watchers.push(watcher);
}

function notify(kind: Activity): void {
  for (const watcher of watchers) {
    try {
      watcher(kind);
    } catch {
      // One capture's bug must not silence the others.
    }
  }
}

/**
 * Make `owner[method]` report `kind` each time the page calls it, after the call (a history
 * change must have updated `location` before routes read it), even when it throws.
 */
function wrap<T extends object>(owner: T, method: keyof T & string, kind: Activity): void {
  const original = owner[method] as unknown as ((...args: unknown[]) => unknown) | undefined;
  if (original) {
    (owner as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
      try {
        return original.apply(this, args);
      } finally {
        notify(kind);
      }
    };
  }
}

export function observeActivity(): void {
  rawFetch = fetch;
  new MutationObserver(() => notify("dom")).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    characterData: true,
  });
  wrap(window, "fetch", "req");
  wrap(XMLHttpRequest.prototype, "send", "req");
  wrap(window, "open", "nav");
  wrap(history, "pushState", "nav");
  wrap(history, "replaceState", "nav");
  for (const type of ["popstate", "hashchange", "pagehide"]) addEventListener(type, () => notify("nav"));
  // A link or form leaving for a slow page: the page is going, though pagehide waits for
  // the next one to answer. (Where there is no Navigation API such a click can be dead.)
  (window as { navigation?: EventTarget }).navigation?.addEventListener("navigate", () => notify("nav"));
  addEventListener("scroll", () => notify("scroll"), { capture: true, passive: true });
}
