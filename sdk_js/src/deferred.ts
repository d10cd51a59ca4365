import type { Bridge } from "./bridge";
import { watchDeclaredSteps } from "./declared";
import { handleFailures } from "./failures";
import { guard } from "./lib/safe";
import { captureLoading } from "./loading";
import { capturePerformance } from "./perf";
import { sendOffThread } from "./offthread";
import { sendSaved } from "./saved";
import type { VitalsLibrary } from "./vitals";

/**
 * What can wait until after the page has started, because the browser keeps it: from the
 * performance timeline, web vitals, page-load timing and long animation frames; from
 * storage, events an earlier page left unsent; from the DOM, loading cues and funnel
 * steps declared on elements that appear. And what a failed send does: sends fail only
 * after the start. The script build runs this in its second file, the npm build at `init`.
 */
export function captureDeferred(bridge: Bridge, vitals: VitalsLibrary): void {
  handleFailures(bridge.failures);
  guard(sendOffThread)(bridge.failures);
  sendSaved(bridge.resend, bridge.failures);
  guard(captureLoading)(bridge);
  watchDeclaredSteps(bridge.step);
  capturePerformance(bridge.record, bridge.click, vitals, bridge.selector);
}
