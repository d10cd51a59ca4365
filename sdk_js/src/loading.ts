import type { Bridge } from "./bridge";
import { MAX_LENGTH } from "./contract";
import { LEAVING } from "./lib/channels";
import { attr, named } from "./lib/target";
import { guard } from "./lib/safe";
import type { Fields, Props } from "./tracker";

const CUES = "[aria-busy=true],[role=progressbar],[data-microx-loading]";
/** A cue that appears this soon after a click was started by it. */
const CAUSE_MS = 1000;
/** While a cue is up, it is looked at this often too: CSS alone can hide it. */
const POLL_MS = 100;

/** A cue that is up; it holds the fields of its `loading` event. */
interface Cue extends Fields {
  ts: number;
  p: Props;
  _el: Element;
  _start: number;
}

/** `checkVisibility` is missing before Safari 17.4. */
type MaybeChecked = Partial<Pick<Element, "checkVisibility">>;

/**
 * How long each loading cue (spinner, skeleton, progress bar) stays visible, and which
 * click started it. A cue still up when the visitor leaves is reported as such: they
 * gave up waiting. The DOM keeps a cue, so the script build looks for them from its
 * second file: one already up when it arrives is timed from its arrival.
 */
export function captureLoading({ record, click, watch, listen, selector, scrub }: Bridge): void {
  let up: Cue[] = [];
  let poll: ReturnType<typeof setTimeout> | undefined;

  const end = (cue: Cue, now: number): void => {
    const el = cue._el;
    cue.tg = selector(el);
    // A busy region's text is what it shows (results, a visitor's own words): never its name.
    cue.l = scrub(named(el) || attr(el, "role"), MAX_LENGTH.l, true);
    cue.d = now - cue._start;
    record("loading", cue);
  };

  const scan = (): void => {
    const now = performance.now();
    const was = up;
    const lastClick = click();
    const wait = now - lastClick.t0;
    up = [];
    document.querySelectorAll(CUES).forEach((el) => {
      // Where checkVisibility is missing, a laid-out element counts as visible.
      if (
        (el as MaybeChecked).checkVisibility?.({ visibilityProperty: true, opacityProperty: true }) ??
        el.getClientRects().length
      ) {
        up.push(
          was.find((cue) => cue._el == el) || {
            ts: Date.now(),
            n: attr(el, "data-microx-loading") || (attr(el, "role") == "progressbar" ? "progressbar" : "busy"),
            // Its wait since that click: this event's time less the click's.
            p: wait < CAUSE_MS ? { by: lastClick.tg } : {},
            _el: el,
            _start: now,
          },
        );
      }
    });
    for (const cue of was) if (!up.includes(cue)) end(cue, now);
    clearTimeout(poll);
    if (up[0]) poll = setTimeout(guard(scan), POLL_MS);
  };

  listen(LEAVING, () => {
    const now = performance.now();
    for (const cue of up) {
      cue.p["left"] = true;
      end(cue, now);
    }
    up = [];
  });
  // Again after DOM changes, in the observer's callback, which the browser calls once for
  // a burst of them: a timer of its own cost the page's main thread as much as the scan.
  watch((kind) => kind == "dom" && scan());
  scan();
}
