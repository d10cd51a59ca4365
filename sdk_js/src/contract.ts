// Generated from schema/events.schema.json by `python -m collector.tools.tsgen`.
// Do not edit: change the schema and regenerate.

export const CONTRACT_VERSION = 1;
export const MAX_EVENTS_PER_BATCH = 500;
export const MAX_PROPS = 32;
export const MAX_PROP_LENGTH = 500;
/** Longest string the contract accepts for each event field. */
export const MAX_LENGTH = {n: 200, tg: 300, l: 100, u: 2048, df: 64} as const;

/** A UUID string. */
export type Uuid = string;
/** Milliseconds since the Unix epoch. */
export type EpochMs = number;
export type EventType =
  | "page"
  | "route"
  | "vital"
  | "click"
  | "rage_click"
  | "dead_click"
  | "error_click"
  | "loading"
  | "form_start"
  | "form_field"
  | "form_invalid"
  | "form_submit"
  | "form_abandon"
  | "step"
  | "moment"
  | "signal"
  | "feedback"
  | "error"
  | "long_task"
;

/** Contract version 1. One POST to /v1/events carries one envelope: who sent it (site, session), when (client clock), where (page, context) and a list of micro-interaction events. Wire keys are short because the snippet sends them from every page; each key's meaning is in its description. */
export interface Envelope {
  /** contract version */
  v: 1;
  /** site id: the public write key the page was configured with */
  s: string;
  /** session id (UUID), new after 30 minutes idle */
  sid: Uuid;
  /** visitor id (UUID) kept in localStorage across visits; sent only when the visitor consented to the visitor category */
  vid?: Uuid;
  /** sent-at: client clock when the batch left the page, ms since the Unix epoch */
  at: EpochMs;
  /** page URL when the batch was sent, query string already dropped by the snippet */
  u: string;
  /** document referrer, origin and path only */
  r?: string;
  c?: Context;
  /** the events */
  e: WireEvent[];
}

/** where the page runs */
export interface Context {
  /** snippet version */
  sdk?: string;
  /** viewport width, CSS px */
  vw?: number;
  /** viewport height, CSS px */
  vh?: number;
  /** the browser's language (navigator.language); when absent the collector takes the first one of the request's Accept-Language */
  lang?: string;
  /** IANA time zone of the browser */
  tz?: string;
  /** consent categories granted when the batch was sent: measure (micro-interactions), visitor (a visitor id across visits), signals (customer signals) */
  cs?: ("measure" | "visitor" | "signals")[];
  /** session sample rate: the share of sessions the page measures (1 = all), so counts can be scaled back up */
  sr?: number;
}

/** one micro-interaction */
export interface WireEvent {
  /** event id (UUID): a resent event is stored once */
  id: Uuid;
  /** event type */
  t: EventType;
  /** client clock when it happened, ms since the Unix epoch; at most 1 minute after the batch's sent-at and at most 7 days before it (else rejected as timestamp_out_of_range) */
  ts: EpochMs;
  /** sequence number within the page load, from 0 */
  q: number;
  /** name: vital (LCP, INP, ...), funnel, moment, form or signal */
  n?: string;
  /** target: a short CSS-like selector for clicks (with the control's label when a few elements share it), the step of a funnel, the field of a form (for form_abandon, the field last focused: where the visitor stopped) */
  tg?: string;
  /** label: visible text of the target, truncated, never a typed value */
  l?: string;
  /** duration in ms (load time, cue visible, time since previous step, time since a form's first input); absent on a form_abandon of a form focused but never typed into */
  d?: number;
  /** measured value when it is not a duration (CLS, a rating) */
  val?: number;
  /** page URL of the event when it differs from the batch's (SPA routes) */
  u?: string;
  /** delivery attempt: absent on the first send; 1, 2, ... when the snippet sends the event again because an earlier send got no answer (the collector then checks it was not stored already) */
  a?: number;
  /** definition that produced a derived signal, name@version:thresholds (e.g. rage@1:3/1000ms/30px), so it can be recomputed from the raw clicks with other thresholds; on a route, how its duration was measured (view@1:100ms: from the click that started it to its view settled) */
  df?: string;
  /** experiment variants in force when the event happened: experiment -> variant */
  x?: Record<string, string>;
  /** extra properties: flat, short keys, scalar values */
  p?: Record<string, string | number | boolean>;
}
