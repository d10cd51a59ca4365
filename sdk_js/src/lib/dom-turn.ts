import type { Bridge } from "../bridge";
import { guard } from "./safe";

/**
 * Run each of `scans` on the next turn after DOM changes, which arrive in bursts: one
 * timer for all of them, set from the page's activity (the first file's one DOM
 * observer), so the second file adds no observer, and one timer, per burst.
 */
export function afterDomChanges(watch: Bridge["watch"], scans: (() => void)[]): void {
  let scheduled = false;
  watch((kind) => {
    if (kind == "dom" && !scheduled) {
      scheduled = true;
      setTimeout(() => {
        scheduled = false;
        // One scan's failure leaves the others running.
        for (const scan of scans) guard(scan)();
      });
    }
  });
}
