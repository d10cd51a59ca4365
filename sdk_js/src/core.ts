import { observeActivity, watch } from "./activity";
import { captureClicks, lastClick } from "./clicks";
import { captureErrors } from "./errors";
import type { Bridge } from "./bridge";
import { captureForms } from "./forms";
import { fire, LEAVING, listen, type Listener } from "./lib/channels";
import { guard } from "./lib/safe";
import { clip, scrub } from "./lib/text";
import { captureRoutes } from "./routes";
import { recordSignal } from "./signals";
import { captureSteps, recordStep } from "./steps";
import { allows, emit, setConsent, setVariant, startTracker, type Category, type Options, type Props } from "./tracker";
import { failures, resend as resendNow, flush as send } from "./transport";
import { selector } from "./lib/target";
import { VERSION } from "./version";

export type { Category, Options, Props } from "./tracker";
export type { Listener } from "./lib/channels";
export type { Envelope, EventType, WireEvent } from "./contract";

let started = false;

/** Like `guard`, and doing nothing before `init`. (An arrow: 5 B smaller gzipped than a function declaration.) */
const live = <A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R | undefined) =>
  guard((...args: A) => (started ? fn(...args) : undefined));

export interface Moment {
  /** Start (or restart) the clock; a moment also starts when created. */
  start(): Moment;
  /** Stop the clock and record the moment once; returns its duration in ms. */
  end(props?: Props): number | undefined;
}

/**
 * The API, documented at the named exports below. Pages call it from plain JavaScript
 * too, with any value: what it converts or checks, its implementation takes as `unknown`.
 */
export interface Api {
  init: (options: Options) => boolean | undefined;
  step: (funnel: string, step: string, props?: Props) => void;
  moment: (name: string, props?: Props) => Moment;
  signal: (kind: string, item: string, props?: Props & { qty?: number }) => void;
  feedback: (moment: string, rating: number, comment?: string) => void;
  variant: (experiment: string, variant: string) => void;
  consent: (choice: Partial<Record<Category, boolean>>) => void;
  on: (name: string, callback: Listener) => void;
  flush: () => void;
  version: string;
}

/**
 * The whole API as one object, which the script build exposes as `window.microx`. Defined
 * in it, each name is written once in that build (an object made of the named exports would
 * repeat every name); the named exports below, documented, are the npm build's.
 */
export const api: Api = {
  init: guard((options: Options | undefined): boolean => {
    if (started || !options?.site) return false;
    started = true;
    // Activity first: the transport may send what an earlier page left, with the page's own fetch.
    observeActivity();
    startTracker(options);
    for (const capture of [captureSteps, captureRoutes, captureClicks, captureForms, captureErrors]) {
      guard(capture)();
    }
    // On window and not capturing, so this runs after web-vitals' own listeners have
    // queued their final reports.
    addEventListener(
      "visibilitychange",
      guard(() => {
        if (document.hidden) send(true);
      }),
    );
    addEventListener(
      "pagehide",
      guard(() => {
        fire(LEAVING);
        send(true);
      }),
    );
    return true;
  }),

  step: live(recordStep),

  moment: (name: unknown, props?: Props): Moment => {
    // Undefined once ended: a second `end` records nothing until `start` again.
    let startedAt: number | undefined = performance.now();
    const moment: Moment = {
      start: () => {
        startedAt = performance.now();
        return moment;
      },
      end: live((more?: Props) => {
        if (startedAt === undefined) return undefined;
        const duration = performance.now() - startedAt;
        startedAt = undefined;
        emit("moment", { n: String(name), d: duration, p: { ...props, ...more } });
        return duration;
      }),
    };
    return moment;
  },

  signal: live(recordSignal),

  feedback: live((momentName: unknown, rating: unknown, comment?: unknown): void => {
    if (typeof rating === "number") {
      emit("feedback", {
        n: clip(String(momentName), 200),
        val: rating,
        p: comment ? { comment: scrub(comment, 300) } : undefined,
      });
    }
  }),

  variant: live(setVariant),

  consent: live(setConsent),

  on: live(listen as (name: string, fn: Listener) => void),

  flush: live((): void => send(false)),

  version: VERSION,
};

/** Start measuring. Later calls are ignored, so a snippet loaded twice measures once. */
export const init = api.init;

/** Record that a visitor reached `step` of `funnel` (e.g. `step("checkout", "payment")`). */
export const step = api.step;

/** A timed moment of your own: `const m = moment("chat-reply").start(); ... m.end()`. */
export const moment = api.moment;

/** A customer signal (`view`, `basket`, `search`, ...); recorded only for kinds the site enables and with consent. */
export const signal = api.signal;

/** The visitor's rating of a moment (thumbs: 1 or -1; or 1–5), with an optional short comment. */
export const feedback = api.feedback;

/** Tag every later event of this visit with the variant of an experiment. */
export const variant = api.variant;

/** The visitor's choice, e.g. `consent({ measure: true, visitor: false, signals: true })`. */
export const consent = api.consent;

/**
 * Listen in the page: `on("frustration", (d) => offerHelp(d))` on rage, dead and error clicks
 * and stalled forms. A callback that is not a function fails alone, like one that throws.
 */
export const on = api.on;

/** Send what is queued now rather than at the next batch. */
export const flush = api.flush;

/** The snippet's version. */
export const version = VERSION;

/** What the deferred captures use (`captureDeferred`); not API. */
export const bridge: Bridge = {
  record: live(emit),
  // False or undefined keeps them saved: before `init`, without consent to measure, or
  // while the collector asks to wait.
  resend: live((events, sid) => allows("measure") && resendNow(events, sid)),
  click: () => lastClick,
  step: api.step,
  watch,
  listen,
  selector,
  scrub,
  failures,
};
