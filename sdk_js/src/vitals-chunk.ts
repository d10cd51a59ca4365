// The second file of the script build: what is read from the browser's performance
// timeline (web-vitals' attribution build, page-load timing, long animation frames),
// recorded through the snippet already running on the page.
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
import { capturePerformance, type LastClick, type Recorder } from "./perf";

try {
  const m = (window as unknown as { microx?: { record?: Recorder; click?: () => LastClick } }).microx;
  if (m?.record && m.click) capturePerformance(m.record, m.click, { onCLS, onFCP, onINP, onLCP, onTTFB });
} catch {
  // Never throw into the page.
}
