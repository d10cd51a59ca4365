import type { BridgeScript } from "./bridge";
import { api, bridge, type Options } from "./core";
import { guard } from "./lib/safe";

/**
 * The <script> build: configured by the tag's data attributes, exposed as `window.microx`.
 * What can wait because the browser keeps it (the performance timeline for web-vitals'
 * attribution build, page-load timing and long frames; saved events; declared steps on
 * elements that appear) is a second file fetched after start, so the first one stays small.
 */
declare global {
  interface Window {
    microx?: { version?: unknown };
  }
}

// Guarded: never throws into the page.
guard(() => {
  if (window.microx?.version) return; // already loaded on this page
  window.microx = api;
  const script = document.currentScript as HTMLScriptElement | null;
  if (!script) return;
  const data = script.dataset;
  const list = (value = ""): string[] => value.match(/[^\s,]+/g) || [];
  const beside = (path: string): string => new URL(path, script.src).href;
  // Unset (or empty) attributes leave their defaults: no consent list, all sessions.
  // What data-options sets wins over the attributes.
  const options = {
    site: data.site,
    endpoint: data.endpoint || beside("/v1/events"),
    query: list(data.query),
    routes: list(data.routes),
    signals: list(data.signals),
    consent: data.consent && list(data.consent),
    privacySignals: data.privacySignals != "ignore",
    sample: +(data.sample || 1),
    ...(JSON.parse(data.options || "{}") as object),
  } as Options;
  if (api.init(options)) {
    // A script element added by script loads without blocking, as if `async`.
    const second: BridgeScript = document.createElement("script");
    second.microx = bridge;
    // Under a nonce-based CSP the page's nonce lets the second file in as it did this one.
    // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- optional in the DOM types (SVG's), a string ("" for none) on a <script>
    second.nonce = script.nonce!;
    second.src = data.vitals || beside("microx-vitals.js");
    document.head.append(second);
  }
})();
