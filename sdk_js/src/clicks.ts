import { watch, type Activity } from "./activity";
import { actionable, label, selector } from "./lib/target";
import type { Tracker } from "./tracker";

/** Defaults from DOMAIN: PostHog's and Datadog's rage click, a dead click after ~1 s. */
export const RAGE_COUNT = 3;
export const RAGE_MS = 1000;
export const RAGE_PX = 30;
export const DEAD_MS = 1000;

/** Fields and other controls whose use needs no visible answer; never dead. */
const NO_FEEDBACK = "input:not([type=button]):not([type=submit]):not([type=reset]):not([type=image]),select,textarea,label,canvas,[contenteditable]";
const CLICKABLE = "a,button,input,summary,[role=button],[role=link],[role=tab],[role=menuitem],[onclick]";

interface Pending {
  el: Element;
  tg: string;
  l: string;
  ts: number;
  t0: number;
  x: number;
  y: number;
  p: Record<string, string | number | boolean>;
  fb?: Activity | "none";
  d?: number;
  err?: string;
}

interface Burst {
  el: Element;
  tg: string;
  l: string;
  ts: number;
  x: number;
  y: number;
  n: number;
  t0: number;
  last: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Every click with the time to its first feedback (a DOM change, request, navigation or
 * scroll), and the frustration signals derived from clicks: rage (a burst on one spot),
 * dead (no feedback at all) and error (a script error while the click's action runs).
 * Each click row keeps position, burst count and what answered it, so the signals can be
 * recomputed later with other thresholds.
 */
export function captureClicks(tracker: Tracker): void {
  const r = tracker._o.rage || {};
  const count = r.count || RAGE_COUNT;
  const ms = r.ms || RAGE_MS;
  const px = r.px || RAGE_PX;
  const deadMs = tracker._o.deadMs || DEAD_MS;
  const rageDef = `rage@1:${count}/${ms}ms/${px}px`;
  let open: Pending[] = [];
  let burst: Burst | undefined;

  watch((kind, now) => {
    for (const c of open) {
      if (!c.fb) (c.fb = kind), (c.d = now - c.t0);
    }
  });

  tracker._on("error", (e) => {
    for (const c of open) {
      if (c.err) continue;
      c.err = String(e["n"] || "");
      tracker._emit("error_click", { tg: c.tg, l: c.l, n: c.err, df: `error_click@1:${deadMs}ms` });
      tracker._frustrated({ type: "error", target: c.tg, label: c.l, error: c.err });
    }
  });

  const close = (c: Pending): void => {
    open = open.filter((o) => o !== c);
    c.p["fb"] = c.fb || "none";
    tracker._emit("click", { ts: c.ts, tg: c.tg, l: c.l, p: c.p, d: c.d });
    if (c.p["fb"] === "none" && c.p["ex"] === undefined) {
      tracker._emit("dead_click", { ts: c.ts, tg: c.tg, l: c.l, df: `dead@1:${deadMs}ms`, p: { x: c.x, y: c.y } });
      tracker._frustrated({ type: "dead", target: c.tg, label: c.l });
    }
  };

  const endBurst = (b: Burst): void => {
    clearTimeout(b.timer);
    if (burst === b) burst = undefined;
    if (b.n >= count) {
      tracker._emit("rage_click", {
        ts: b.ts, tg: b.tg, l: b.l, val: b.n, d: b.last - b.t0, df: rageDef, p: { x: b.x, y: b.y },
      });
    }
  };

  tracker._on("leave", () => {
    for (const c of open.slice()) close(c);
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
      const l = label(el);
      // A double or triple click that selected text is reading, not rage.
      const s = getSelection();
      const sel = ev.detail > 1 && !!s && !s.isCollapsed && el.contains(s.anchorNode);
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
      const p: Pending["p"] = { x, y, btn: ev.button, det: ev.detail };
      if (ex) p["ex"] = ex;
      const c: Pending = { el, tg, l, ts: Date.now(), t0: now, x, y, p };
      // What happens after a new click answers that click, not the ones before it.
      for (const o of open) o.fb = o.fb || "none";
      open.push(c);
      setTimeout(() => close(c), deadMs);
      tracker._fire("click", { tg, el });

      if (sel) return;
      const b = burst;
      if (b && b.el === el && now - b.last <= ms && Math.hypot(x - b.x, y - b.y) <= px) {
        b.n++;
        b.last = now;
        clearTimeout(b.timer);
        b.timer = setTimeout(() => endBurst(b), ms);
        p["burst"] = b.n;
        if (b.n === count) tracker._frustrated({ type: "rage", target: tg, label: l, clicks: b.n });
      } else {
        if (b) endBurst(b);
        const nb: Burst = { el, tg, l, ts: c.ts, x, y, n: 1, t0: now, last: now };
        nb.timer = setTimeout(() => endBurst(nb), ms);
        burst = nb;
      }
    },
    true,
  );
}
