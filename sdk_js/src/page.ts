import type { Tracker } from "./tracker";

/**
 * The page load as one moment: duration to the load event, with the navigation timing
 * milestones a slow load is diagnosed from.
 */
export function capturePage(tracker: Tracker): void {
  const report = (): void => {
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
    if (!nav) {
      tracker._emit("page");
      return;
    }
    tracker._emit("page", {
      d: nav.loadEventEnd || nav.domContentLoadedEventEnd,
      p: {
        ttfb: Math.round(nav.responseStart),
        dcl: Math.round(nav.domContentLoadedEventEnd),
        interactive: Math.round(nav.domInteractive),
        bytes: nav.transferSize,
        nav: nav.type,
      },
    });
  };
  // loadEventEnd is set only after the load handlers have returned.
  if (document.readyState === "complete") setTimeout(report, 0);
  else addEventListener("load", () => setTimeout(report, 0), { once: true });
}
