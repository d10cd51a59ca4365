import { CLICKED, listen } from "./lib/channels";
import { load, save } from "./lib/store";
import { ACTIONS, declared, MARKED } from "./declared";
import { emit, type Props } from "./tracker";

const KEY = "microx_steps";

/** Each funnel's last step: when, and its order in the visit. */
let last: Record<string, [number, number]>;

/** Record a funnel step, with the time since the funnel's previous step and its order. */
export function recordStep(funnel: unknown, step: unknown, props?: Props): void {
  const now = Date.now();
  // Keyed with a prefix: a funnel named "toString" or "__proto__" is a funnel like others.
  const key = "f" + String(funnel);
  // A funnel's first step has no previous one, so no duration.
  const previous = last[key];
  const order = (previous?.[1] || 0) + 1;
  last[key] = [now, order];
  save(KEY, last);
  emit("step", { n: String(funnel), tg: String(step), d: previous && now - previous[0], p: { ...props, i: order } });
}

/**
 * Funnel steps, from `microx.step()` or declared in the page: `data-microx-step="funnel:step"`
 * on a button or link counts when clicked (here), on any other element when it appears
 * (`watchDeclaredSteps`). Each step carries the time since the funnel's previous step and
 * its order in the visit, kept in sessionStorage so a funnel spread over several pages is
 * timed whole.
 */
export function captureSteps(): void {
  last = (load(KEY) as Record<string, [number, number]> | null | undefined) || {};
  listen(CLICKED, (clicked: Element) => {
    const el = clicked.closest(MARKED);
    if (el?.matches(ACTIONS)) declared(el, recordStep);
  });
}
