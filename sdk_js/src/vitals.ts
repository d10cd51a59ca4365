import type { CLSMetricWithAttribution, FCPMetricWithAttribution, INPMetricWithAttribution, LCPMetricWithAttribution, TTFBMetricWithAttribution } from "web-vitals/attribution";
import type { Recorder } from "./perf";
import type { Props } from "./tracker";

type Metric =
  | CLSMetricWithAttribution
  | FCPMetricWithAttribution
  | INPMetricWithAttribution
  | LCPMetricWithAttribution
  | TTFBMetricWithAttribution;

/** The functions of web-vitals' attribution build that the snippet uses. */
export interface VitalsLibrary {
  onCLS: (cb: (m: CLSMetricWithAttribution) => void) => void;
  onFCP: (cb: (m: FCPMetricWithAttribution) => void) => void;
  onINP: (cb: (m: INPMetricWithAttribution) => void) => void;
  onLCP: (cb: (m: LCPMetricWithAttribution) => void) => void;
  onTTFB: (cb: (m: TTFBMetricWithAttribution) => void) => void;
}

const ms = (v: number | undefined): number => Math.round(v || 0);

/**
 * What explains each metric: the element it is about, where its time went, and when what
 * it measures happened (`performance.now()` time: the render, the interaction, the largest
 * shift, the first byte), when the entries say so.
 */
function explain(m: Metric): [string, Props, number | undefined] {
  switch (m.name) {
    case "LCP": {
      const a = m.attribution;
      return [a.target || "", { ttfb: ms(a.timeToFirstByte), delay: ms(a.resourceLoadDelay), load: ms(a.resourceLoadDuration), render: ms(a.elementRenderDelay) }, a.lcpEntry?.startTime];
    }
    case "INP": {
      const a = m.attribution;
      return [a.interactionTarget || "", { type: a.interactionType || "", input: ms(a.inputDelay), proc: ms(a.processingDuration), pres: ms(a.presentationDelay), state: a.loadState }, a.interactionTime];
    }
    case "CLS":
      // No shift at all: nothing happened after the page's start.
      return [m.attribution.largestShiftTarget || "", { state: m.attribution.loadState || "" }, m.attribution.largestShiftTime || 0];
    case "FCP":
      return ["", { ttfb: ms(m.attribution.timeToFirstByte), rest: ms(m.attribution.firstByteToFCP), state: m.attribution.loadState }, m.entries[0]?.startTime];
    default: {
      const a = m.attribution;
      return ["", { wait: ms(a.waitingDuration), cache: ms(a.cacheDuration), dns: ms(a.dnsDuration), conn: ms(a.connectionDuration), req: ms(a.requestDuration) }, m.entries[0] && m.value];
    }
  }
}

/**
 * Core Web Vitals with attribution, one `vital` event per report. This runs in the script
 * build's second file, so the attribution code is only loaded with it.
 */
export function reportVitals(record: Recorder, lib: VitalsLibrary): void {
  const report = (m: Metric): void => {
    const [tg, p, at] = explain(m);
    record("vital", {
      n: m.name,
      tg,
      // When what it measures happened: INP, CLS and often LCP are reported when the page
      // is hidden, after everything the visitor did on it. Else (a page restored from the
      // back/forward cache has no entries) the time of the report.
      ts: at! >= 0 ? Math.round(performance.timeOrigin + at!) : 0,
      // The page as loaded: INP and CLS are reported when it is hidden, maybe on another route.
      u: "",
      // CLS is a unitless score; the others are milliseconds.
      val: m.name === "CLS" ? Math.round(m.value * 10000) / 10000 : Math.round(m.value),
      p: { ...p, rating: m.rating, nav: m.navigationType },
    });
  };
  lib.onLCP(report);
  lib.onINP(report);
  lib.onCLS(report);
  lib.onFCP(report);
  lib.onTTFB(report);
}
