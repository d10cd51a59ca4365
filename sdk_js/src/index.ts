// The npm entry: everything the script build has, with web-vitals imported directly
// (a bundler shares it with the app's own copy).
import { onCLS, onFCP, onINP, onLCP } from "web-vitals/attribution";
import { bridge, init as start, type Options } from "./core";
import { captureDeferred } from "./deferred";

export { consent, feedback, flush, moment, on, signal, step, variant, version } from "./core";
export type * from "./core";

/** Start measuring (see `Options`); returns false if already started or misconfigured. */
export function init(options: Options): boolean {
  const started = start(options) === true;
  if (started) captureDeferred(bridge, { onCLS, onFCP, onINP, onLCP });
  return started;
}
