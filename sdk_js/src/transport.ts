import { CONTRACT_VERSION, MAX_EVENTS_PER_BATCH, type Envelope, type WireEvent } from "./contract";
import { cleanUrl } from "./lib/url";

/**
 * Browsers give fetch(keepalive) and sendBeacon one shared 64 KiB in-flight budget per
 * page; staying under 60 KB per request leaves room for headers and a second request.
 */
export const MAX_BODY_BYTES = 60_000;
export const FLUSH_AFTER_MS = 5_000;
export const FLUSH_AT_EVENTS = 20;
/** Events kept while the collector is unreachable; the oldest go first beyond this. */
export const MAX_QUEUED = 1_000;

export interface TransportOptions {
  endpoint: string;
  site: string;
  session: () => string;
  context: () => Envelope["c"];
}

/** UTF-8 size, measured only when three bytes per character might not fit. */
function bytes(s: string): number {
  return s.length * 3 <= MAX_BODY_BYTES ? s.length : new Blob([s]).size;
}

export class Transport {
  private _queue: WireEvent[] = [];
  private _timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly _o: TransportOptions) {}

  push(event: WireEvent): void {
    this._queue.push(event);
    if (this._queue.length > MAX_QUEUED) this._queue.shift();
    if (this._queue.length >= FLUSH_AT_EVENTS) this.flush(false);
    else if (!this._timer) this._timer = setTimeout(() => this.flush(false), FLUSH_AFTER_MS);
  }

  /** Send everything queued; `unloading` means the page may be gone before a reply arrives. */
  flush(unloading: boolean): void {
    clearTimeout(this._timer);
    this._timer = undefined;
    while (this._queue.length) {
      const [body, count] = this._envelope(this._queue);
      const sent = this._queue.splice(0, count);
      this._send(body, sent, unloading);
    }
  }

  /** The largest prefix of `events` whose envelope fits the keepalive budget. */
  private _envelope(events: WireEvent[]): [string, number] {
    let count = Math.min(events.length, MAX_EVENTS_PER_BATCH);
    for (;;) {
      const env: Envelope = {
        v: CONTRACT_VERSION,
        s: this._o.site,
        sid: this._o.session(),
        at: Date.now(),
        u: cleanUrl(location.href),
        e: events.slice(0, count),
      };
      const ref = document.referrer;
      if (ref) env.r = cleanUrl(ref);
      const c = this._o.context();
      if (c) env.c = c;
      const body = JSON.stringify(env);
      if (count === 1 || bytes(body) <= MAX_BODY_BYTES) return [body, count];
      count = Math.ceil(count / 2);
    }
  }

  private _send(body: string, events: WireEvent[], unloading: boolean): void {
    const url = this._o.endpoint;
    // text/plain keeps the request "simple": no CORS preflight, which a closing page
    // would never complete.
    if (unloading && navigator.sendBeacon) {
      try {
        if (navigator.sendBeacon(url, body)) return;
      } catch {
        // Fall through to fetch.
      }
    }
    try {
      fetch(url, {
        method: "POST",
        body,
        keepalive: bytes(body) <= MAX_BODY_BYTES,
        credentials: "omit",
        headers: { "content-type": "text/plain" },
      }).then(
        (r) => {
          // 5xx and 429 are worth another try; other answers are final for this batch.
          if (r.status >= 500 || r.status === 429) this._requeue(events);
        },
        () => this._requeue(events),
      );
    } catch {
      this._requeue(events);
    }
  }

  private _requeue(events: WireEvent[]): void {
    // The earlier send may have arrived after all (only its answer was lost): the
    // attempt number tells the collector to check before storing it again.
    const again = events.map((e): WireEvent => ({ ...e, a: Math.min((e.a || 0) + 1, 1000) }));
    this._queue = again.concat(this._queue).slice(-MAX_QUEUED);
    if (!this._timer) this._timer = setTimeout(() => this.flush(false), FLUSH_AFTER_MS);
  }
}
