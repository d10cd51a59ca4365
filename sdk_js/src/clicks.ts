import { watch, type Activity } from "./activity";
import { CLICKED, FAILED, fire, LEAVING, listen } from "./lib/channels";
import { label, selector } from "./lib/target";
import type { LastClick } from "./perf";
import { cleanPageUrl, emit, frustrated, options, type EventProps, type Fields } from "./tracker";
import { guard } from "./lib/safe";

/** Defaults from DOMAIN: PostHog's and Datadog's rage click, a dead click after ~1 s. */
export const RAGE_COUNT = 3;
export const RAGE_MS = 1000;
export const RAGE_PX = 30;
export const DEAD_MS = 1000;
/** Elements sharing a click's selector up to this many are told apart by their names (labels, at most 100 characters). */
const NAMED_UP_TO = 20;
/**
 * A click on a submit control or a link waits this long more at most, after its feedback
 * wait, for the view it leads to; a route is timed from a click at most this long before.
 */
export const VIEW_MAX_MS = 10_000;
/** How the wait for a new view is measured (README: Definitions). */
export const VIEW_DF = "view@1:100ms";

/** Elements whose click calls for a visible answer (unless they are fields, below). */
const CLICKABLE = "a,button,input,summary,[role=button],[role=link],[role=tab],[role=menuitem],[onclick]";
/** What a click is meant for: the nearest of these (CLICKABLE and more) around its target, else the target itself. */
const ACTIONABLE = CLICKABLE + ",select,textarea,label,[role=checkbox],[data-microx-name]";
/** Fields and other controls whose use needs no visible answer; never dead. */
const NO_FEEDBACK =
  "input:not([type=button],[type=submit],[type=reset],[type=image]),select,textarea,label,canvas,[contenteditable]";

/** Why a click on something clickable cannot be dead: it needs no visible answer, or answers in another tab. */
const exemption = (el: Element): "field" | "newtab" | undefined =>
  el.matches(NO_FEEDBACK)
    ? "field"
    : (el as HTMLAnchorElement).target == "_blank" || el.hasAttribute("download")
      ? "newtab"
      : undefined;

/** A click waiting for its feedback; it holds the fields of its `click` event. */
interface Pending extends Fields {
  tg: string;
  l: string;
  ts: number;
  p: EventProps & { x: number; y: number };
  _el: Element;
  t0: number;
  _err?: boolean;
  /** its feedback timer */
  _t?: ReturnType<typeof setTimeout>;
  /** records the time to the view it led to, once a route settles; cleared once a route took it */
  _shown?: ((ms?: number) => void) | undefined;
}

/**
 * The latest click (its target and time), for the loading cues, routes and long frames it
 * may cause.
 */
export let lastClick: LastClick & Partial<Pending> = { tg: "", t0: -1e9 };

/**
 * Every click with the time to its first feedback (a DOM change, request, navigation or
 * scroll), and the frustration signals derived from clicks: rage (a burst on one spot),
 * dead (no feedback at all) and error (a script error while the click's action runs).
 * Each click row keeps position, burst count and what answered it, so the signals can be
 * recomputed later with other thresholds.
 */
