import { click, consent, feedback, flush, init, moment, on, record, signal, step, variant, version, type Category, type Options } from "./core";

/**
 * The <script> build: configured by the tag's data attributes, exposed as `window.microx`.
 * What is read from the performance timeline (web-vitals' attribution build, page-load
 * timing, long frames) is a second file fetched after start, so the first one stays
 * small; browsers keep the entries it needs buffered until it arrives.
 */
(() => {
  try {
    const w = window as unknown as { microx?: Record<string, unknown> };
    if (w.microx?.["version"]) return; // already loaded on this page
    // Named one by one: `{ ...module }` would bundle a namespace object with getters.
    w.microx = { click, consent, feedback, flush, init, moment, on, record, signal, step, variant, version };
    const script = document.currentScript as HTMLScriptElement | null;
    if (!script) return;
    const data = script.dataset;
    const list = (s = ""): string[] => s.split(",").map((s) => s.trim()).filter(Boolean);
    const at = (path: string): string => new URL(path, script.src).href;
    const o: Options = {
      ...(JSON.parse(data.options || "{}") as object),
      site: data.site || "",
      endpoint: data.endpoint || at("/v1/events"),
      query: list(data.query),
      signals: list(data.signals),
    };
    if (data.consent) o.consent = list(data.consent) as Category[];
    if (data.privacySignals == "ignore") o.privacySignals = false;
    if (data.sample) o.sample = Number(data.sample);
    if (init(o) && data.vitals != "off") {
      // A script element added by script loads without blocking, as if `async`.
      const s = document.createElement("script");
      s.src = data.vitals || at("microx-vitals.js");
      document.head.append(s);
    }
  } catch {
    // Never throw into the page.
  }
})();
