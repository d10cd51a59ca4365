import { clip, scrub } from "./lib/text";
import { allows, emit, options, type Props } from "./tracker";

export const MAX_SEARCH = 64;

/**
 * Customer signals, each kind recorded only if the site lists it (`signals` option) and
 * the visitor consented to "signals": `view` (an item; each view is an event, and the
 * `microx.customer_signals` view counts repeats per visit), `basket` (an item and the change in quantity) and `search` (a term, cut and
 * with emails and numbers removed). Other kinds the site lists are recorded as given.
 */
export function recordSignal(kind: string, item: unknown, props: Props = {}): void {
  if (!allows("signals") || !options.signals?.includes(kind)) return;
  emit("signal", {
    n: kind,
    tg: kind == "search" ? scrub(item, MAX_SEARCH) : clip(String(item), 300),
    val: kind == "basket" ? Number(props.qty) || 1 : undefined,
    p: props,
  });
}
