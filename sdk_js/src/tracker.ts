import { MAX_LENGTH, MAX_PROPS, MAX_PROP_LENGTH, type EventType, type WireEvent } from "./contract";
import { uuid } from "./lib/uuid";
import { sessionIdFactory } from "./session";
import { Transport } from "./transport";
import { VERSION } from "./version";

export type Props = Record<string, string | number | boolean>;

export interface Options {
  /** The site id configured on the collector. */
  site: string;
  /** Where to POST events; defaults to `/v1/events` on the page's own origin. */
  endpoint?: string;
}

/** The fields of an event that a capture fills in; id, type, time and order are added here. */
export type Fields = Pick<WireEvent, "n" | "tg" | "l" | "d" | "val" | "u"> & { p?: Props };

export class Tracker {
  readonly transport: Transport;
  private _seq = 0;

  constructor(o: Options) {
    this.transport = new Transport({
      endpoint: o.endpoint || "/v1/events",
      site: o.site,
      session: sessionIdFactory(),
      context: () => ({
        sdk: VERSION,
        vw: innerWidth,
        vh: innerHeight,
        lang: (navigator.language || "").slice(0, 35),
        tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
      }),
    });
  }

  emit(t: EventType, f: Fields = {}): void {
    const e: WireEvent = { id: uuid(), t, ts: Date.now(), q: this._seq++ };
    if (f.n) e.n = f.n.slice(0, MAX_LENGTH.n);
    if (f.tg) e.tg = f.tg.slice(0, MAX_LENGTH.tg);
    if (f.l) e.l = f.l.slice(0, MAX_LENGTH.l);
    if (f.u) e.u = f.u.slice(0, MAX_LENGTH.u);
    if (f.d !== undefined && f.d >= 0) e.d = Math.round(f.d);
    if (f.val !== undefined && isFinite(f.val)) e.val = f.val;
    if (f.p) e.p = cleanProps(f.p);
    this.transport.push(e);
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
