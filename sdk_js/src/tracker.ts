import { MAX_LENGTH, MAX_PROPS, MAX_PROP_LENGTH, type EventType, type WireEvent } from "./contract";
import { fire } from "./lib/channels";
import { load, save } from "./lib/store";
import { cleanUrl } from "./lib/url";
import { uuid } from "./lib/uuid";
import { sessionIdFactory, visitorId } from "./session";
import { drop, push, startTransport } from "./transport";
import { VERSION } from "./version";

export type Props = Record<string, string | number | boolean>;
/** What the visitor can allow: measuring at all, a visitor id across visits, customer signals. */
export type Category = "measure" | "visitor" | "signals";
const CATEGORIES: Category[] = ["measure", "visitor", "signals"];

export interface Options {
  /** The site id configured on the collector. */
  site: string;
  /** Where to POST events; defaults to `/v1/events` on the page's own origin. */
  endpoint?: string;
  /** Categories granted until `consent()` says otherwise; default `["measure"]`. */
  consent?: Category[];
  /** Honour Global Privacy Control and Do-Not-Track: nothing is measured until `consent()`. Default true. */
  privacySignals?: boolean;
  /** Share of sessions measured, 0–1; default 1. */
  sample?: number;
  /** Query parameters kept in URLs (e.g. `["utm_source"]`); all others are dropped. */
  query?: string[];
  /** The site's route templates (e.g. `["/orgs/:org/users"]`): a path matching one is sent as it. */
  routes?: string[];
  /** Customer signal kinds this site records (e.g. `["view", "basket", "search"]`); default none. */
  signals?: string[];
  /** Rage click: at least `count` clicks, each within `ms` of the last, within `px` of the first. Default 3/1000/30. */
  rage?: { count?: number; ms?: number; px?: number };
  /** A click with no feedback within this many ms is dead. Default 1000. */
  deadMs?: number;
  /** A started form with no input for this many ms is stalled. Default 30000. */
  stallMs?: number;
}

/** The fields of an event a capture fills in; id, type, order and variants are added here. */
export type Fields = { [K in "n" | "tg" | "l" | "u" | "df"]?: string | undefined } & {
  d?: number | undefined;
  val?: number | undefined;
  /** When it happened, if not now (a click reported once its feedback is known). */
  ts?: number | undefined;
  p?: EventProps | undefined;
};

/** An event's props as captures build them: undefined ones, and numbers that are not finite, are not sent. */
export type EventProps = Record<string, string | number | boolean | undefined>;

const VARIANTS_KEY = "microx_x";

/*
 * The tracker is one per page, so its state lives in this module: the captures import
 * what they need rather than each holding an object (smaller, and nothing to pass around).
 * Nothing here runs before `startTracker`; until then `granted` is empty and `emit` does
 * nothing.
 */

/** The options `init` was called with (read only once started). */
export let options: Options;
/** Where this page load started; events carry their own URL only after it changes. */
export let pageUrl = "";
let seq = 0;
let granted: Category[] = [];
let vid: string | undefined;
/** Experiment variants in force; undefined until one is set in this session. */
let variants: Record<string, string> | null | undefined;
let session: () => string;
/** Share of sessions measured, 0–1. */
let rate: number;

export function startTracker(config: Options): void {
  options = config;
  session = sessionIdFactory();
  const sample = config.sample;
  rate = typeof sample == "number" && sample >= 0 && sample < 1 ? sample : 1;
  pageUrl = cleanPageUrl(location.href);
  const nav = navigator as Navigator & { globalPrivacyControl?: boolean };
  const optedOut = config.privacySignals != false && (nav.globalPrivacyControl || nav.doNotTrack == "1");
  const asked = config.consent || ["measure"];
  // Known categories only, each once: the contract refuses anything else in the envelope.
  granted = optedOut ? [] : CATEGORIES.filter((category) => asked.includes(category));
  vid = visitorId(allows("visitor"));
  variants = load(VARIANTS_KEY) as Record<string, string> | null | undefined;
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  // Cleaned once: cleaning a URL on every batch took a tenth of a millisecond.
  const referrer = cleanUrl(document.referrer) || undefined;
  // The envelope is serialised as soon as it is built, so it may share the current state.
  startTransport(config.endpoint || "/v1/events", config.site, () => ({
    sid: session(),
    u: pageUrl,
    c: {
      sdk: VERSION,
      vw: innerWidth,
      vh: innerHeight,
      tz,
      cs: granted,
      sr: rate,
    },
    r: referrer,
    vid,
  }));
}

