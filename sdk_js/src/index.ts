import { captureClicks } from "./clicks";
import { capturePage } from "./page";
import { stepRecorder } from "./steps";
import { Tracker, type Options, type Props } from "./tracker";
import { captureVitals } from "./vitals";

export type { Options, Props } from "./tracker";
export type { Envelope, EventType, WireEvent } from "./contract";
export { VERSION as version } from "./version";

let tracker: Tracker | undefined;
let recordStep: ReturnType<typeof stepRecorder> | undefined;

/** Run `fn`, swallowing anything it throws: measurement must never break the page. */
function guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args) => {
    try {
      fn(...args);
    } catch {
      // Deliberately quiet.
    }
  };
}

/** Start measuring. Later calls are ignored, so a snippet loaded twice measures once. */
export const init = guard((options: Options): void => {
  if (tracker || !options || !options.site) return;
  const t = (tracker = new Tracker(options));
  recordStep = stepRecorder(t);
  capturePage(t);
  captureVitals(t);
  captureClicks(t);
  // Registered after the vitals so their final reports on hide are queued first; on
  // window, so this runs after any listener on document for the same event.
  const leave = (): void => t.transport.flush(true);
  addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") leave();
  });
  addEventListener("pagehide", leave);
});

/** Record that a visitor reached `step` of `funnel` (e.g. `step("checkout", "payment")`). */
export const step = guard((funnel: string, stepName: string, props?: Props): void => {
  if (recordStep) recordStep(funnel, stepName, props);
});

/** Send what is queued now rather than at the next batch. */
export const flush = guard((): void => {
  if (tracker) tracker.transport.flush(false);
});
