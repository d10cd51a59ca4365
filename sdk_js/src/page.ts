import { emit } from "./tracker";

/**
 * The page load as one moment: duration to the load event, with the navigation timing
 * milestones a slow load is diagnosed from.
 */
export function capturePage(): void {
  const report = (): void => {
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
    emit(
      "page",
      nav && {
        d: nav.loadEventEnd || nav.domContentLoadedEventEnd,
        p: {
          ttfb: Math.round(nav.responseStart),
          dcl: Math.round(nav.domContentLoadedEventEnd),
          interactive: Math.round(nav.domInteractive),
          bytes: nav.transferSize,
          nav: nav.type,
        },
      },
    );
  };
  // loadEventEnd is set only after the load handlers have returned.
  if (document.readyState == "complete") setTimeout(report);
  else addEventListener("load", () => setTimeout(report));
}
