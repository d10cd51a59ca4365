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
    const text = scrub(message || kind, 200, true);
    fire(FAILED, text);
    emit("error", { n: text, p: { kind, src: src && cleanPageUrl(src), line } });
  };
  addEventListener(
    "error",
    guard((event: ErrorEvent) => {
      // Resource load failures reach window listeners too, without a message: not script errors.
      if (event.message) report("error", event.message, event.filename, event.lineno);
    }),
  );
  addEventListener(
    "unhandledrejection",
    guard((event: PromiseRejectionEvent) => {
      const reason = event.reason as { message?: unknown } | undefined;
      report("rejection", reason?.message || reason);
    }),
  );
}
