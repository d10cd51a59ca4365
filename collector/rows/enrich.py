"""enrich: turn validated events into ``microx.events`` rows, in
:data:`~collector.rows.columns.EVENT_COLUMNS` order. The one place where server-side facts
are added to what the page sent.

Adds what only the server knows: when the batch arrived, how far the client clock is
off (``received_at - sent_at``), the browser, OS and device class from the User-Agent,
the language from Accept-Language when the page did not say it, and URLs cleaned again.
The client's own times are kept beside the corrected one. The client IP is not an input
here at all, so it cannot end up in a row.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from collector.rows.columns import Row
from collector.rows.useragent import classify
from collector.rows.wire import Context, Envelope, WireEvent

# The contract's upper bound for client times (2100-01-01); corrected times are held to
# the same range so a wildly wrong sent-at cannot push a row outside DateTime64.
MAX_EPOCH_MS = 4_102_444_800_000


def _prop_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


# The contract's limit for the context's `lang`.
LANG_MAX = 35


def language(context: Context, accept_language: str) -> str:
    """The page's language: the context's, else the first preference of the request's
    Accept-Language — the browser sends navigator.language there, so the snippet need not."""
    if "lang" in context:
        return context["lang"]
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip()
    return first[:LANG_MAX] if first != "*" else ""


# The snippet's rule for URLs (sdk_js/src/lib/url.ts), applied again to what arrives: after
# the origin, a part holding an email, or one of 16 or more characters with a letter from
# g to z beside a digit or a run of 8 hex digits (an id, a reset link's key, a JWT), is
# replaced, so a sender that skips the snippet's cleaning stores neither.
_URL_PART = re.compile(r"^\w+://[^/]*|[^/?#&=]+")
_EMAIL = re.compile(r"@|%40", re.I)
_TOKEN = re.compile(r"[g-z]\d|\d[g-z]|[\da-f]{8}", re.I)
TOKEN_LENGTH = 16


def _url_part(m: re.Match[str]) -> str:
    part = m.group()
    if m.start() == 0 and "://" in part:
        return part
    if _EMAIL.search(part):
        return "[email]"
    return "[token]" if len(part) >= TOKEN_LENGTH and _TOKEN.search(part) else part


@functools.lru_cache(maxsize=4096)
def scrub_url(url: str) -> str:
    return _URL_PART.sub(_url_part, url)


def _path(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return ""


def enrich(
    envelope: Envelope,
    events: list[WireEvent],
    received_ms: int,
    user_agent: str,
    accept_language: str = "",
) -> list[Row]:
    """One row per event, in :data:`EVENT_COLUMNS` order. Times are epoch milliseconds, the
    DateTime64(3) columns' own ticks: the driver writes them as they are, where datetime
    objects would cost a conversion each way (a fifth of the sink's time)."""
    # JSON Schema's "integer" admits 1.0: integer fields are made ints here, where JSON
    # values become typed rows, or an integer column would refuse the whole batch.
    sent_ms = int(envelope["at"])
    skew = received_ms - sent_ms
    ctx: Context = envelope.get("c") or {}
    browser, os_name, device = classify(user_agent)
    page_url = scrub_url(envelope["u"])
    page_path = _path(page_url)
    site, session_id = envelope["s"], envelope["sid"]
    referrer = scrub_url(envelope.get("r", ""))
    vw, vh = int(ctx.get("vw", 0)), int(ctx.get("vh", 0))
    lang, tz, sdk = language(ctx, accept_language), ctx.get("tz", ""), ctx.get("sdk", "")
    version, visitor = int(envelope["v"]), envelope.get("vid")
    consent, rate = ctx.get("cs", []), float(ctx.get("sr", 1))
    rows: list[Row] = []
    for e in events:
        url = scrub_url(e["u"]) if "u" in e else page_url
        props = e.get("p")
        client_ms = int(e["ts"])
        rows.append(
            (
                site,
                e["id"],
                session_id,
                e["t"],
                e.get("n", ""),
                e.get("tg", ""),
                e.get("l", ""),
                e.get("d"),
                e.get("val"),
                int(e["q"]),
                url,
                page_path if url is page_url else _path(url),
                referrer,
                {k: _prop_value(v) for k, v in props.items()} if props else {},
                client_ms,
                sent_ms,
                received_ms,
                min(max(client_ms + skew, 0), MAX_EPOCH_MS),
                skew,
                browser,
                os_name,
                device,
                vw,
                vh,
                lang,
                tz,
                sdk,
                version,
                visitor,
                consent,
                rate,
                e.get("x") or {},
                e.get("df", ""),
            )
        )
    return rows
