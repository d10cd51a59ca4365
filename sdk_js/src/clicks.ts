import { watch, type Activity } from "./activity";
import { actionable, label, selector } from "./lib/target";
import { emit, fire, frustrated, listen, options, type Fields, type Props } from "./tracker";

/** Defaults from DOMAIN: PostHog's and Datadog's rage click, a dead click after ~1 s. */
export const RAGE_COUNT = 3;
export const RAGE_MS = 1000;
export const RAGE_PX = 30;
export const DEAD_MS = 1000;

/** Fields and other controls whose use needs no visible answer; never dead. */
const NO_FEEDBACK = "input:not([type=button]):not([type=submit]):not([type=reset]):not([type=image]),select,textarea,label,canvas,[contenteditable]";
const CLICKABLE = "a,button,input,summary,[role=button],[role=link],[role=tab],[role=menuitem],[onclick]";

/** A click waiting for its feedback; it holds the fields of its `click` event. */
interface Pending extends Fields {
  el: Element;
  tg: string;
  l: string;
  ts: number;
  t0: number;
  x: number;
  y: number;
  p: Props;
  fb?: Activity | "none";
  err?: string;
}

/** Clicks on one spot in quick succession, from the first one (`c`). */
interface Burst {
  c: Pending;
  n: number;
  last: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** The latest click, for the loading cues and long frames it may have caused. */
export const lastClick = { tg: "", at: -1e9 };

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
  const rageDef = `rage@1:${count}/${ms}ms/${px}px`;
  const open = new Set<Pending>();
  let burst: Burst | undefined;

  const tell = (type: string, c: Pending, more?: object): void =>
    frustrated({ type, target: c.tg, label: c.l, ...more });
  /** Where and when a click was, for the signals derived from it. */
  const spot = (c: Pending): Fields => ({ ts: c.ts, tg: c.tg, l: c.l, p: { x: c.x, y: c.y } });

  watch((kind, now) => {
    for (const c of open) {
      if (!c.fb) (c.fb = kind), (c.d = now - c.t0);
    }
  });

  listen("error", (e) => {
    for (const c of open) {
      if (c.err) continue;
      c.err = String(e["n"] || "");
      emit("error_click", { tg: c.tg, l: c.l, n: c.err, df: `error_click@1:${deadMs}ms` });
      tell("error", c, { error: c.err });
    }
  });

  const close = (c: Pending): void => {
    open.delete(c);
    c.p["fb"] = c.fb || "none";
    emit("click", c);
    if (c.p["fb"] === "none" && !c.p["ex"]) {
      emit("dead_click", { ...spot(c), df: `dead@1:${deadMs}ms` });
      tell("dead", c);
    }
  };

  const endBurst = (b: Burst): void => {
    clearTimeout(b.timer);
    if (burst === b) burst = undefined;
    if (b.n >= count) emit("rage_click", { ...spot(b.c), val: b.n, d: b.last - b.c.t0, df: rageDef });
  };

  listen("leave", () => {
    open.forEach(close);
    if (burst) endBurst(burst);
  });

  addEventListener(
    "click",
    (ev: MouseEvent) => {
      if (!(ev.target instanceof Element)) return;
      const el = actionable(ev.target);
      if (el.closest("[data-microx-ignore]")) return;
      const now = performance.now();
      const x = Math.round(ev.pageX);
      const y = Math.round(ev.pageY);
      const tg = selector(el);
      // A double or triple click that selected text is reading, not rage.
      const s = getSelection();
      const sel = ev.detail > 1 && s && !s.isCollapsed && el.contains(s.anchorNode);
      const a = el as HTMLAnchorElement;
      const ex = !el.matches(CLICKABLE)
        ? "plain"
        : el.matches(NO_FEEDBACK)
          ? "field"
          : a.target === "_blank" || a.hasAttribute("download")
            ? "newtab"
            : sel
              ? "select"
              : undefined;
      const p: Props = { x, y, btn: ev.button, det: ev.detail };
      if (ex) p["ex"] = ex;
      const c: Pending = { el, tg, l: label(el), ts: Date.now(), t0: now, x, y, p };
      // What happens after a new click answers that click, not the ones before it.
      for (const o of open) o.fb ||= "none";
      open.add(c);
      setTimeout(close, deadMs, c);
      lastClick.tg = tg;
      lastClick.at = now;
      fire("click", { tg, el });

      if (sel) return;
      let b = burst;
      if (b && b.c.el === el && now - b.last <= ms && Math.hypot(x - b.c.x, y - b.c.y) <= px) {
        b.last = now;
        p["burst"] = ++b.n;
        if (b.n === count) tell("rage", c, { clicks: b.n });
      } else {
        if (b) endBurst(b);
        burst = b = { c, n: 1, last: now };
      }
      clearTimeout(b.timer);
      b.timer = setTimeout(endBurst, ms, b);
    },
    true,
  );
}
