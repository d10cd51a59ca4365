import { FAILED, fire } from "./lib/channels";
import { scrub } from "./lib/text";
import { cleanPageUrl, emit } from "./tracker";
import { guard } from "./lib/safe";

/** A page that throws in a loop must not flood the collector. */
export const MAX_ERRORS = 25;

/** Uncaught errors and rejections; a click in progress becomes an error click. */
export function captureErrors(): void {
  let errors = 0;
  const report = (kind: string, message: unknown, src?: string, line?: number): void => {
    if (errors++ >= MAX_ERRORS) return;
    const n = scrub(message || kind, 200, true);
    fire(FAILED, n);
    emit("error", { n, p: { kind, src: src && cleanPageUrl(src), line } });
  };
  addEventListener("error", guard((e: ErrorEvent) => {
    // Resource load failures reach window listeners too, without a message: not script errors.
    if (e.message) report("error", e.message, e.filename, e.lineno);
  }));
  addEventListener("unhandledrejection", guard((e: PromiseRejectionEvent) => {
    const r = e.reason as { message?: unknown } | undefined;
    report("rejection", r?.message || r);
  }));
}
