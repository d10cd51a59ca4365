// The second file of the script build: web-vitals' attribution build and what explains
// each metric, reporting through the snippet already running on the page.
import { onCLS, onFCP, onINP, onLCP, onTTFB } from "web-vitals/attribution";
import type { Fields } from "./tracker";
import { reportVitals } from "./vitals";

try {
  const m = (window as unknown as { microx?: Record<string, (f: Fields) => void> }).microx;
  const emit = m && m["vital"];
  if (emit) reportVitals(emit, { onCLS, onFCP, onINP, onLCP, onTTFB });
} catch {
  // Never throw into the page.
}
