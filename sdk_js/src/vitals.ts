import { onCLS, onFCP, onINP, onLCP, onTTFB, type Metric } from "web-vitals";
import type { Tracker } from "./tracker";

/** Core Web Vitals through Google's web-vitals library, one `vital` event per report. */
export function captureVitals(tracker: Tracker): void {
  const report = (m: Metric): void =>
    tracker.emit("vital", {
      n: m.name,
      // CLS is a unitless score; the others are milliseconds.
      val: m.name === "CLS" ? Math.round(m.value * 10000) / 10000 : Math.round(m.value),
      p: { rating: m.rating, nav: m.navigationType },
    });
  onLCP(report);
  onINP(report);
  onCLS(report);
  onFCP(report);
  onTTFB(report);
}
