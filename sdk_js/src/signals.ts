import { load, save } from "./lib/store";
import { clip, scrub } from "./lib/text";
import { allows, emit, options, type Props } from "./tracker";

const VIEWS_KEY = "microx_views";
/** Items whose views are counted per visit; more are not remembered. */
const MAX_ITEMS = 200;
export const MAX_SEARCH = 64;

/**
 * Customer signals, each kind recorded only if the site lists it (`signals` option) and
 * the visitor consented to "signals": `view` (an item; repeated views are counted per
 * visit), `basket` (an item and the change in quantity) and `search` (a term, cut and
 * with emails and numbers removed). Other kinds the site lists are recorded as given.
 */
export function recordSignal(kind: string, item: string, props: Props & { qty?: number } = {}): void {
  if (!allows("signals") || !(options.signals || []).includes(kind)) return;
  let tg = kind == "search" ? scrub(item, MAX_SEARCH) : clip(String(item), 300);
  let val: number | undefined;
  if (kind == "view") {
    const views = load<Record<string, number>>(VIEWS_KEY) || {};
    if (views[tg] || Object.keys(views).length < MAX_ITEMS) {
      val = views[tg] = (views[tg] || 0) + 1;
      save(VIEWS_KEY, views);
    }
  }
  if (kind == "basket") val = Number(props.qty) || 1;
  emit("signal", { n: kind, tg, val, p: props });
}
