"""enrich: turn validated events into ``microx.events`` rows.

Adds what only the server knows: when the batch arrived, how far the client clock is
off (``received_at - sent_at``), and the browser, OS and device class from the
User-Agent. The client's own times are kept beside the corrected one. The client IP is
not an input here at all, so it cannot end up in a row.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any
from urllib.parse import urlsplit

from collector.rows.useragent import classify

EVENT_COLUMNS = (
    "site",
    "event_id",
    "session_id",
    "type",
    "name",
    "target",
    "label",
    "duration_ms",
    "value",
    "seq",
    "url",
    "path",
    "referrer",
    "props",
    "client_time",
    "sent_at",
    "received_at",
    "event_time",
    "clock_skew_ms",
    "browser",
    "os",
    "device",
    "viewport_w",
    "viewport_h",
    "lang",
    "tz",
    "sdk_version",
    "contract_version",
    "visitor_id",
    "consent",
    "sample_rate",
    "variants",
    "definition",
)

Row = tuple[Any, ...]
_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
# The contract's upper bound for client times (2100-01-01); corrected times are held to
# the same range so a wildly wrong sent-at cannot push a row outside DateTime64.
MAX_EPOCH_MS = 4_102_444_800_000


def ms_to_datetime(ms: int | float) -> dt.datetime:
    # timedelta arithmetic is exact to the microsecond and, unlike fromtimestamp, has no
    # platform range limits for the far past or future.
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _prop_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


# The contract's limit for the context's `lang`.
LANG_MAX = 35


def fill_language(envelope: dict[str, Any], accept_language: str) -> None:
    """Take the page's language from the request's Accept-Language when the envelope does
    not say it: the browser sends its first preference there (navigator.language), so the
    snippet need not. Kept as an input of the spool record, so replay sees the same."""
    ctx = envelope.get("c") or {}
    if "lang" in ctx:
        return
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip()
    if first and first != "*":
        envelope["c"] = {**ctx, "lang": first[:LANG_MAX]}


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
    envelope: dict[str, Any], events: list[dict[str, Any]], received_ms: int, user_agent: str
) -> list[Row]:
    """One row per event, in :data:`EVENT_COLUMNS` order. Times are epoch milliseconds, the
    DateTime64(3) columns' own ticks: the driver writes them as they are, where datetime
    objects would cost a conversion each way (a fifth of the sink's time)."""
    # JSON Schema's "integer" admits 1.0: integer fields are made ints here, where JSON
    # values become typed rows, or an integer column would refuse the whole batch.
    sent_ms = int(envelope["at"])
    skew = received_ms - sent_ms
    ctx: dict[str, Any] = envelope.get("c") or {}
    browser, os_name, device = classify(user_agent)
    page_url = scrub_url(envelope["u"])
    page_path = _path(page_url)
    site, session_id = envelope["s"], envelope["sid"]
    referrer = scrub_url(envelope.get("r", ""))
    vw, vh = int(ctx.get("vw", 0)), int(ctx.get("vh", 0))
    lang, tz, sdk = ctx.get("lang", ""), ctx.get("tz", ""), ctx.get("sdk", "")
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
