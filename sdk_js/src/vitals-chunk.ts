// The second file of the script build: what can wait until after the page has started,
// because the browser keeps it. From the performance timeline: web-vitals' attribution
// build, page-load timing, long animation frames. From storage: events an earlier page
// left unsent. From the DOM: funnel steps declared on elements that appear. All of it
// recorded and sent through the snippet already on the page.
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
import { watchDeclaredSteps, type Step } from "./declared";
import { capturePerformance, type LastClick, type Recorder } from "./perf";
import { sendSaved, type Resend } from "./saved";

try {
  const m = (
    window as unknown as {
      microx?: {
        record?: Recorder;
        click?: () => LastClick;
        resend?: Resend;
        step?: Step;
      };
    }
  ).microx;
  // Each part needs only its own hook (a cached first file may be older than this one).
  if (m?.resend) sendSaved(m.resend);
  if (m?.step) watchDeclaredSteps(m.step);
  if (m?.record && m.click) capturePerformance(m.record, m.click, { onCLS, onFCP, onINP, onLCP, onTTFB });
} catch {
  // Never throw into the page.
}
