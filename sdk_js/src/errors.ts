import { clip } from "./lib/text";
import type { Tracker } from "./tracker";

/** A page that throws in a loop must not flood the collector. */
export const MAX_ERRORS = 25;
export const MAX_LONG_TASKS = 30;
/** A long task or frame this soon after a click is that interaction's. */
const NEAR_CLICK_MS = 1000;

/**
 * Uncaught errors and rejections, and long animation frames (long tasks where frames are
 * not exposed), each tied to the click in progress when there is one.
 */
export function captureErrors(tracker: Tracker): void {
  let errors = 0;
  let click = { tg: "", at: -1e9 };
  tracker._on("click", (c) => {
    click = { tg: String(c["tg"]), at: performance.now() };
  });
  const report = (kind: string, message: unknown, src?: string, line?: number): void => {
    if (errors++ >= MAX_ERRORS) return;
    const n = clip(String(message || kind), 200);
    tracker._fire("error", { n });
    const p: Record<string, string | number> = { kind };
    if (src) p["src"] = tracker._cleanUrl(src);
    if (line) p["line"] = line;
    tracker._emit("error", { n, p });
  };
  addEventListener("error", (e: ErrorEvent) => {
    // Resource load failures reach window listeners too, without a message: not script errors.
    if (e.message) report("error", e.message, e.filename, e.lineno);
  });
  addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
    const r = e.reason as { message?: unknown } | undefined;
    report("rejection", r && r.message ? r.message : r);
  });

  let tasks = 0;
  const types = PerformanceObserver.supportedEntryTypes || [];
  const type = types.indexOf("long-animation-frame") >= 0 ? "long-animation-frame" : "longtask";
  if (types.indexOf(type) < 0) return;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (tasks++ >= MAX_LONG_TASKS) return;
      const p: Record<string, string | number> = {};
      const block = (e as PerformanceEntry & { blockingDuration?: number }).blockingDuration;
      if (block !== undefined) p["block"] = Math.round(block);
      // The frame that ran the click's handler started before the click was seen.
      if (e.startTime + e.duration >= click.at && e.startTime < click.at + NEAR_CLICK_MS) p["ia"] = click.tg;
      tracker._emit("long_task", {
        ts: Math.round(performance.timeOrigin + e.startTime),
        n: type === "longtask" ? "longtask" : "loaf",
        d: e.duration,
        p,
      });
    }
  }).observe({ type, buffered: true });
}
