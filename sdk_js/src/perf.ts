import type { EventType } from "./contract";
import { captureLongFrames } from "./frames";
import { capturePage } from "./page";
import type { Fields } from "./tracker";
import { reportVitals, type VitalsLibrary } from "./vitals";

/** Records an event through the running snippet (consent, sampling and transport apply). */
export type Recorder = (type: EventType, fields?: Fields) => void;

/** The latest click: its target and `performance.now()` time. */
export interface LastClick {
  tg: string;
  t0: number;
}

/**
 * What is read from the browser's performance timeline: web vitals with attribution, the
 * page-load timing and long animation frames. The browser keeps these entries buffered,
 * so the script build fetches this part (its second file) after starting, and nothing is
 * missed while it loads.
 */
export function capturePerformance(
  record: Recorder,
  click: () => LastClick,
  lib: VitalsLibrary,
  selector: (el: Element) => string,
): void {
  for (const capture of [
    () => reportVitals(record, lib, selector),
    () => capturePage(record),
    () => captureLongFrames(record, click),
  ]) {
    try {
      capture();
    } catch {
      // One capture's failure leaves the others running.
    }
  }
}
