import { flush, init, step, version } from "./index";

// The <script> build: configure from the tag's data attributes and expose `window.microx`.
(() => {
  try {
    const w = window as unknown as { microx?: { version?: string } & Record<string, unknown> };
    if (w.microx && w.microx.version) return; // already loaded on this page
    w.microx = { init, step, flush, version };
    const script = document.currentScript as HTMLScriptElement | null;
    const site = script && script.getAttribute("data-site");
    if (script && site) {
      init({
        site,
        endpoint: script.getAttribute("data-endpoint") || new URL("/v1/events", script.src).href,
      });
    }
  } catch {
    // Never throw into the page.
  }
})();
