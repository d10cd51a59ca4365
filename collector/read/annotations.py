"""Change annotations: a deploy, a fix or a copy change, set against the friction before it.

``POST /v1/annotations`` (a site's server key) and ``microx annotate`` record one; the
report compares each annotated moment (or the costliest ones) before and after it
(``microx.moment_changes`` over the days on either side).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from collector.ingest.receive import Ingest, Refused, json_response
from collector.sink.batch import Batcher
from collector.sink.store import Store

MAX_BODY_BYTES = 4096
MAX_TEXT = 500
MAX_MOMENT = 300
# How far from now an annotation may be set: a year back (the aggregates keep 400 days),
# a day ahead (a deploy announced for tonight).
MAX_AGE = dt.timedelta(days=365)
MAX_AHEAD = dt.timedelta(days=1)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
COLUMNS = ["site", "id", "at", "text", "moment", "created_at"]


class BadAnnotation(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Annotation:
    site: str
    at: dt.datetime
    text: str
    moment: str = ""

    @property
    def id(self) -> str:
        """The same annotation sent twice has one id, so it is stored once."""
        digest = hashlib.sha256(
            orjson.dumps([self.site, self.at.isoformat(), self.text, self.moment])
        ).digest()
        return str(uuid.UUID(bytes=digest[:16], version=5))

    def row(self, now: dt.datetime) -> tuple[Any, ...]:
        return (self.site, uuid.UUID(self.id), self.at, self.text, self.moment, now)


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadAnnotation(f"'at': expected an ISO 8601 date or time, got {text[:40]!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def annotation(
    site: str, text: object, at: object = None, moment: object = "", now: dt.datetime | None = None
) -> Annotation:
    """A checked annotation; :class:`BadAnnotation` says what is wrong."""
    now = now or dt.datetime.now(dt.UTC)
    if not isinstance(text, str) or not text.strip():
        raise BadAnnotation("'text': say what changed (1 to 500 characters)")
    if len(text) > MAX_TEXT or _CONTROL.search(text):
        raise BadAnnotation(f"'text': at most {MAX_TEXT} characters, no control characters")
    if not isinstance(moment, str) or len(moment) > MAX_MOMENT or _CONTROL.search(moment):
        raise BadAnnotation(f"'moment': a moment's name, at most {MAX_MOMENT} characters")
    if at is None:
        when = now
    elif isinstance(at, str):
        when = parse_time(at)
    else:
        raise BadAnnotation("'at': an ISO 8601 date or time")
    if not now - MAX_AGE <= when <= now + MAX_AHEAD:
        raise BadAnnotation("'at': within the last year, or at most a day ahead")
    return Annotation(site, when.astimezone(dt.UTC), text.strip(), moment.strip())


def store_annotation(store: Store, note: Annotation, now: dt.datetime | None = None) -> None:
    row = note.row(now or dt.datetime.now(dt.UTC))
    # The id is the annotation's content: a second insert of it is a copy, deduplicated.
    store.insert_columns("annotations", COLUMNS, [[v] for v in row], token=f"annotation-{note.id}")


class Annotations:
    """``POST /v1/annotations`` for back ends with the site's server key: ``{"text": ...,
    "at": ISO time (default now), "moment": name (optional)}``, answered 201 with the id."""

    def __init__(self, ingest: Ingest, batcher: Batcher) -> None:
        self._ingest = ingest
        self._batcher = batcher

    async def post(self, request: Request) -> Response:
        try:
            site = self._ingest.key_site(request, "annotations are not accepted from browsers")
            body = await self._ingest.small_body(request, MAX_BODY_BYTES)
            note = self._parse(site, body)
        except Refused as refused:
            return refused.response
        store = self._batcher.store
        await self._batcher.call(lambda: store_annotation(store, note))
        return json_response(201, {"id": note.id, "at": note.at.isoformat()}, {})

    def _parse(self, site: str, body: bytes) -> Annotation:
        try:
            given = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Refused(self._ingest.refuse("invalid_json", 400, "body is not JSON")) from None
        if not isinstance(given, dict) or set(given) - {"text", "at", "moment"}:
            message = "send an object with 'text', and optionally 'at' and 'moment'"
            raise Refused(self._ingest.refuse("bad_annotation", 400, message))
        try:
            return annotation(site, given.get("text"), given.get("at"), given.get("moment", ""))
        except BadAnnotation as exc:
            raise Refused(self._ingest.refuse("bad_annotation", 400, str(exc))) from None
