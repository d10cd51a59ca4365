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

/** Elements whose click calls for a visible answer (unless they are fields, below). */
const CLICKABLE = "a,button,input,summary,[role=button],[role=link],[role=tab],[role=menuitem],[onclick]";
/** What a click is meant for: the nearest of these (CLICKABLE and more) around its target, else the target itself. */
const ACTIONABLE = "a,button,input,summary,[role=button],[role=link],[role=tab],[role=menuitem],[onclick],select,textarea,label,[role=checkbox],[data-microx-name]";
/** Fields and other controls whose use needs no visible answer; never dead. */
const NO_FEEDBACK = "input:not([type=button]):not([type=submit]):not([type=reset]):not([type=image]),select,textarea,label,canvas,[contenteditable]";

/**
 * A click waiting for its feedback; it holds the fields of its `click` event. The first
 * click of a burst on one spot also counts the burst (`_n` clicks, the last at `_last`).
 */
interface Pending extends Fields {
  tg: string;
  l: string;
  ts: number;
  p: EventProps & { x: number; y: number };
  _el: Element;
  t0: number;
  _fb?: Activity | "none";
  _err?: boolean;
  _n?: number;
  _last?: number;
  _timer?: ReturnType<typeof setTimeout>;
}

/** The latest click (its target and time), for the loading cues and long frames it may cause. */
export let lastClick: LastClick = { tg: "", t0: -1e9 };

/**
 * Every click with the time to its first feedback (a DOM change, request, navigation or
 * scroll), and the frustration signals derived from clicks: rage (a burst on one spot),
 * dead (no feedback at all) and error (a script error while the click's action runs).
 * Each click row keeps position, burst count and what answered it, so the signals can be
 * recomputed later with other thresholds.
 */
export function captureClicks(): void {
  const r = options.rage || {};
  const count = r.count || RAGE_COUNT;
  const ms = r.ms || RAGE_MS;
  const px = r.px || RAGE_PX;
  const deadMs = options.deadMs || DEAD_MS;
  const open = new Set<Pending>();
  let burst: Pending | undefined;

  const tell = (type: string, c: Pending, more?: object): void =>
    frustrated({ type, target: c.tg, label: c.l, ...more });
  /**
   * A signal derived from click `c`: where and when it was (the click's fields, but only
   * its position of its props; a dead click has no duration, a burst gives its own), and
   * the definition that made it.
   */
  const derive = (type: "dead_click" | "rage_click", c: Pending, df: string, more?: Fields): void =>
    emit(type, { ...c, p: { x: c.p.x, y: c.p.y }, df, ...more });

  watch((kind) => {
    for (const c of open) if (!c._fb) (c._fb = kind), (c.d = performance.now() - c.t0);
  });

  listen(FAILED, (n: string) => {
    for (const c of open) {
      if (!c._err) {
        c._err = true;
        emit("error_click", { tg: c.tg, l: c.l, n, df: `error_click@1:${deadMs}ms` });
        tell("error", c, { error: n });
      }
    }
  });

  const close = (c: Pending): void => {
    // Closed once: by its timer, or earlier when the page is left (a page restored from
    // the back/forward cache runs the timers of clicks already reported).
    if (!open.delete(c)) return;
    const p = c.p;
    p["fb"] = c._fb || "none";
    emit("click", c);
    if (p["fb"] == "none" && !p["ex"]) {
      derive("dead_click", c, `dead@1:${deadMs}ms`);
      // Once per burst: the page hears "rage" for the rest.
      if (!p["burst"]) tell("dead", c);
    }
  };

  const endBurst = (b: Pending): void => {
    clearTimeout(b._timer);
    if (burst == b) burst = undefined;
    if (b._n! >= count) derive("rage_click", b, `rage@1:${count}/${ms}ms/${px}px`, { val: b._n, d: b._last! - b.t0 });
  };

  listen(LEAVING, () => {
    open.forEach(close);
    if (burst) endBurst(burst);
  });

  addEventListener(
    "click",
    guard((ev: MouseEvent) => {
      if (!(ev.target instanceof Element)) return;
      const el = ev.target.closest(ACTIONABLE) || ev.target;
      if (el.closest("[data-microx-ignore]")) return;
      const now = performance.now();
      const x = ev.pageX | 0; // whole pixels
      const y = ev.pageY | 0;
      // A double or triple click that selected text is reading, not rage. Only where
      // nothing is clickable: clicks that select a control's text are still a burst.
      const s = getSelection();
      const plain = !el.matches(CLICKABLE);
      const sel = plain && ev.detail > 1 && s && !s.isCollapsed && el.contains(s.anchorNode);
      const ex = sel
        ? "select"
        : plain
          ? "plain"
          : el.matches(NO_FEEDBACK)
            ? "field"
            : (el as HTMLAnchorElement).target == "_blank" || el.hasAttribute("download")
              ? "newtab"
              : undefined;
      const p: Pending["p"] = { x, y, det: ev.detail, ex };
      // The page it was made on: a click that changes the route is reported after it.
      const c: Pending = { tg: selector(el), l: label(el), ts: Date.now(), u: cleanPageUrl(location.href), p, _el: el, t0: now };
      // What happens after a new click answers that click, not the ones before it on
      // other elements (a second click on a slow button shares the first one's answer).
      for (const o of open) if (o._el != el) o._fb ||= "none";
      open.add(c);
      setTimeout(guard(close), deadMs, c);
      lastClick = c;
      fire(CLICKED, el);

      if (sel) return;
      let b = burst;
      if (b && b._el == el && now - b._last! <= ms && Math.hypot(x - b.p.x, y - b.p.y) <= px) {
        p["burst"] = ++b._n!;
        if (b._n == count) tell("rage", c, { clicks: count });
      } else {
        if (b) endBurst(b);
        burst = b = c;
        c._n = 1;
      }
      b._last = now;
      clearTimeout(b._timer);
      b._timer = setTimeout(guard(endBurst), ms, b);
    }),
    true,
  );
}
