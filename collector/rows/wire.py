"""The wire contract as types: generated from schema/events.schema.json by
``python -m collector.tools.pygen``. Do not edit: change the schema and regenerate
(``make contract``)."""

# ruff: noqa: E741 - the keys are the wire's, "l" (label) included

# No postponed annotations: TypedDict reads NotRequired[...] when the class is made.
from typing import Literal, NotRequired, TypedDict

Uuid = str
# Milliseconds since the Unix epoch.
EpochMs = float
EventType = Literal[
    "page",
    "route",
    "vital",
    "click",
    "rage_click",
    "dead_click",
    "error_click",
    "loading",
    "form_start",
    "form_field",
    "form_invalid",
    "form_submit",
    "form_abandon",
    "step",
    "moment",
    "signal",
    "feedback",
    "error",
    "long_task",
]


class Context(TypedDict):
    """where the page runs"""

    # snippet version
    sdk: NotRequired[str]
    # viewport width, CSS px
    vw: NotRequired[float]
    # viewport height, CSS px
    vh: NotRequired[float]
    # the browser's language (navigator.language); when absent the collector takes the first one
    # of the request's Accept-Language
    lang: NotRequired[str]
    # IANA time zone of the browser
    tz: NotRequired[str]
    # consent categories granted when the batch was sent: measure (micro-interactions), visitor (a
    # visitor id across visits), signals (customer signals)
    cs: NotRequired[list[Literal["measure", "visitor", "signals"]]]
    # session sample rate: the share of sessions the page measures (1 = all), so counts can be
    # scaled back up
    sr: NotRequired[float]


class WireEvent(TypedDict):
    """one micro-interaction"""

    # event id (UUID): a resent event is stored once
    id: Uuid
    # event type
    t: EventType
    # client clock when it happened, ms since the Unix epoch; at most 1 minute after the batch's
    # sent-at and at most 7 days before it (else rejected as timestamp_out_of_range)
    ts: EpochMs
    # sequence number within the page load, from 0
    q: float
    # name: vital (LCP, INP, ...), funnel, moment, form or signal
    n: NotRequired[str]
    # target: a short CSS-like selector for clicks (with the control's label when a few elements
    # share it), the step of a funnel, the field of a form (for form_abandon, the field last
    # focused: where the visitor stopped)
    tg: NotRequired[str]
    # label: visible text of the target, truncated, never a typed value
    l: NotRequired[str]
    # duration in ms (load time, cue visible, time since previous step, time since a form's first
    # input); absent on a form_abandon of a form focused but never typed into
    d: NotRequired[float]
    # measured value when it is not a duration (CLS, a rating)
    val: NotRequired[float]
    # page URL of the event when it differs from the batch's (SPA routes)
    u: NotRequired[str]
    # delivery attempt: absent on the first send; 1, 2, ... when the snippet sends the event again
    # because an earlier send got no answer (the collector then checks it was not stored already)
    a: NotRequired[float]
    # definition that produced a derived signal, name@version:thresholds (e.g.
    # rage@1:3/1000ms/30px), so it can be recomputed from the raw clicks with other thresholds; on
    # a route, how its duration was measured (view@1:100ms: from the click that started it to its
    # view settled)
    df: NotRequired[str]
    # experiment variants in force when the event happened: experiment -> variant
    x: NotRequired[dict[str, str]]
    # extra properties: flat, short keys, scalar values
    p: NotRequired[dict[str, str | float | bool]]


class Envelope(TypedDict):
    """Contract version 1. One POST to /v1/events carries one envelope: who sent it (site,
    session), when (client clock), where (page, context) and a list of micro-interaction events.
    Wire keys are short because the snippet sends them from every page; each key's meaning is in
    its description."""

    # contract version
    v: Literal[1]
    # site id: the public write key the page was configured with
    s: str
    # session id (UUID), new after 30 minutes idle
    sid: Uuid
    # visitor id (UUID) kept in localStorage across visits; sent only when the visitor consented
    # to the visitor category
    vid: NotRequired[Uuid]
    # sent-at: client clock when the batch left the page, ms since the Unix epoch
    at: EpochMs
    # page URL when the batch was sent, query string already dropped by the snippet
    u: str
    # document referrer, origin and path only
    r: NotRequired[str]
    c: NotRequired[Context]
    # the events
    e: list[WireEvent]
