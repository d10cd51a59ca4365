import { MAX_LENGTH, MAX_PROPS, MAX_PROP_LENGTH, type EventType, type WireEvent } from "./contract";
import { load, save } from "./lib/store";
import { cleanUrl } from "./lib/url";
import { uuid } from "./lib/uuid";
import { sessionIdFactory, visitorId } from "./session";
import { Transport } from "./transport";
import { VERSION } from "./version";

export type Props = Record<string, string | number | boolean>;
/** What the visitor can allow: measuring at all, a visitor id across visits, customer signals. */
export type Category = "measure" | "visitor" | "signals";

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
  p?: Props | undefined;
};

export type Listener = (detail: Record<string, unknown>) => void;

const VARIANTS_KEY = "microx_x";

export class Tracker {
  readonly _transport: Transport;
  readonly _o: Options;
  /** Where this page load started; events carry their own URL only after it changes. */
  readonly _url: string;
  private _seq = 0;
  private _granted: Category[];
  private _vid: string | undefined;
  private _variants: Record<string, string>;
  private _listeners: Record<string, Listener[]> = {};
  private readonly _session = sessionIdFactory();

  constructor(o: Options) {
    this._o = o;
    this._url = this._cleanUrl(location.href);
    const nav = navigator as Navigator & { globalPrivacyControl?: boolean };
    const optedOut =
      o.privacySignals !== false && (nav.globalPrivacyControl === true || nav.doNotTrack === "1");
    this._granted = optedOut ? [] : o.consent || ["measure"];
    this._vid = visitorId(this._allows("visitor"));
    this._variants = load<Record<string, string>>("sessionStorage", VARIANTS_KEY) || {};
    this._transport = new Transport({
      endpoint: o.endpoint || "/v1/events",
      site: o.site,
      envelope: () => {
        const c = {
          sdk: VERSION,
          vw: innerWidth,
          vh: innerHeight,
          lang: (navigator.language || "").slice(0, 35),
          tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
          cs: this._granted.slice(),
          sr: this._rate(),
        };
        const ref = document.referrer;
        return {
          sid: this._session(),
          u: this._url,
          c,
          ...(ref ? { r: cleanUrl(ref) } : {}),
          ...(this._vid ? { vid: this._vid } : {}),
        };
      },
    });
  }

  _allows(c: Category): boolean {
    return this._granted.indexOf(c) >= 0;
  }

  _consent(choice: Partial<Record<Category, boolean>>): void {
    for (const k in choice) {
      const c = k as Category;
      this._granted = this._granted.filter((g) => g !== c);
      if (choice[c]) this._granted.push(c);
    }
    this._vid = visitorId(this._allows("visitor"));
    // Withdrawn consent also covers what is still waiting to be sent.
    if (!this._allows("measure")) this._transport.drop();
  }

  _rate(): number {
    const r = this._o.sample;
    return typeof r === "number" && r >= 0 && r < 1 ? r : 1;
  }

  _cleanUrl(href: string): string {
    return cleanUrl(href, this._o.query);
  }

  _variant(experiment: string, variant: string): void {
    // A new object each time: events already queued keep the variants they ran under.
    this._variants = { ...this._variants, [String(experiment).slice(0, 64)]: String(variant).slice(0, 64) };
    save("sessionStorage", VARIANTS_KEY, this._variants);
  }

  _on(name: string, fn: Listener): void {
    (this._listeners[name] = this._listeners[name] || []).push(fn);
  }

  /** Tell listeners (captures inside, the page's own callbacks outside); theirs may throw. */
  _fire(name: string, detail: Record<string, unknown> = {}): void {
    for (const fn of this._listeners[name] || []) {
      try {
        fn(detail);
      } catch {
        // A page's callback must not stop the others.
      }
    }
  }

  /** Raise a frustration signal in the page, as a callback and as a DOM event. */
  _frustrated(detail: Record<string, unknown>): void {
    this._fire("frustration", detail);
    try {
      document.dispatchEvent(new CustomEvent("microx:frustration", { detail }));
    } catch {
      // Very old browsers have no CustomEvent constructor.
    }
  }

  _emit(t: EventType, f: Fields = {}): void {
    if (!this._allows("measure")) return;
    const rate = this._rate();
    // Sampled per session, so a session is measured whole or not at all.
    if (rate < 1 && parseInt(this._session().slice(0, 8), 16) / 2 ** 32 >= rate) return;
    const e: WireEvent = { id: uuid(), t, ts: f.ts || Date.now(), q: this._seq++ };
    if (f.n) e.n = f.n.slice(0, MAX_LENGTH.n);
    if (f.tg) e.tg = f.tg.slice(0, MAX_LENGTH.tg);
    if (f.l) e.l = f.l.slice(0, MAX_LENGTH.l);
    const u = f.u || this._cleanUrl(location.href);
    if (u !== this._url) e.u = u.slice(0, MAX_LENGTH.u);
    if (f.d !== undefined && f.d >= 0) e.d = Math.round(f.d);
    if (f.val !== undefined && isFinite(f.val)) e.val = f.val;
    if (f.df) e.df = f.df;
    if (f.p) e.p = cleanProps(f.p);
    if (Object.keys(this._variants).length) e.x = this._variants;
    this._transport.push(e);
  }
}

/** Keep props inside the contract: valid keys, scalar values, bounded sizes. */
function cleanProps(p: Props): Props {
  const out: Props = {};
  let n = 0;
  for (const k in p) {
    const v = p[k];
    if (n >= MAX_PROPS || !/^[A-Za-z0-9_.:-]{1,64}$/.test(k)) continue;
    if (typeof v === "string") out[k] = v.slice(0, MAX_PROP_LENGTH);
    else if (typeof v === "boolean" || (typeof v === "number" && isFinite(v))) out[k] = v;
    else continue;
    n++;
  }
  return out;
}
