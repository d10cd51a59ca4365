import type { Recorder } from "./perf";
import { ms } from "./vitals";

/** web-vitals' limits of a good and a poor time to first byte, ms. */
export const TTFB_GOOD = 800;
export const TTFB_POOR = 1800;

type Navigation = PerformanceNavigationTiming & { activationStart?: number };

/**
 * The page load as one moment: duration to the load event, with the navigation timing
 * milestones a slow load is diagnosed from; and its time to first byte as a `vital`, as
 * web-vitals' attribution build computes it and its parts (from the page's activation
 * for a prerendered page), but for the 0 it reports again for a page restored from the
 * back/forward cache, which made no request. The navigation entry stays in the browser's
 * timeline, so this runs in the script build's second file; a page being prerendered
 * reports once it is shown.
 */
export function capturePage(record: Recorder): void {
  const report = (): void => {
    const nav = performance.getEntriesByType("navigation")[0] as Navigation | undefined;
    record(
      "page",
      nav && {
        d: nav.loadEventEnd || nav.domContentLoadedEventEnd,
        p: {
          ttfb: ms(nav.responseStart),
          dcl: ms(nav.domContentLoadedEventEnd),
          interactive: ms(nav.domInteractive),
          bytes: nav.transferSize,
          nav: nav.type,
        },
      },
    );
    // As web-vitals: no TTFB where the browser gives none, or one it cannot have measured.
    if (nav && nav.responseStart > 0 && nav.responseStart < performance.now()) {
      const start = nav.activationStart || 0;
      const since = (at: number): number => Math.max(at - start, 0);
      const ttfb = since(nav.responseStart);
      // From workerStart, so a service worker's start-up counts as cache time.
      const wait = since(nav.workerStart || nav.fetchStart);
      const dns = since(nav.domainLookupStart);
      const connect = since(nav.connectStart);
      const connected = since(nav.connectEnd);
      record("vital", {
        n: "TTFB",
        ts: Math.round(performance.timeOrigin + ttfb),
        u: "",
        val: ms(ttfb),
        p: {
          wait: ms(wait),
          cache: ms(dns - wait),
          dns: ms(connect - dns),
          conn: ms(connected - connect),
          req: ms(ttfb - connected),
          rating: ttfb > TTFB_POOR ? "poor" : ttfb > TTFB_GOOD ? "needs-improvement" : "good",
          nav: start
            ? "prerender"
            : (document as { wasDiscarded?: boolean }).wasDiscarded
              ? "restore"
              : nav.type.replace("_", "-"),
        },
      });
    }
  };
  // loadEventEnd is set only after the load handlers have returned.
  const loaded = (): void => {
    if (document.readyState == "complete") setTimeout(report);
    else addEventListener("load", () => setTimeout(report));
  };
  if ((document as { prerendering?: boolean }).prerendering) addEventListener("prerenderingchange", loaded);
  else loaded();
}
