import { ACTIONS, declared, MARKED } from "./declared";
import { CLICKED, listen } from "./lib/channels";
import { load, save } from "./lib/store";
import { emit, type Props } from "./tracker";

const KEY = "microx_steps";

/** Each funnel's last step: when, and its order in the visit; read at the page's first step. */
let last: Record<string, [number, number]> | undefined;

/**
 * Record a funnel step, from `microx.step()` or declared in the page (`watchDeclaredSteps`),
 * with the time since the funnel's previous step and its order in the visit, kept in
 * sessionStorage so a funnel spread over several pages is timed whole.
 */
export function recordStep(funnel: unknown, step: unknown, props?: Props): void {
  last ||= (load(KEY) as Record<string, [number, number]> | null | undefined) || {};
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
 * Funnel steps declared on a button or link (`data-microx-step="funnel:step"`) count when
 * clicked; on any other element, when they appear (`watchDeclaredSteps`). A click happens
 * once: the first file counts it.
 */
export function captureSteps(): void {
  listen(CLICKED, (clicked: Element) => {
    const el = clicked.closest(MARKED);
    if (el?.matches(ACTIONS)) declared(el, recordStep);
  });
}
