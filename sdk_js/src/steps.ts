import { rescan } from "./activity";
import { CLICKED, listen } from "./lib/channels";
import { load, save } from "./lib/store";
import { attr } from "./lib/target";
import { emit, type Props } from "./tracker";

const KEY = "microx_steps";
const MARKED = "[data-microx-step]";
const ACTIONS = "a,button,input,[role=button]";

/** Each funnel's last step: when, and its order in the visit. */
let last: Record<string, [number, number]>;

/** Record a funnel step, with the time since the funnel's previous step and its order. */
export function recordStep(funnel: string, step: string, props?: Props): void {
  const now = Date.now();
  // A funnel's first step has no previous one: NaN, so no duration.
  const [at, count] = last[funnel] || [NaN, 0];
  const i = count + 1;
  last[funnel] = [now, i];
  save(KEY, last);
  emit("step", { n: String(funnel), tg: String(step), d: now - at, p: { ...props, i } });
}

const declared = (el: Element): void => {
  const [funnel, step] = attr(el, "data-microx-step").split(":");
  if (funnel && step) recordStep(funnel, step);
};

/**
 * Funnel steps, from `microx.step()` or declared in the page: `data-microx-step="funnel:step"`
 * on a button or link counts when clicked, on any other element when it appears. Each step
 * carries the time since the funnel's previous step and its order in the visit, kept in
 * sessionStorage so a funnel spread over several pages is timed whole.
 */
export function captureSteps(): void {
  last = load<Record<string, [number, number]>>(KEY) || {};
  const seen = new WeakSet<Element>();
  rescan(() =>
    document.querySelectorAll(MARKED).forEach((el) => {
      if (seen.has(el) || el.matches(ACTIONS)) return;
      seen.add(el);
      declared(el);
    }),
  );
  listen(CLICKED, (clicked: Element) => {
    const el = clicked.closest(MARKED);
    if (el && el.matches(ACTIONS)) declared(el);
  });
}
