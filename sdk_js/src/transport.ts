import { CONTRACT_VERSION, MAX_EVENTS_PER_BATCH, type Envelope, type WireEvent } from "./contract";
import { rawFetch } from "./activity";
import { guard } from "./lib/safe";
import { save } from "./lib/store";

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
export const STORED_PREFIX = "microx_q.";

/** The envelope's per-send fields: session, page, context (undefined ones are left out). */
type EnvelopeFields = () => Pick<Envelope, "sid" | "u"> & { [K in "vid" | "r" | "c"]: Envelope[K] | undefined };

/**
 * What a failed send does, which the second file provides (`failures.ts`): a send fails
 * after the page has started, and storage keeps what it saves. Until it has arrived (or
 * where it is blocked) what fails to send is lost.
 */
export interface Failures {
  /**
   * How long to wait after `fails` failures before this one, given the collector's answer;
   * `events` are marked for another try.
   */
  wait?: (response: Partial<Response>, fails: number, events: WireEvent[]) => number;
  /** Keep events for a later page, under `sid` or the page's session, marked for another try. */
  keep?: (events: WireEvent[], current: ReturnType<EnvelopeFields>, sid?: string) => void;
  /** Send a request off the page's main thread, as `fetch` would (`offthread.ts`); until then, `fetch`. */
  post?: (endpoint: string, init: RequestInit & { body: string }) => Promise<Partial<Response>>;
}
export const failures: Failures = {};

/** Events a page left unsent, and the session they belong to. */
export interface Saved {
  sid: string;
  e: WireEvent[];
}

/** Queue an event; sent with the next batch. */
export let push: (event: WireEvent) => void;
/** Send everything queued; `unloading` means the page may be gone before a reply arrives. */
export let flush: (unloading: boolean) => void;
/** Forget what is queued, and what earlier pages saved. */
export let drop: () => void;
/** Send events an earlier page left, under their session (see `saved.ts`); false: not now. */
export let resend: (events: WireEvent[], sid: string) => boolean;

/**
 * Start sending to `endpoint`, with `envelope` giving each request's session, page and
 * context. One transport per page, so its state lives in this closure.
 */
export function startTransport(endpoint: string, site: string, envelope: EnvelopeFields): void {
  let queue: WireEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Consecutive failed sends; non-zero means the collector is down, slow or pushing back. */
  let fails = 0;
  /** No send before this time (backoff or the collector's Retry-After). */
  let until = 0;
  let inflight = 0;

  const schedule = (ms: number): void => {
    timer ||= setTimeout(guard(flush), ms, false);
  };

  /** Send `events` in requests that fit the keepalive budget, emptying the array. */
  const send = (events: WireEvent[], unloading: boolean, sid?: string): void => {
    while (events[0]) {
      // The largest prefix whose envelope fits: all (up to the contract's limit), then halves.
      let count = Math.min(events.length, MAX_EVENTS_PER_BATCH) * 2;
      let body: string;
      let size: number;
      do {
        // Halved inside the slice: as a statement of its own it costs 2 B gzipped.
        const batch = {
          v: CONTRACT_VERSION,
          s: site,
          at: Date.now(),
          ...envelope(),
          e: events.slice(0, (count = Math.ceil(count / 2))),
        };
        if (sid) batch.sid = sid;
        // Its size in UTF-8 at most: 3 bytes a character (UTF-16 unit), the most UTF-8
        // takes for one. Counting exactly (a TextEncoder's) took 0.05–0.1 ms of the 0.4 a
        // batch took to send, so a body of ASCII goes out at up to a third of
        // MAX_BODY_BYTES. (Not a Blob's size: making a Blob registers it with the
        // browser's blob store, which took longer than building the whole batch.)
        size = (body = JSON.stringify(batch)).length * 3;
      } while (count > 1 && size > MAX_BODY_BYTES);
      const sent = events.splice(0, count);
      // A beacon's string body goes as text/plain, a "simple" request: no CORS preflight,
      // which a closing page would never complete. Refused (over the browser's budget):
      // kept for the next page. (It throws only for a malformed endpoint, and then the
      // guarded caller ends there.)
      if (!unloading) post(body, size, sent, sid);
      else if (!navigator.sendBeacon(endpoint, body)) store(sent);
    }
  };

  /** `size`: the body's in bytes; `sid`: the events are an earlier page's, of that session. */
  const post = (body: string, size: number, events: WireEvent[], sid?: string): void => {
    // Keepalive lets a request outlive the page, but shares the page's 64 KiB budget.
    const keepalive = inflight + size <= KEEPALIVE_BUDGET;
    const held = keepalive ? size : 0;
    inflight += held;
    // A string body goes as text/plain: a "simple" request, like the beacon's. No answer
    // (a network error), 408, 429 and 5xx are worth another try; any other answer is final
    // for this batch.
    const done = guard((response: Partial<Response>): void => {
      inflight -= held;
      const status = response.status;
      if (status && status < 500 && status != 408 && status != 429) {
        fails = 0;
        return;
      }
      // Before the second file there is no retry: the events are lost.
      // (An earlier page's events are marked for another try as they are saved again.)
      const wait = failures.wait?.(response, fails++, sid ? [] : events);
      if (!wait) return;
      until = Date.now() + wait;
      // An earlier page's events go back to storage, still under their own session, to be
      // taken again (`saved.ts`); this page's wait in the queue.
      if (sid) store(events, sid);
      else queue = events.concat(queue).slice(-MAX_QUEUED);
      schedule(wait);
    });
    (failures.post || rawFetch)(endpoint, { method: "POST", body, keepalive, credentials: "omit" }).then(done, done);
  };

  /** Keep unsent events for the next page (`failures.ts`). */
  const store = (events: WireEvent[], sid?: string): void => {
    if (events[0]) failures.keep?.(events, envelope(), sid);
  };

  push = (event) => {
    if (queue.push(event) > MAX_QUEUED) queue.shift();
    if (queue.length < FLUSH_AT_EVENTS) schedule(FLUSH_AFTER_MS);
    else flush(false);
  };

  flush = (unloading) => {
    clearTimeout(timer);
    timer = undefined;
    const wait = until - Date.now();
    // A beacon to a collector that is failing would be lost unseen: keep the events for
    // the next page instead.
    if (unloading && (fails || wait > 0)) store(queue.splice(0));
    else if (wait > 0) schedule(wait);
    else send(queue, unloading);
  };

  drop = () => {
    queue = [];
    // Where storage is blocked this throws, with the queue already empty, into a guarded
    // caller (`consent`): nothing was saved then.
    for (const key of Object.keys(localStorage)) if (key.startsWith(STORED_PREFIX)) save(key, undefined, true);
  };

  // While the collector is backing off, an earlier page's events stay saved for later.
  resend = (events, sid) => {
    if (until > Date.now()) return false;
    send(events, false, sid);
    return true;
  };
}

/** The keys of saved batches, oldest first. */
export function storedKeys(): string[] {
  try {
    return Object.keys(localStorage)
      .filter((key) => key.startsWith(STORED_PREFIX))
      .sort();
  } catch {
    return []; // Blocked storage: nothing was saved.
  }
}
