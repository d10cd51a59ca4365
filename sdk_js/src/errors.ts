import { lastClick } from "./clicks";
import { clip } from "./lib/text";
import { cleanPageUrl, emit, fire, type Props } from "./tracker";

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
    fire("error", { n });
    const p: Props = { kind };
    if (src) p["src"] = cleanPageUrl(src);
    if (line) p["line"] = line;
    emit("error", { n, p });
  };
  addEventListener("error", (e: ErrorEvent) => {
    // Resource load failures reach window listeners too, without a message: not script errors.
    if (e.message) report("error", e.message, e.filename, e.lineno);
  });
  addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
    const r = e.reason as { message?: unknown } | undefined;
    report("rejection", r?.message || r);
  });

  let tasks = 0;
  const types = PerformanceObserver.supportedEntryTypes;
  const loaf = types.includes("long-animation-frame");
  const type = loaf ? "long-animation-frame" : "longtask";
  if (!types.includes(type)) return;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (tasks++ >= MAX_LONG_TASKS) return;
      const p: Props = {};
      const block = (e as PerformanceEntry & { blockingDuration?: number }).blockingDuration;
      if (block !== undefined) p["block"] = Math.round(block);
      // The frame that ran the click's handler started before the click was seen.
      const at = lastClick.at;
      if (e.startTime + e.duration >= at && e.startTime < at + NEAR_CLICK_MS) p["ia"] = lastClick.tg;
      emit("long_task", {
        ts: Math.round(performance.timeOrigin + e.startTime),
        n: loaf ? "loaf" : "longtask",
        d: e.duration,
        p,
      });
    }
  }).observe({ type, buffered: true });
}
