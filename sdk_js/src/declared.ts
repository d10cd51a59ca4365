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
 * Returns the scan, to run again after DOM changes.
 */
export function watchDeclaredSteps(step: Step): () => void {
  const seen = new WeakSet<Element>();
  const scan = (): void => {
    document.querySelectorAll(MARKED).forEach((el) => {
      if (seen.has(el) || el.matches(ACTIONS)) return;
      seen.add(el);
      declared(el, step);
    });
  };
  guard(scan)();
  return scan;
}