export function captureClicks(): void {
  const rage = options.rage || {};
  const count = rage.count || RAGE_COUNT;
  const ms = rage.ms || RAGE_MS;
  const px = rage.px || RAGE_PX;
  const deadMs = options.deadMs || DEAD_MS;
  /** Clicks waiting for their first feedback, each with its timer. */
  const open = new Set<Pending>();
  // The burst on one spot in progress: its first click, how many, when the last was.
  let burst: Pending | undefined;
  let burstClicks = 0;
  let burstLast = 0;

  const tell = (type: string, click: Pending, more?: object): void =>
    frustrated({ type, target: click.tg, label: click.l, ...more });
  /**
   * A signal derived from `click`: where and when it was (the click's fields, but only
   * its position of its props; a dead click has no duration, a burst gives its own), and
   * the definition that made it.
   */
  const derive = (type: "dead_click" | "rage_click", click: Pending, df: string, more?: Fields): void =>
    emit(type, { ...click, p: { x: click.p.x, y: click.p.y }, df, ...more });

  // A click's first feedback decides it: it is closed there, in the observer's callback
  // already running, and its timer cleared (a callback of its own cost 30–100 µs in
  // Chromium). Every click still open is waiting for its first.
  watch((kind) => {
    for (const click of open) {
      click.d = performance.now() - click.t0;
      close(click, kind);
    }
  });

  // An error while the latest click's action runs (within `deadMs` of it, answered or
  // not: a request it started may fail after it answered), once a click.
  listen(FAILED, (message: string) => {
    const click = lastClick as Pending;
    if (!click._err && performance.now() - click.t0 < deadMs) {
      click._err = true;
      emit("error_click", { tg: click.tg, l: click.l, n: message, df: `error_click@1:${deadMs}ms` });
      tell("error", click, { error: message });
    }
  });

  /** Clicks whose route has not shown its view yet. */
  const held = new Set<Pending>();
  const report = (click: Pending): void => {
    if (held.delete(click)) emit("click", click);
  };
  const close = (click: Pending, fb: Activity | "none" = "none"): void => {
    // Closed once: at its feedback, by its timer, or by a later click elsewhere.
    if (!open.delete(click)) return;
    clearTimeout(click._t);
    const props = click.p;
    props["fb"] = fb;
    // A data router runs the route's action and loader before it changes the URL: the
    // click of a submit control or a link, or one answered by a navigation, waits for its
    // view, up to VIEW_MAX_MS (checked at the next click, not by a timer of its own), or
    // until the page's visibility changes or it is left. Only a control's click can start
    // a route (not an exempt one, such as a link to another tab), and none has its view
    // yet when it is closed at its first answer.
    const el = click._el as HTMLButtonElement;
    if (!props["ex"] && ((el.form && el.type == "submit") || el.matches("a[href]") || fb == "nav")) held.add(click);
    else emit("click", click);
    if (fb == "none" && !props["ex"]) {
      derive("dead_click", click, `dead@1:${deadMs}ms`);
      // Once per burst: the page hears "rage" for the rest.
      if (!props["burst"]) tell("dead", click);
    }
    // A burst ends once `ms` has passed since its last click: by a dead click's timer
    // where `ms` is at most `deadMs` (the defaults), else with the next click elsewhere or
    // the page being hidden or left.
    if (performance.now() - burstLast >= ms) endBurst();
  };

  const endBurst = (): void => {
    if (burst && burstClicks >= count)
      derive("rage_click", burst, `rage@1:${count}/${ms}ms/${px}px`, { val: burstClicks, d: burstLast - burst.t0 });
    burst = undefined;
  };

  // At each change of visibility (hidden, the page may be discarded without another word;
  // shown again, nothing waits) and when the page is left, the clicks waiting for a view
  // and the burst end. (Those waiting for feedback when the page is left have had it
  // then: its pagehide is activity, `activity.ts`.)
  const end = (): void => {
    held.forEach(report);
    endBurst();
  };
  listen(LEAVING, end);
  addEventListener("visibilitychange", end);

  addEventListener(
    "click",
    guard((event: MouseEvent) => {
      // (A click dispatched on the document or the window has no `closest`: the guard ends it.)
      const target = event.target as Element;
      const el = target.closest(ACTIONABLE) || target;
      if (el.closest("[data-microx-ignore]")) return;
      const now = performance.now();
      for (const click of held) if (now - click.t0 > VIEW_MAX_MS) report(click);
      const x = event.pageX | 0; // whole pixels
      const y = event.pageY | 0;
      // A double or triple click that selected text is reading, not rage. Only where
      // nothing is clickable: clicks that select a control's text are still a burst. (The
      // selection only read then: a call of its own, cold, took 5–20 µs.)
      const plain = !el.matches(CLICKABLE);
      const selection = plain && event.detail > 1 && getSelection();
      const selected = selection && !selection.isCollapsed && el.contains(selection.anchorNode);
      const props: Pending["p"] = {
        x,
        y,
        det: event.detail,
        ex: selected ? "select" : plain ? "plain" : exemption(el),
      };
      let tg = selector(el);
      const name = label(el);
      // Controls sharing a selector (Edit and Delete in one toolbar) are told apart by
      // their own names, while few share it: a list of many links keeps one target.
      // (A selector that is not valid CSS, as with an id like React's `:r1:`, counts none:
      // `undefined > 1` is false.)
      const shared = guard(() => document.querySelectorAll(tg).length)();
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion
      if (name && !props.ex && shared! > 1 && shared! <= NAMED_UP_TO) tg += ` "${name}"`;
      // The page it was made on: a click that changes the route is reported after it.
      const click: Pending = {
        tg,
        l: name,
        ts: Date.now(),
        u: cleanPageUrl(location.href),
        p: props,
        _el: el,
        t0: now,
      };
      // A control's click can start a navigation: the route it leads to times the wait from it.
      if (!props.ex)
        click._shown = (ms) => {
          props["view"] = ms;
          report(click);
        };
      // What happens after a new click answers that click, not the ones before it on
      // other elements, which had no answer then (a second click on a slow button shares
      // the first one's answer).
      for (const other of open) if (other._el != el) close(other);
      open.add(click);
      click._t = setTimeout(guard(close), deadMs, click);
      lastClick = click;
      fire(CLICKED, el);

      if (selected) return;
      if (burst && burst._el == el && now - burstLast <= ms && Math.hypot(x - burst.p.x, y - burst.p.y) <= px) {
        props["burst"] = ++burstClicks;
        if (burstClicks == count) tell("rage", click, { clicks: count });
      } else {
        endBurst();
        burst = click;
        burstClicks = 1;
      }
      burstLast = now;
    }),
    true,
  );
}
