import type { Props, Tracker } from "./tracker";

/** Funnel steps: each carries the time since the previous step of the same funnel. */
export function stepRecorder(tracker: Tracker): (funnel: string, step: string, props?: Props) => void {
  const last: Record<string, number> = {};
  return (funnel, step, props) => {
    const now = Date.now();
    const prev = last[funnel];
    last[funnel] = now;
    tracker.emit("step", {
      n: String(funnel),
      tg: String(step),
      ...(prev === undefined ? {} : { d: now - prev }),
      ...(props ? { p: props } : {}),
    });
  };
}
