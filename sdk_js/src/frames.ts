import type { LastClick, Recorder } from "./perf";

export const MAX_LONG_TASKS = 30;
/** A long task or frame this soon after a click is that interaction's. */
const NEAR_CLICK_MS = 1000;

/**
 * Long animation frames (long tasks where frames are not exposed), each tied to the click
 * in progress when there is one. The browser buffers them, so this runs in the script
 * build's second file.
 */
export function captureLongFrames(record: Recorder, latestClick: () => LastClick): void {
  let tasks = 0;
  const type = ["long-animation-frame", "longtask"].find((kind) =>
    PerformanceObserver.supportedEntryTypes.includes(kind),
  );
  if (!type) return;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as (PerformanceEntry & { blockingDuration?: number })[]) {
      if (tasks++ >= MAX_LONG_TASKS) return;
      // The frame that ran the click's handler started before the click was seen.
      const click = latestClick();
      const near = entry.startTime + entry.duration >= click.t0 && entry.startTime < click.t0 + NEAR_CLICK_MS;
      record("long_task", {
        ts: Math.round(performance.timeOrigin + entry.startTime),
        n: type == "longtask" ? type : "loaf",
        d: entry.duration,
        // A long task has no blocking duration, so no `block`.
        p: { block: entry.blockingDuration && Math.round(entry.blockingDuration), ia: near ? click.tg : undefined },
      });
    }
  }).observe({ type, buffered: true });
}
