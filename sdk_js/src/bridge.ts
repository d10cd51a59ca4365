import type { Step } from "./declared";
import type { LastClick, Recorder } from "./perf";
import type { Resend } from "./saved";

/**
 * What the captures of the script build's second file use of the first: recording an
 * event, resending saved ones, the latest click and funnel steps. It is not API: the
 * first file hands it to the second on the script element that loads it, so no global
 * holds it and `window.microx` is what the README documents.
 */
export interface Bridge {
  record: Recorder;
  resend: Resend;
  click: () => LastClick;
  step: Step;
}

/** The script element that loads the second file, carrying the bridge. */
export interface BridgeScript extends HTMLScriptElement {
  microx?: Bridge;
}
