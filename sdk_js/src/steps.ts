import { watch } from "./activity";
import { load, save } from "./lib/store";
import type { Props, Tracker } from "./tracker";

const KEY = "microx_steps";
const MARKED = "[data-microx-step]";
const ACTIONS = "a,button,input,[role=button]";

export type StepRecorder = (funnel: string, step: string, props?: Props) => void;

/**
 * Funnel steps, from `microx.step()` or declared in the page: `data-microx-step="funnel:step"`
 * on a button or link counts when clicked, on any other element when it appears. Each step
 * carries the time since the funnel's previous step and its order in the visit, kept in
 * sessionStorage so a funnel spread over several pages is timed whole.
 */
export function captureSteps(tracker: Tracker): StepRecorder {
  const last = load<Record<string, [number, number]>>("sessionStorage", KEY) || {};
  const record: StepRecorder = (funnel, step, props) => {
    const now = Date.now();
    const prev = last[funnel];
    const i = prev ? prev[1] + 1 : 1;
    last[funnel] = [now, i];
    save("sessionStorage", KEY, last);
    tracker._emit("step", {
      n: String(funnel),
      tg: String(step),
      d: prev && now - prev[0],
      p: { ...props, i },
    });
  };
  const declared = (el: Element): void => {
    const [funnel, step] = (el.getAttribute("data-microx-step") || "").split(":");
    if (funnel && step) record(funnel, step);
  };
  const seen = new WeakSet<Element>();
  const scan = (): void => {
    document.querySelectorAll(MARKED).forEach((el) => {
      if (seen.has(el) || el.matches(ACTIONS)) return;
      seen.add(el);
      declared(el);
    });
  };
  let scheduled = false;
  watch((kind) => {
    if (kind === "dom" && !scheduled) (scheduled = true), setTimeout(() => ((scheduled = false), scan()), 0);
  });
  tracker._on("click", (c) => {
    const el = (c["el"] as Element).closest(MARKED);
    if (el && el.matches(ACTIONS)) declared(el);
  });
  scan();
  return record;
}
