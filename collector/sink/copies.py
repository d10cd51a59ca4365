"""copies: which rows of a batch are stored already, or repeated within it.

A batch's own retry or replay is made harmless by its insert token (``intent``). These are
the copies no token catches, and the rule for each:

- an event id repeated within one batch: the first row is kept (:func:`first_of_each`);
- an event the snippet sent again (it carries a delivery attempt, ``a``) may have been
  stored by an earlier send: it is looked up by id among the events stored within
  :data:`RESENT_LOOKBACK` of its time;
- the original of a resend that overtook it (still in flight when the resend was stored)
  is a copy too: resent events stored in the last :data:`RECENT_RESENT_S` are remembered;
- a batch that may be stored already, in whole or in part, because the spool's checkpoint
  or the sink's record of the insert in flight was lost: every event is looked up as a
  resent one is, and every rejected row by its :func:`rejected_key`.

Reading a batch's records (``records.index``) applies the first rule and reports each
row's id, time and key; on the sink thread :class:`Copies` asks the store, which only runs the
queries, and remembers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from collector.rows.columns import EVENT_COLUMNS, Row, ms_to_datetime

if TYPE_CHECKING:
    from collector.sink.records import Block
    from collector.sink.store import Store

# A resent event is looked for within this distance of its own time.
RESENT_LOOKBACK = dt.timedelta(days=2)
# Resent events stored recently, remembered so that their original, if it shows up late
# (it was still in flight when the resend overtook it), is recognised as a copy.
RECENT_RESENT_S = 600.0
RECENT_RESENT_MAX = 100_000

# A rejected row as it can be found again in the store: received_at (epoch ms), site,
# reason, field_path, event_index and the MD5 of raw (hex).
RejectedKey = tuple[int, str, str, str, int, str]

_ID = EVENT_COLUMNS.index("event_id")
log = logging.getLogger("microx.batch")


def rejected_key(row: Sequence[Any]) -> RejectedKey:
    received_at: dt.datetime = row[0]
    raw: str = row[7]
    digest = hashlib.md5(raw.encode("utf-8", "surrogatepass"), usedforsecurity=False)
    return (
        round(received_at.timestamp() * 1000),
        row[1],
        row[2],
        row[3],
        row[5],
        digest.hexdigest(),
    )


def first_of_each(rows: Iterable[Row], stored: Collection[str] = ()) -> list[Row]:
    """The event ``rows`` without those whose id is ``stored`` already and without
    repeats: the first row of each id is kept."""
    seen: set[str] = set()
    kept: list[Row] = []
    for row in rows:
        event_id = row[_ID]
        if event_id not in seen and event_id not in stored:
            seen.add(event_id)
            kept.append(row)
    return kept


def not_stored(rejected: Iterable[Row], stored: Collection[RejectedKey]) -> list[Row]:
    """The rejected rows whose key is not among those ``stored`` already."""
    if not stored:
        return list(rejected)
    return [row for row in rejected if rejected_key(row) not in stored]


@dataclasses.dataclass(frozen=True)
class Found:
    """What of a batch is stored already: event ids, and rejected rows by their key."""

    events: frozenset[str] = frozenset()
    rejected: frozenset[RejectedKey] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.events or self.rejected)


class Copies:
    """Finds the stored copies of a batch's rows and remembers the resent events stored.
    Not thread-safe: the sink thread only."""

    def __init__(
        self, recent_s: float = RECENT_RESENT_S, recent_max: int = RECENT_RESENT_MAX
    ) -> None:
        self._recent_s = recent_s
        self._recent_max = recent_max
        self._recent: dict[str, float] = {}

    def find(self, store: Store, block: Block, verify: bool) -> Found:
        """The rows of ``block`` that are stored already: of its resent events and those
        remembered; with ``verify`` (the batch may be stored already), of every row."""
        events = self._recent.keys() & set(block.ids)
        resent = set(block.resent)
        wanted = [
            (event_id, at_ms)
            for event_id, at_ms in zip(block.ids, block.times, strict=True)
            if verify or event_id in resent
        ]
        if wanted:
            times = [at_ms for _, at_ms in wanted]
            events |= store.existing_event_ids(
                [event_id for event_id, _ in wanted],
                ms_to_datetime(min(times)) - RESENT_LOOKBACK,
                ms_to_datetime(max(times)) + RESENT_LOOKBACK,
            )
        rejected: set[RejectedKey] = set()
        if verify and block.rejected_keys:
            rejected = store.existing_rejected(block.rejected_keys)
        if verify:
            log.info(
                "sink: checking a batch against the store (it may be stored already): %d of "
                "%d events and %d of %d rejected rows were stored already and are skipped",
                len(events),
                len(block.ids),
                len(rejected),
                len(block.rejected_keys),
            )
        return Found(frozenset(events), frozenset(rejected))

    def remember(self, block: Block) -> None:
        """Once ``block`` is stored: its resent events, so that a late original is found."""
        now = time.monotonic()
        recent = self._recent
        for event_id in block.resent:
            recent.pop(event_id, None)  # to the back: insertion order is time order
            recent[event_id] = now
        # Drop from the front while too old or too many.
        while recent:
            oldest_id, seen = next(iter(recent.items()))
            if now - seen < self._recent_s and len(recent) <= self._recent_max:
                break
            del recent[oldest_id]
