import type { Activity } from "./activity";
import type { Step } from "./declared";
import type { listen } from "./lib/channels";
import type { LastClick, Recorder } from "./perf";
import type { Resend } from "./saved";
import type { Failures } from "./transport";

/**
 * What the captures of the script build's second file use of the first: recording an
 * event, resending saved ones, the latest click, funnel steps, the page's activity, the
 * page being left, the selector and scrubbing rules (which know what was typed), and the
 * transport's failure handling, which the second file provides. It is not API: the
 * first file hands it to the second on the script element that loads it, so no global
 * holds it and `window.microx` is what the README documents.
 */
export interface Bridge {
  record: Recorder;
  resend: Resend;
  click: () => LastClick;
  step: Step;
  watch: (watcher: (kind: Activity) => void) => void;
  listen: typeof listen;
  selector: (el: Element) => string;
  scrub: (text: unknown, max: number, fromPage?: boolean) => string;
  failures: Failures;
}

/** The script element that loads the second file, carrying the bridge. */
export interface BridgeScript extends HTMLScriptElement {
  microx?: Bridge;
}
