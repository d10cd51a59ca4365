// The npm entry: everything the script build has, with web-vitals imported directly
// (a bundler shares it with the app's own copy).
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
import { click, init as start, record, resend, step, type Options } from "./core";
import { watchDeclaredSteps } from "./declared";
import { capturePerformance, type Recorder } from "./perf";
import { sendSaved } from "./saved";

export { consent, feedback, flush, moment, on, signal, step, variant, version } from "./core";
export type * from "./core";

/** Start measuring (see `Options`); returns false if already started or misconfigured. */
export function init(options: Options): boolean {
  const started = start(options) === true;
  if (started) {
    sendSaved(resend);
    watchDeclaredSteps(step);
    capturePerformance(record as Recorder, click, { onCLS, onFCP, onINP, onLCP, onTTFB });
  }
  return started;
}
