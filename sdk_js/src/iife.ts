import * as api from "./core";
import type { Category } from "./core";

/**
 * The <script> build: configured by the tag's data attributes, exposed as `window.microx`.
 * web-vitals' attribution build is a second file fetched after start, so the first one
 * stays small; browsers keep the entries it needs buffered until it arrives.
 */
(() => {
  try {
    const w = window as unknown as { microx?: Record<string, unknown> };
    if (w.microx && w.microx["version"]) return; // already loaded on this page
    w.microx = { ...api };
    const script = document.currentScript as HTMLScriptElement | null;
    const a = (n: string): string => (script && script.getAttribute(`data-${n}`)) || "";
    const list = (n: string): string[] => a(n).split(",").map((s) => s.trim()).filter(Boolean);
    if (!script || !a("site")) return;
    const opts = a("options");
    const started = api.init({
      ...(opts ? (JSON.parse(opts) as object) : {}),
      site: a("site"),
      endpoint: a("endpoint") || new URL("/v1/events", script.src).href,
      ...(a("consent") ? { consent: list("consent") as Category[] } : {}),
      ...(a("privacy-signals") === "ignore" ? { privacySignals: false } : {}),
      ...(a("sample") ? { sample: Number(a("sample")) } : {}),
      query: list("query"),
      signals: list("signals"),
    });
    if (started && a("vitals") !== "off") {
      const s = document.createElement("script");
      s.src = a("vitals") || new URL("microx-vitals.js", script.src).href;
      s.async = true;
      document.head.appendChild(s);
    }
  } catch {
    // Never throw into the page.
  }
})();
