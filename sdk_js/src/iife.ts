import { consent, feedback, flush, init, moment, on, signal, step, variant, version, vital, type Category, type Options } from "./core";
import { attr } from "./lib/target";

/**
 * The <script> build: configured by the tag's data attributes, exposed as `window.microx`.
 * web-vitals' attribution build is a second file fetched after start, so the first one
 * stays small; browsers keep the entries it needs buffered until it arrives.
 */
(() => {
  try {
    const w = window as unknown as { microx?: Record<string, unknown> };
    if (w.microx && w.microx["version"]) return; // already loaded on this page
    // Named one by one: `{ ...module }` would bundle a namespace object with getters.
    w.microx = { consent, feedback, flush, init, moment, on, signal, step, variant, version, vital };
    const script = document.currentScript as HTMLScriptElement | null;
    if (!script) return;
    const a = (n: string): string => attr(script, "data-" + n);
    const list = (n: string): string[] => a(n).split(",").map((s) => s.trim()).filter(Boolean);
    const at = (path: string): string => new URL(path, script.src).href;
    const o: Options = {
      ...(JSON.parse(a("options") || "{}") as object),
      site: a("site"),
      endpoint: a("endpoint") || at("/v1/events"),
      query: list("query"),
      signals: list("signals"),
    };
    if (a("consent")) o.consent = list("consent") as Category[];
    if (a("privacy-signals") === "ignore") o.privacySignals = false;
    if (a("sample")) o.sample = Number(a("sample"));
    if (init(o) && a("vitals") !== "off") {
      const s = document.createElement("script");
      s.src = a("vitals") || at("microx-vitals.js");
      s.async = true;
      document.head.appendChild(s);
    }
  } catch {
    // Never throw into the page.
  }
})();
