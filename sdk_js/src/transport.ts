import { CONTRACT_VERSION, MAX_EVENTS_PER_BATCH, type Envelope, type WireEvent } from "./contract";
import { rawFetch } from "./activity";
import { load, save } from "./lib/store";
import { uuid } from "./lib/uuid";

/**
 * Browsers give fetch(keepalive) and sendBeacon one shared 64 KiB in-flight budget per
 * page; staying under 60 KB per request leaves room for headers and a second request.
 */
export const MAX_BODY_BYTES = 60_000;
export const KEEPALIVE_BUDGET = 64 * 1024;
export const FLUSH_AFTER_MS = 5_000;
export const FLUSH_AT_EVENTS = 20;
/** Events kept in memory while the collector is unreachable; the oldest go first beyond this. */
export const MAX_QUEUED = 1_000;
/** Events kept in localStorage for the next page when this one closes with some unsent. */
export const MAX_STORED = 500;
export const RETRY_MIN_MS = 1_000;
export const RETRY_MAX_MS = 60_000;
const STORED_PREFIX = "microx_q.";

export interface TransportOptions {
  endpoint: string;
  site: string;
  /** The envelope's per-send fields: session, page, context. */
  envelope: () => Omit<Envelope, "v" | "s" | "at" | "e">;
}

/** UTF-8 size, measured only when three bytes per character might not fit. */
function bytes(s: string): number {
  return s.length * 3 <= MAX_BODY_BYTES ? s.length : new Blob([s]).size;
}

/** Another try for events whose earlier send may have arrived after all: the collector checks. */
function again(events: WireEvent[]): WireEvent[] {
  return events.map((e) => ({ ...e, a: Math.min((e.a || 0) + 1, 1000) }));
}

export class Transport {
  private _queue: WireEvent[] = [];
  private _timer: ReturnType<typeof setTimeout> | undefined;
  /** Consecutive failed sends; non-zero means the collector is down, slow or pushing back. */
  private _fails = 0;
  /** No send before this time (backoff or the collector's Retry-After). */
  private _until = 0;
  private _inflight = 0;
  /** Batches earlier pages left unsent, each sent under the session it belongs to. */
  private _saved: Saved[] = [];

  constructor(private readonly _o: TransportOptions) {
    this._claim();
  }

  push(event: WireEvent): void {
    this._queue.push(event);
    if (this._queue.length > MAX_QUEUED) this._queue.shift();
    if (this._queue.length >= FLUSH_AT_EVENTS) this.flush(false);
    else this._schedule(FLUSH_AFTER_MS);
  }

  drop(): void {
    this._queue = [];
  }

  /** Send everything queued; `unloading` means the page may be gone before a reply arrives. */
  flush(unloading: boolean): void {
    clearTimeout(this._timer);
    this._timer = undefined;
    const wait = this._until - Date.now();
    if (unloading && (this._fails || wait > 0)) {
      // A beacon to a collector that is failing would be lost unseen: keep the events
      // for the next page instead.
      for (const s of this._saved.splice(0)) this._store(s.e);
      this._store(this._queue);
      this._queue = [];
      return;
    }
    if (wait > 0) return this._schedule(wait);
    for (const s of this._saved.splice(0)) this._drain(s.e, unloading, s.sid);
    this._drain(this._queue, unloading);
  }

  private _drain(queue: WireEvent[], unloading: boolean, sid?: string): void {
    while (queue.length) {
      const [body, count] = this._envelope(queue, sid);
      const sent = queue.splice(0, count);
      if (unloading) this._beacon(body, sent);
      else this._send(body, sent);
    }
  }

  private _schedule(ms: number): void {
    if (!this._timer) this._timer = setTimeout(() => this.flush(false), ms);
  }

  /** The largest prefix of `events` whose envelope fits the keepalive budget. */
  private _envelope(events: WireEvent[], sid?: string): [string, number] {
    let count = Math.min(events.length, MAX_EVENTS_PER_BATCH);
    for (;;) {
      const env: Envelope = {
        v: CONTRACT_VERSION,
        s: this._o.site,
        at: Date.now(),
        ...this._o.envelope(),
        ...(sid ? { sid } : {}),
        e: events.slice(0, count),
      };
      const body = JSON.stringify(env);
      if (count === 1 || bytes(body) <= MAX_BODY_BYTES) return [body, count];
      count = Math.ceil(count / 2);
    }
  }

