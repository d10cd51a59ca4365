import { watch } from "./activity";
import { label, selector } from "./lib/target";
import type { Tracker } from "./tracker";

const CUES = '[aria-busy="true"],[role="progressbar"],[data-microx-loading]';
/** A cue that appears this soon after a click was started by it. */
const CAUSE_MS = 1000;
/** While a cue is up, it is looked at this often too: CSS alone can hide it. */
const POLL_MS = 100;

interface Cue {
  start: number;
  ts: number;
  kind: string;
  by?: string;
  wait?: number;
}

function visible(el: Element): boolean {
  const e = el as Element & { checkVisibility?: (o: object) => boolean };
  return e.checkVisibility
    ? e.checkVisibility({ visibilityProperty: true, opacityProperty: true })
    : el.getClientRects().length > 0;
}

/**
 * How long each loading cue (spinner, skeleton, progress bar) stays visible, and which
 * click started it. A cue still up when the visitor leaves is reported as such: they
 * gave up waiting.
 */
export function captureLoading(tracker: Tracker): void {
  const up = new Map<Element, Cue>();
  let click = { tg: "", at: -1e9 };
  let scheduled = false;
  let poll: ReturnType<typeof setInterval> | undefined;

  tracker._on("click", (c) => {
    click = { tg: String(c["tg"]), at: performance.now() };
  });

  const end = (el: Element, cue: Cue, now: number, left?: boolean): void => {
    up.delete(el);
    const p: Record<string, string | number | boolean> = {};
    if (cue.by) (p["by"] = cue.by), (p["wait"] = Math.round(cue.wait || 0));
    if (left) p["left"] = true;
    tracker._emit("loading", { ts: cue.ts, n: cue.kind, tg: selector(el), l: label(el), d: now - cue.start, p });
  };

  const scan = (): void => {
    scheduled = false;
    const now = performance.now();
    const seen = new Set<Element>();
    document.querySelectorAll(CUES).forEach((el) => {
      if (!visible(el)) return;
      seen.add(el);
      if (up.has(el)) return;
      const cue: Cue = {
        start: now,
        ts: Date.now(),
        kind: el.getAttribute("data-microx-loading") || (el.getAttribute("role") === "progressbar" ? "progressbar" : "busy"),
      };
      if (now - click.at < CAUSE_MS) (cue.by = click.tg), (cue.wait = now - click.at);
      up.set(el, cue);
    });
    up.forEach((cue, el) => {
      if (!seen.has(el)) end(el, cue, now);
    });
    if (up.size && !poll) poll = setInterval(scan, POLL_MS);
    if (!up.size && poll) (clearInterval(poll), (poll = undefined));
  };

  watch((kind) => {
    // Many DOM changes arrive in one burst: look once, on the next turn.
    if (kind === "dom" && !scheduled) (scheduled = true), setTimeout(scan, 0);
  });
  tracker._on("leave", () => {
    const now = performance.now();
    up.forEach((cue, el) => end(el, cue, now, true));
  });
  scan();
}
