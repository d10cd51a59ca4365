import { guard } from "./lib/safe";
import { attr } from "./lib/target";

/** Elements that declare a funnel step: `data-microx-step="funnel:step"`. */
export const MARKED = "[data-microx-step]";
/** A declared step on one of these counts when it is clicked; on any other, when it appears. */
export const ACTIONS = "a,button,input,[role=button]";

/** Records a funnel step (`microx.step`). */
export type Step = (funnel: string, step: string) => unknown;

/** Record the step `el` declares, if it declares one whole. */
export function declared(el: Element, step: Step): void {
  const [funnel, name] = attr(el, "data-microx-step").split(":");
  if (funnel && name) step(funnel, name);
}

/**
 * Declared steps on elements that are not clicked but appear (a confirmation, a step's
 * panel): each element counts once, when first seen. The script build runs this in its
 * second file, so an element already there when the file arrives counts at its arrival.
 */
export function watchDeclaredSteps(step: Step): void {
  const seen = new WeakSet<Element>();
  let scheduled = 0;
  const scan = guard((): void => {
    scheduled = 0;
    document.querySelectorAll(MARKED).forEach((el) => {
      if (seen.has(el) || el.matches(ACTIONS)) return;
      seen.add(el);
      declared(el, step);
    });
  });
  // DOM changes come in bursts: one scan on the next turn after them. (An observer of its
  // own: this runs in the second file, which cannot share the first one's.)
  new MutationObserver(() => {
    scheduled ||= setTimeout(scan);
  }).observe(document, {
    childList: true,
    subtree: true,
    attributeFilter: ["data-microx-step"],
  });
  scan();
}
