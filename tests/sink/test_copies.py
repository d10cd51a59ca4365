"""The rules for copies a token cannot catch, against the real engine: which rows are
looked up, how far from their time, and what is remembered."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS, Row
from collector.rows.record import Refusal, decode
from collector.rows.rejection import Rejection
from collector.sink.blocks import insert_rows
from collector.sink.copies import (
    RESENT_LOOKBACK,
    Copies,
    Found,
    first_of_each,
    not_stored,
    rejected_key,
)
from collector.sink.records import Block
from collector.sink.store import Store, _uuids
from tests.conftest import make_envelope, make_event, now_ms, open_store, rows_of

_ID = EVENT_COLUMNS.index("event_id")
_TIME = EVENT_COLUMNS.index("event_time")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        yield store


def stored_events(store: Store, count: int) -> list[Row]:
    envelope = make_envelope(*[make_event(q=j) for j in range(count)])
    rows = rows_of(envelope, now_ms())
    insert_rows(store, "events", EVENT_COLUMNS, rows)
    return rows


def rejected_rows(count: int) -> list[Row]:
    refused = [
        Rejection("bad_type", f"e[{i}].d", "not a number", i, f'{{"d": {i}}}') for i in range(count)
    ]
    return decode([Refusal(now_ms(), "demo", refused).encode()]).rejected


def block_of(
    rows: list[Row],
    resent: tuple[str, ...] = (),
    rejected: list[Row] | None = None,
    shift_ms: int = 0,
) -> Block:
    keys = tuple(rejected_key(r) for r in rejected or [])
    return Block(
        events=b"",
        rejected=b"",
        rejected_rows=len(keys),
        duplicates=0,
        ids=tuple(r[_ID] for r in rows),
        times=tuple(r[_TIME] + shift_ms for r in rows),
        resent=resent,
        rejected_keys=keys,
    )


def test_only_resent_events_are_looked_up_unless_the_batch_may_be_stored(store: Store) -> None:
    rows = stored_events(store, 3)
    marked = rows[0][_ID]
    block = block_of(rows, resent=(marked,))
    assert Copies().find(store, block, verify=False) == Found(frozenset({marked}))
    every = frozenset(r[_ID] for r in rows)
    assert Copies().find(store, block, verify=True) == Found(every)


def test_ids_are_sent_unescaped_only_when_each_is_a_uuid(store: Store) -> None:
    rows = stored_events(store, 20)
    ids = [r[_ID] for r in rows]
    times = [dt.datetime.fromtimestamp(r[_TIME] / 1000, dt.UTC) for r in rows]
    hour = dt.timedelta(hours=1)
    # As many as a batch holds: more than a query's text may (262,144 bytes).
    looked_up = [*ids[:10], *(str(uuid.uuid4()) for _ in range(50_000)), *ids[-5:]]
    assert not isinstance(_uuids(looked_up), list)
    found = store.existing_event_ids(looked_up, min(times) - hour, max(times) + hour)
    assert found == set(ids[:10] + ids[-5:])
    # Anything else is the driver's to escape.
    assert _uuids([*ids[:2], "x'] OR 1=1 --"]) == [*ids[:2], "x'] OR 1=1 --"]


def test_a_resent_event_is_looked_for_near_its_own_time(store: Store) -> None:
    rows = stored_events(store, 1)
    resent = (rows[0][_ID],)
    lookback_ms = RESENT_LOOKBACK // dt.timedelta(milliseconds=1)
    near = block_of(rows, resent, shift_ms=lookback_ms - 1000)
    assert Copies().find(store, near, verify=False).events == {rows[0][_ID]}
    far = block_of(rows, resent, shift_ms=lookback_ms + 1000)
    assert not Copies().find(store, far, verify=False)


def test_rejected_rows_are_looked_up_when_the_batch_may_be_stored(store: Store) -> None:
    stored, fresh = rejected_rows(2)
    insert_rows(store, "rejected_events", REJECTED_COLUMNS, [stored])
    block = block_of([], rejected=[stored, fresh])
    assert not Copies().find(store, block, verify=False)
    assert Copies().find(store, block, verify=True) == Found(
        rejected=frozenset({rejected_key(stored)})
    )


def test_the_late_original_of_a_stored_resend_is_a_copy(store: Store) -> None:
    envelope = make_envelope(make_event(), make_event(q=1))
    original, other = rows_of(envelope, now_ms())
    copies = Copies()
    copies.remember(block_of([original, other], resent=(original[_ID],)))
    late = block_of([original, other])  # unmarked, and nothing in the store
    assert copies.find(store, late, verify=False) == Found(frozenset({original[_ID]}))


def test_recent_resends_are_forgotten_when_old_or_too_many(store: Store) -> None:
    envelope = make_envelope(make_event(), make_event(q=1))
    first, second = rows_of(envelope, now_ms())
    both = block_of([first, second], resent=(first[_ID], second[_ID]))
    expired = Copies(recent_s=0.0)
    expired.remember(both)
    assert not expired.find(store, block_of([first, second]), verify=False)
    bounded = Copies(recent_max=1)
    bounded.remember(block_of([first], resent=(first[_ID],)))
    bounded.remember(block_of([second], resent=(second[_ID],)))
    assert bounded.find(store, block_of([first, second]), verify=False).events == {second[_ID]}


def test_the_first_of_each_event_id_is_kept() -> None:
    envelope = make_envelope(make_event(q=0), make_event(q=1), make_event(q=2))
    a, b, c = rows_of(envelope, now_ms())
    again = (*a[:_ID], a[_ID], *a[_ID + 1 : _TIME], a[_TIME] + 5, *a[_TIME + 1 :])
    assert first_of_each([a, b, again, c], stored={c[_ID]}) == [a, b]


def test_rejected_rows_stored_already_are_left_out() -> None:
    stored, fresh = rejected_rows(2)
    assert not_stored([stored, fresh], {rejected_key(stored)}) == [fresh]
    assert not_stored([stored, fresh], set()) == [stored, fresh]
