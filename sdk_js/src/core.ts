import { observeActivity } from "./activity";
import { captureClicks } from "./clicks";
import { captureErrors } from "./errors";
import { captureForms } from "./forms";
import { clip, scrub } from "./lib/text";
import { captureLoading } from "./loading";
import { capturePage } from "./page";
import { captureRoutes } from "./routes";
import { signalRecorder, type SignalRecorder } from "./signals";
import { captureSteps, type StepRecorder } from "./steps";
import { Tracker, type Category, type Fields, type Listener, type Options, type Props } from "./tracker";

export type { Category, Listener, Options, Props } from "./tracker";
export type { Envelope, EventType, WireEvent } from "./contract";
export { VERSION as version } from "./version";

let tracker: Tracker | undefined;
let recordStep: StepRecorder | undefined;
let recordSignal: SignalRecorder | undefined;

/** Run `fn`, swallowing anything it throws: measurement must never break the page. */
function guard<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R | undefined {
  return (...args) => {
    try {
      return fn(...args);
    } catch {
      return undefined;
    }
  };
}

/** Start measuring. Later calls are ignored, so a snippet loaded twice measures once. */
export const init = guard((options: Options): boolean => {
  if (tracker || !options || !options.site) return false;
  const t = (tracker = new Tracker(options));
  observeActivity();
  recordStep = captureSteps(t);
  recordSignal = signalRecorder(t);
  for (const capture of [capturePage, captureRoutes, captureClicks, captureLoading, captureForms, captureErrors]) {
    guard(capture)(t);
  }
  // On window and not capturing, so this runs after web-vitals' own listeners have
  // queued their final reports.
  addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") t._transport.flush(true);
  });
  addEventListener("pagehide", () => {
    t._fire("leave");
    t._transport.flush(true);
  });
  return true;
});

/** Record one web-vitals report (the script build's second file and the npm entry call this). */
export const vital = guard((f: Fields): void => {
  if (tracker) tracker._emit("vital", f);
});

/** Record that a visitor reached `step` of `funnel` (e.g. `step("checkout", "payment")`). */
export const step = guard((funnel: string, stepName: string, props?: Props): void => {
  if (recordStep) recordStep(funnel, stepName, props);
});

export interface Moment {
  /** Start (or restart) the clock; a moment also starts when created. */
  start(): Moment;
  /** Stop the clock and record the moment once; returns its duration in ms. */
  end(props?: Props): number | undefined;
}

/** A timed moment of your own: `const m = moment("chat-reply").start(); ... m.end()`. */
export const moment = (name: string, props?: Props): Moment => {
  let t0 = performance.now();
  let done = false;
  const m: Moment = {
    start: () => ((t0 = performance.now()), (done = false), m),
    end: guard((more?: Props) => {
      if (done || !tracker) return undefined;
      done = true;
      const d = performance.now() - t0;
      tracker._emit("moment", { n: String(name), d, p: { ...props, ...more } });
      return d;
    }),
  };
  return m;
};

/** A customer signal (`view`, `basket`, `search`, ...); recorded only for kinds the site enables and with consent. */
export const signal = guard((kind: string, item: string, props?: Props & { qty?: number }): void => {
  if (recordSignal) recordSignal(kind, item, props);
});

/** The visitor's rating of a moment (thumbs: 1 or -1; or 1–5), with an optional short comment. */
export const feedback = guard((momentName: string, rating: number, comment?: string): void => {
  if (!tracker || typeof rating !== "number") return;
  tracker._emit("feedback", {
    n: clip(String(momentName), 200),
    val: rating,
    p: comment ? { comment: scrub(comment, 300) } : undefined,
  });
});

/** Tag every later event of this visit with the variant of an experiment. */
export const variant = guard((experiment: string, name: string): void => {
  if (tracker) tracker._variant(experiment, name);
});

/** The visitor's choice, e.g. `consent({ measure: true, visitor: false, signals: true })`. */
export const consent = guard((choice: Partial<Record<Category, boolean>>): void => {
  if (tracker) tracker._consent(choice);
});

/** Listen in the page: `on("frustration", (d) => offerHelp(d))` on rage, dead and error clicks and stalled forms. */
export const on = guard((name: string, fn: Listener): void => {
  if (tracker && typeof fn === "function") tracker._on(name, fn);
});

/** Send what is queued now rather than at the next batch. */
export const flush = guard((): void => {
  if (tracker) tracker._transport.flush(false);
});
