import { rescan } from "./activity";
import { lastClick } from "./clicks";
import { attr, label, selector } from "./lib/target";
import { emit, listen, type Props } from "./tracker";

const CUES = '[aria-busy="true"],[role="progressbar"],[data-microx-loading]';
/** A cue that appears this soon after a click was started by it. */
const CAUSE_MS = 1000;
/** While a cue is up, it is looked at this often too: CSS alone can hide it. */
const POLL_MS = 100;

interface Cue {
  _start: number;
  _ts: number;
  _kind: string;
  _p: Props;
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
export function captureLoading(): void {
  const up = new Map<Element, Cue>();
  let poll: ReturnType<typeof setInterval> | undefined;

  const end = (el: Element, cue: Cue, now: number, left?: boolean): void => {
    up.delete(el);
    if (left) cue._p["left"] = true;
    emit("loading", { ts: cue._ts, n: cue._kind, tg: selector(el), l: label(el), d: now - cue._start, p: cue._p });
  };

  const scan = (): void => {
    const now = performance.now();
    const seen = new Set<Element>();
    document.querySelectorAll(CUES).forEach((el) => {
      if (!visible(el)) return;
      seen.add(el);
      if (up.has(el)) return;
      const wait = now - lastClick.at;
      up.set(el, {
        _start: now,
        _ts: Date.now(),
        _kind: attr(el, "data-microx-loading") || (attr(el, "role") === "progressbar" ? "progressbar" : "busy"),
        _p: wait < CAUSE_MS ? { by: lastClick.tg, wait: Math.round(wait) } : {},
      });
    });
    up.forEach((cue, el) => seen.has(el) || end(el, cue, now));
    if (up.size && !poll) poll = setInterval(scan, POLL_MS);
    if (!up.size && poll) (clearInterval(poll), (poll = undefined));
  };

  listen("leave", () => {
    const now = performance.now();
    up.forEach((cue, el) => end(el, cue, now, true));
  });
  rescan(scan);
}
