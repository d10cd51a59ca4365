// The npm entry: everything the script build has, with web-vitals imported directly
// (a bundler shares it with the app's own copy).
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
import { init as start, vital, type Options } from "./core";
import { reportVitals } from "./vitals";

export { consent, feedback, flush, moment, on, signal, step, variant, version } from "./core";
export type * from "./core";

/** Start measuring (see `Options`); returns false if already started or misconfigured. */
export function init(options: Options): boolean {
  const started = start(options) === true;
  if (started) reportVitals(vital, { onCLS, onFCP, onINP, onLCP, onTTFB });
  return started;
}
