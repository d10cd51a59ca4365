import { lastClick } from "./clicks";
import { FAILED, fire } from "./lib/channels";
import { clip } from "./lib/text";
import { cleanPageUrl, emit } from "./tracker";

/** A page that throws in a loop must not flood the collector. */
export const MAX_ERRORS = 25;
export const MAX_LONG_TASKS = 30;
/** A long task or frame this soon after a click is that interaction's. */
const NEAR_CLICK_MS = 1000;

/**
 * Uncaught errors and rejections, and long animation frames (long tasks where frames are
 * not exposed), each tied to the click in progress when there is one.
 */
export function captureErrors(): void {
  let errors = 0;
  const report = (kind: string, message: unknown, src?: string, line?: number): void => {
    if (errors++ >= MAX_ERRORS) return;
    const n = clip(String(message || kind), 200);
    fire(FAILED, n);
    emit("error", { n, p: { kind, src: src ? cleanPageUrl(src) : undefined, line: line || undefined } });
  };
  addEventListener("error", (e) => {
    // Resource load failures reach window listeners too, without a message: not script errors.
    if (e.message) report("error", e.message, e.filename, e.lineno);
  });
  addEventListener("unhandledrejection", (e) => {
    const r = e.reason as { message?: unknown } | undefined;
    report("rejection", r?.message || r);
  });

  let tasks = 0;
  const type = ["long-animation-frame", "longtask"].find((t) => PerformanceObserver.supportedEntryTypes.includes(t));
  if (!type) return;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { blockingDuration?: number })[]) {
      if (tasks++ >= MAX_LONG_TASKS) return;
      // The frame that ran the click's handler started before the click was seen.
      const at = lastClick._t0;
      const near = e.startTime + e.duration >= at && e.startTime < at + NEAR_CLICK_MS;
      emit("long_task", {
        ts: Math.round(performance.timeOrigin + e.startTime),
        n: type == "longtask" ? type : "loaf",
        d: e.duration,
        // A long task has no blocking duration: NaN, not sent.
        p: { block: Math.round(e.blockingDuration!), ia: near ? lastClick.tg : undefined },
      });
    }
  }).observe({ type, buffered: true });
}