export const allows = (category: Category): boolean => granted.includes(category);

export function setConsent(choice: Partial<Record<Category, boolean>>): void {
  granted = CATEGORIES.filter((category) => (category in choice ? choice[category] : allows(category)));
  vid = visitorId(allows("visitor"), "visitor" in choice);
  // Withdrawn consent also covers what is still waiting to be sent.
  if (!allows("measure")) drop();
}

/** The latest URL cleaned, and what it became: most events are on the page the one before was on. */
let cleanedHref: string | undefined;
let cleaned: string;

/** A page URL as it may leave the page: without fragment, and only the allowed query. */
export const cleanPageUrl = (href: string): string =>
  href == cleanedHref ? cleaned : (cleaned = cleanUrl((cleanedHref = href), options.query, options.routes));

export function setVariant(experiment: unknown, variant: unknown): void {
  // An experiment name the contract admits, and at most 16 experiments: a batch the
  // collector refused would lose every event in it.
  const name = String(experiment)
    .replace(/[^\w.:-]/g, "_")
    .slice(0, 64);
  if (!name || (!(variants && name in variants) && Object.keys(variants || {}).length >= 16)) return;
  // A new object each time: events already queued keep the variants they ran under.
  variants = { ...variants, [name]: String(variant).slice(0, 64) };
  save(VARIANTS_KEY, variants);
}

/** Raise a frustration signal in the page, as a callback and as a DOM event. */
export function frustrated(detail: Record<string, unknown>): void {
  fire("frustration", detail);
  document.dispatchEvent(new CustomEvent("microx:frustration", { detail }));
}

/** Queue an event of `type`, if measuring. (An arrow: 8 B smaller gzipped than a function declaration.) */
export const emit = (type: EventType, fields: Fields = {}): void => {
  // Sampled per session, so a session is measured whole or not at all.
  if (!allows("measure") || (rate < 1 && parseInt(session().slice(0, 8), 16) / 2 ** 32 >= rate)) return;
  const event: WireEvent = { id: uuid(), t: type, ts: fields.ts || Date.now(), q: seq++ };
  // An empty `u` means the page as loaded (the envelope's URL), whatever route the app
  // shows now: vitals measure the page load.
  const url = fields.u ?? cleanPageUrl(location.href);
  // The string fields, cut to the contract's limits; the page URL only once it changed,
  // but always a route's (two records' paths can share the page's template).
  for (const field in MAX_LENGTH) {
    const key = field as keyof typeof MAX_LENGTH;
    const value = key == "u" ? (url != pageUrl || type == "route" ? url : "") : fields[key];
    if (value) event[key] = value.slice(0, MAX_LENGTH[key]);
  }
  // `undefined >= 0` and `isFinite(undefined)` are false: no duration or value, no field.
  // (Checking for undefined, as TypeScript would have it, costs 16 B gzipped.)
  /* eslint-disable @typescript-eslint/no-non-null-assertion */
  if (fields.d! >= 0) event.d = Math.round(fields.d!);
  if (isFinite(fields.val!)) event.val = fields.val!;
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
  if (fields.p) event.p = cleanProps(fields.p);
  if (variants) event.x = variants;
  push(event);
};

/** Keep props inside the contract: valid keys, scalar values, bounded sizes. */
function cleanProps(props: EventProps): Props {
  const kept: Props = {};
  let count = 0;
  for (const key in props) {
    let value = props[key];
    const type = typeof value;
    if (
      count < MAX_PROPS &&
      /^[\w.:-]{1,64}$/.test(key) &&
      (type == "string" || type == "boolean" || Number.isFinite(value))
    ) {
      if (type == "string") value = (value as string).slice(0, MAX_PROP_LENGTH);
      // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- Number.isFinite does not narrow: a string, boolean or finite number
      kept[key] = value!;
      count++;
    }
  }
  return kept;
}
