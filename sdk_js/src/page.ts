import type { Recorder } from "./perf";

/**
 * The page load as one moment: duration to the load event, with the navigation timing
 * milestones a slow load is diagnosed from. The navigation entry stays in the browser's
 * timeline, so this runs in the script build's second file.
 */
export function capturePage(record: Recorder): void {
  const report = (): void => {
    const nav = performance.getEntriesByType("navigation")[0];
    record(
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
