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

/** The envelope's per-send fields: session, page, context (undefined ones are left out). */
type EnvelopeFields = () => Pick<Envelope, "sid" | "u"> & { [K in "vid" | "r" | "c"]: Envelope[K] | undefined };

/** UTF-8 size of a request body. */
const bytes = (s: string): number => new Blob([s]).size;

/** Another try for events whose earlier send may have arrived after all: the collector checks. */
function again(events: WireEvent[]): WireEvent[] {
  return events.map((e) => ({ ...e, a: Math.min((e.a || 0) + 1, 1000) }));
}

/** Events a page left unsent, and the session they belong to. */
interface Saved {
  sid: string;
  e: WireEvent[];
}

// One transport per page, so its state is this module's.
let endpoint: string;
let site: string;
let envelope: EnvelopeFields;
let queue: WireEvent[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
/** Consecutive failed sends; non-zero means the collector is down, slow or pushing back. */
let fails = 0;
/** No send before this time (backoff or the collector's Retry-After). */
let until = 0;
let inflight = 0;

export function startTransport(url: string, siteId: string, fields: EnvelopeFields): void {
  endpoint = url;
  site = siteId;
  envelope = fields;
  claim();
}

export function push(event: WireEvent): void {
  queue.push(event);
  if (queue.length > MAX_QUEUED) queue.shift();
  if (queue.length >= FLUSH_AT_EVENTS) flush(false);
  else schedule(FLUSH_AFTER_MS);
}

export function drop(): void {
  queue = [];
}

/** Send everything queued; `unloading` means the page may be gone before a reply arrives. */
export function flush(unloading: boolean): void {
  clearTimeout(timer);
  timer = undefined;
  const wait = until - Date.now();
  if (unloading && (fails || wait > 0)) {
    // A beacon to a collector that is failing would be lost unseen: keep the events
    // for the next page instead.
    store(queue);
    queue = [];
    return;
  }
  if (wait > 0) return schedule(wait);
  send(queue, unloading);
}

function schedule(ms: number): void {
  if (!timer) timer = setTimeout(flush, ms, false);
}

/** Send `events` in requests that fit the keepalive budget, emptying the array. */
function send(events: WireEvent[], unloading: boolean, sid?: string): void {
  while (events.length) {
    // The largest prefix whose envelope fits.
    let count = Math.min(events.length, MAX_EVENTS_PER_BATCH);
    let body: string;
    for (;;) {
      const env = { v: CONTRACT_VERSION, s: site, at: Date.now(), ...envelope(), e: events.slice(0, count) };
      if (sid) env.sid = sid;
      body = JSON.stringify(env);
      if (count === 1 || bytes(body) <= MAX_BODY_BYTES) break;
      count = Math.ceil(count / 2);
    }
    const sent = events.splice(0, count);
    if (unloading) beacon(body, sent);
    else post(body, sent);
  }
}

function beacon(body: string, events: WireEvent[]): void {
  // text/plain keeps the request "simple": no CORS preflight, which a closing page
  // would never complete.
  try {
    if (navigator.sendBeacon(endpoint, body)) return;
  } catch {
    // No beacon: keep them below.
  }
  store(events);
}

function post(body: string, events: WireEvent[]): void {
  const size = bytes(body);
  // Keepalive lets a request outlive the page, but shares the page's 64 KiB budget.
  const keepalive = inflight + size <= KEEPALIVE_BUDGET;
  if (keepalive) inflight += size;
  const done = (r?: Response): void => {
    if (keepalive) inflight -= size;
    // No answer, 408, 429 and 5xx are worth another try; any other answer is final for
    // this batch.
    const s = r ? r.status : 0;
    if (s && s < 500 && s !== 408 && s !== 429) {
      fails = 0;
      return;
    }
    const after = r ? Number(r.headers.get("retry-after")) : 0;
    const backoff = Math.min(RETRY_MIN_MS * 2 ** fails++, RETRY_MAX_MS);
    // Jitter spreads the retries of many pages that failed at the same moment.
    const wait = Math.max(after > 0 ? Math.min(after * 1000, 3_600_000) : 0, backoff * (0.5 + Math.random() / 2));
    until = Date.now() + wait;
    queue = again(events).concat(queue).slice(-MAX_QUEUED);
    schedule(wait);
  };
  rawFetch(endpoint, {
    method: "POST",
    body,
    keepalive,
    credentials: "omit",
    headers: { "content-type": "text/plain" },
  }).then(done, () => done());
}

/** Keep unsent events for the next page, under a key of their own so no merge can race. */
function store(events: WireEvent[]): void {
  if (!events.length) return;
  // Bounded: the oldest saved batches make room (keys sort by time).
  let room = MAX_STORED - events.length;
  for (const k of storedKeys().reverse()) {
    const n = load<Saved>("localStorage", k)?.e?.length || 0;
    if ((room -= n) < 0) save("localStorage", k, undefined);
  }
  const env = envelope();
  // Each event keeps the page it happened on; the batch keeps its session.
  const e = again(events.slice(-MAX_STORED)).map((ev) => ({ u: env.u, ...ev }));
  save("localStorage", `${STORED_PREFIX}${Date.now() + 1e12}.${uuid().slice(0, 8)}`, { sid: env.sid, e });
}

/**
 * Send what earlier pages left unsent, each batch under its own session. Each saved batch
 * is read and deleted by one tab only: under a Web Lock where the browser has them, so two
 * tabs opening at once do not both send it (a copy would still be stored once: the
 * collector checks resends).
 */
function claim(): void {
  const take = (): void => {
    for (const k of storedKeys()) {
      const s = load<Saved>("localStorage", k);
      save("localStorage", k, undefined);
      if (s && s.e && s.sid) send(s.e, false, s.sid);
    }
  };
  try {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    if (locks) locks.request("microx_q", take).catch(() => undefined);
    else take();
  } catch {
    // Storage or locks unavailable: nothing to claim.
  }
}

function storedKeys(): string[] {
  try {
    return Object.keys(localStorage)
      .filter((k) => k.startsWith(STORED_PREFIX))
      .sort();
  } catch {
    return []; // Blocked storage: nothing was saved.
  }
}
