import { actionable, label, selector } from "./lib/target";
import type { Tracker } from "./tracker";

/** Every click: what was clicked (selector and visible label) and where, never a value. */
export function captureClicks(tracker: Tracker): void {
  addEventListener(
    "click",
    (ev: MouseEvent) => {
      try {
        if (!(ev.target instanceof Element)) return;
        const el = actionable(ev.target);
        if (el.closest("[data-microx-ignore]")) return;
        tracker.emit("click", {
          tg: selector(el),
          l: label(el),
          // Raw position and button, so rage clicks can be re-derived with other thresholds.
          p: { x: Math.round(ev.pageX), y: Math.round(ev.pageY), btn: ev.button },
        });
      } catch {
        // Never let measurement break the page's own click handling.
      }
    },
    true,
  );
}
