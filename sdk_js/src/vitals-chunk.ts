// The second file of the script build (see `captureDeferred`), recording and sending
// through the snippet already on the page, which left the bridge on the script element
// that loads this file.
import { onCLS, onFCP, onINP, onLCP } from "web-vitals/attribution";
import type { BridgeScript } from "./bridge";
import { captureDeferred } from "./deferred";

try {
  // No bridge: this file was loaded by something else than the snippet (or by a cached
  // first file older than this one), and measures nothing.
  const bridge = (document.currentScript as BridgeScript | null)?.microx;
  if (bridge) captureDeferred(bridge, { onCLS, onFCP, onINP, onLCP });
} catch {
  // Never throw into the page.
}
