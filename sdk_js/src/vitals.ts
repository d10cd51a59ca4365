import type {
  CLSMetricWithAttribution,
  FCPMetricWithAttribution,
  INPMetricWithAttribution,
  LCPMetricWithAttribution,
} from "web-vitals/attribution";
import { guard } from "./lib/safe";
import type { Recorder } from "./perf";
import type { Props } from "./tracker";

type Metric = CLSMetricWithAttribution | FCPMetricWithAttribution | INPMetricWithAttribution | LCPMetricWithAttribution;

/** How web-vitals names the element a metric is about: as the snippet names click targets. */
interface TargetOption {
  generateTarget?: (node: Node | null) => string | undefined;
}

/** The functions of web-vitals' attribution build that the snippet uses. */
export interface VitalsLibrary {
  onCLS: (report: (metric: CLSMetricWithAttribution) => void, options?: TargetOption) => void;
  onFCP: (report: (metric: FCPMetricWithAttribution) => void) => void;
  onINP: (report: (metric: INPMetricWithAttribution) => void, options?: TargetOption) => void;
  onLCP: (report: (metric: LCPMetricWithAttribution) => void, options?: TargetOption) => void;
}

/** A duration in whole milliseconds (0 for none). */
export const ms = (duration: number | undefined): number => Math.round(duration || 0);

/**
 * What explains each metric: the element it is about, where its time went, and when what
 * it measures happened (`performance.now()` time: the render, the interaction, the largest
 * shift, the first byte), when the entries say so.
 */
function explain(metric: Metric): [string, Props, number | undefined] {
  switch (metric.name) {
    case "LCP": {
      const why = metric.attribution;
      return [
        why.target || "",
        {
          ttfb: ms(why.timeToFirstByte),
          delay: ms(why.resourceLoadDelay),
          load: ms(why.resourceLoadDuration),
          render: ms(why.elementRenderDelay),
        },
        why.lcpEntry?.startTime,
      ];
    }
    case "INP": {
      const why = metric.attribution;
      return [
        why.interactionTarget || "",
        {
          type: why.interactionType || "",
          input: ms(why.inputDelay),
          proc: ms(why.processingDuration),
          pres: ms(why.presentationDelay),
          state: why.loadState,
        },
        why.interactionTime,
      ];
    }
    case "CLS":
      // No shift at all: nothing happened after the page's start.
      return [
        metric.attribution.largestShiftTarget || "",
        { state: metric.attribution.loadState || "" },
        metric.attribution.largestShiftTime || 0,
      ];
    default:
      return [
        "",
        {
          ttfb: ms(metric.attribution.timeToFirstByte),
          rest: ms(metric.attribution.firstByteToFCP),
          state: metric.attribution.loadState,
        },
        metric.entries[0]?.startTime,
      ];
  }
}

/**
 * Core Web Vitals with attribution, one `vital` event per report, their elements named by
 * `selector`. This runs in the script
 * build's second file, so the attribution code is only loaded with it.
 */
export function reportVitals(record: Recorder, lib: VitalsLibrary, selector: (el: Element) => string): void {
  const report = (metric: Metric): void => {
    const [target, props, at] = explain(metric);
    record("vital", {
      n: metric.name,
      tg: target,
      // When what it measures happened: INP, CLS and often LCP are reported when the page
      // is hidden, after everything the visitor did on it. Else (a page restored from the
      // back/forward cache has no entries) the time of the report.
      ts: at !== undefined && at >= 0 ? Math.round(performance.timeOrigin + at) : 0,
      // The page as loaded: INP and CLS are reported when it is hidden, maybe on another route.
      u: "",
      // CLS is a unitless score; the others are milliseconds.
      val: metric.name === "CLS" ? Math.round(metric.value * 10000) / 10000 : Math.round(metric.value),
      p: { ...props, rating: metric.rating, nav: metric.navigationType },
    });
  };
  // A layout shift's source can be a text node, which has no selector: then none.
  const target = { generateTarget: guard(selector as (node: Node | null) => string) };
  lib.onLCP(report, target);
  lib.onINP(report, target);
  lib.onCLS(report, target);
  lib.onFCP(report);
}