  private _beacon(body: string, events: WireEvent[]): void {
    // text/plain keeps the request "simple": no CORS preflight, which a closing page
    // would never complete.
    try {
      if (navigator.sendBeacon(this._o.endpoint, body)) return;
    } catch {
      // No beacon: keep them below.
    }
    this._store(events);
  }

  private _send(body: string, events: WireEvent[]): void {
    const size = bytes(body);
    // Keepalive lets a request outlive the page, but shares the page's 64 KiB budget.
    const keepalive = this._inflight + size <= KEEPALIVE_BUDGET;
    if (keepalive) this._inflight += size;
    const done = (): void => {
      if (keepalive) this._inflight -= size;
    };
    rawFetch(this._o.endpoint, {
      method: "POST",
      body,
      keepalive,
      credentials: "omit",
      headers: { "content-type": "text/plain" },
    }).then(
      (r) => {
        done();
        // 408, 429 and 5xx are worth another try; any other answer is final for this batch.
        if (r.status < 300 || (r.status < 500 && r.status !== 408 && r.status !== 429)) {
          this._fails = 0;
          return;
        }
        const after = Number(r.headers.get("retry-after"));
        this._retry(events, after > 0 ? Math.min(after * 1000, 3_600_000) : 0);
      },
      () => {
        done();
        this._retry(events, 0);
      },
    );
  }

  private _retry(events: WireEvent[], after: number): void {
    const backoff = Math.min(RETRY_MIN_MS * 2 ** this._fails++, RETRY_MAX_MS);
    // Jitter spreads the retries of many pages that failed at the same moment.
    this._until = Date.now() + Math.max(after, backoff * (0.5 + Math.random() / 2));
    this._queue = again(events).concat(this._queue).slice(-MAX_QUEUED);
    this._schedule(this._until - Date.now());
  }

  /** Keep unsent events for the next page, under a key of their own so no merge can race. */
  private _store(events: WireEvent[]): void {
    if (!events.length) return;
    const keys = storedKeys();
    // Bounded: the oldest saved batches make room (keys sort by time).
    let room = MAX_STORED - events.length;
    for (const k of keys.reverse()) {
      const n = (load<Saved>("localStorage", k) || { e: [] }).e.length;
      if ((room -= n) < 0) save("localStorage", k, undefined);
    }
    const key = `${STORED_PREFIX}${Date.now() + 1e12}.${uuid().slice(0, 8)}`;
    const env = this._o.envelope();
    // Each event keeps the page it happened on; the batch keeps its session.
    const e = again(events.slice(-MAX_STORED)).map((ev) => ({ u: env.u, ...ev }));
    save("localStorage", key, { sid: env.sid, e });
  }

  /**
   * Take what earlier pages left unsent. Each saved batch is read and deleted by one tab
   * only: under a Web Lock where the browser has them, so two tabs opening at once do
   * not both send it (a copy would still be stored once: the collector checks resends).
   */
  private _claim(): void {
    const take = (): void => {
      for (const k of storedKeys()) {
        const saved = load<Saved>("localStorage", k);
        save("localStorage", k, undefined);
        if (saved && saved.e && saved.sid) this._saved.push(saved);
      }
      if (this._saved.length) this._schedule(0);
    };
    try {
      const locks = (navigator as Navigator & { locks?: LockManager }).locks;
      if (locks) locks.request("microx_q", take).catch(() => undefined);
      else take();
    } catch {
      // Storage or locks unavailable: nothing to claim.
    }
  }
}

interface Saved {
  sid: string;
  e: WireEvent[];
}

function storedKeys(): string[] {
  const keys: string[] = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k && k.indexOf(STORED_PREFIX) === 0) keys.push(k);
    }
  } catch {
    // Blocked storage: nothing was saved.
  }
  return keys.sort();
}
