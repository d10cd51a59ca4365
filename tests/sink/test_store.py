"""Migrations and inserts against the real embedded engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.ingest.validate import judge
from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS
from collector.sink.blocks import insert_rows
from collector.sink.migrations import Migration, load_migrations
from collector.sink.store import StoreUnavailable, describe_url
from tests.conftest import make_envelope, make_event, now_ms, open_store, rows_of


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'ch'}"
    expected = [(m.version, m.name) for m in load_migrations()]
    with open_store(url) as store:
        assert [(m.version, m.name) for m in store.migrate()] == expected
        assert store.migrate() == []
        _, rows = store.query("SELECT version, name FROM microx.schema_migrations ORDER BY version")
        assert rows == expected
    # A restart finds the ledger on disk and applies nothing again.
    with open_store(url) as store:
        assert store.migrate() == []


def test_editing_an_applied_migration_is_refused(tmp_path: Path) -> None:
    migrations = load_migrations()
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate(migrations)
        last = migrations[-1]
        edited = Migration(last.version, last.name, last.sql + "\n-- edited\n")
        with pytest.raises(StoreUnavailable, match="was changed after it was applied"):
            store.migrate([*migrations[:-1], edited])


def test_tables_have_exactly_the_columns_the_collector_writes(tmp_path: Path) -> None:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        for table, columns in (("events", EVENT_COLUMNS), ("rejected_events", REJECTED_COLUMNS)):
            _, rows = store.query(
                f"SELECT name FROM system.columns WHERE database = 'microx' AND table = '{table}'"
                " ORDER BY position"
            )
            assert tuple(r[0] for r in rows) == columns


def test_insert_and_query_back(tmp_path: Path) -> None:
    received = now_ms()
    envelope = make_envelope(
        make_event(q=0, tg="button#buy", l="Buy", p={"x": 10}),
        make_event(q=1, t="vital", n="LCP", val=1234.0),
        make_event(q=2, t="step", n="checkout", tg="payment", d=2500),
    )
    rows = rows_of(envelope, received)
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        insert_rows(store, "events", EVENT_COLUMNS, rows)
        _, got = store.query(
            "SELECT toString(event_id), toString(session_id), type, name, target, label,"
            " duration_ms, value, props, toUnixTimestamp64Milli(received_at)"
            " FROM microx.events ORDER BY seq"
        )
    events = envelope["e"]
    assert got == [
        (
            events[0]["id"],
            envelope["sid"],
            "click",
            "",
            "button#buy",
            "Buy",
            None,
            None,
            {"x": "10"},
            received,
        ),
        (events[1]["id"], envelope["sid"], "vital", "LCP", "", "", None, 1234.0, {}, received),
        (
            events[2]["id"],
            envelope["sid"],
            "step",
            "checkout",
            "payment",
            "",
            2500.0,
            None,
            {},
            received,
        ),
    ]


def test_unreachable_store_is_a_clear_error() -> None:
    expected = r"cannot reach ClickHouse at http://u:\*\*\*@"
    with (
        pytest.raises(StoreUnavailable, match=expected),
        open_store("http://u:secret@127.0.0.1:1/x"),
    ):
        pass
    assert describe_url("https://u:secret@h:8443/db") == "https://u:***@h:8443/db"


def test_integral_floats_in_integer_fields_are_stored(tmp_path: Path) -> None:
    """JSON Schema counts 3.0 as an integer; a batch mixing 1 and 3.0 must insert, not
    fail on every retry."""
    now = now_ms()
    envelope = make_envelope(
        make_event(q=1, ts=now), make_event(q=3.0, ts=float(now)), c={"vw": 800.0, "vh": 600}
    )
    other = make_envelope(make_event(q=2), v=1.0, c={"vw": 1024, "vh": 768.0})
    assert judge(envelope).rejected == [] and judge(other).rejected == []
    rows = rows_of(envelope, now) + rows_of(other, now)
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        insert_rows(store, "events", EVENT_COLUMNS, rows)
        _, got = store.query(
            "SELECT seq, viewport_w, viewport_h, contract_version FROM microx.events ORDER BY seq"
        )
    assert got == [(1, 800, 600, 1), (2, 1024, 768, 1), (3, 800, 600, 1)]
