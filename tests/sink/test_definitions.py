"""Functions and views as code: created again at every start, after the functions they use,
and stores that applied the migrations as first released keep working."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.contract import schema_dir
from collector.sink.migrations import (
    RELEASED_CHECKSUMS,
    Migration,
    load_definitions,
    load_migrations,
)
from collector.sink.store import Store, StoreUnavailable
from tests.conftest import open_store

# The files of the first release, before their functions and views moved to schema/views.
RELEASED = Path(__file__).parent / "released"
# What a store holds that the schema defines: its views, functions and what materialized
# views and tables were created with (functions appear inlined in views).
DEFINED = """
SELECT * FROM (
    SELECT 'table' AS kind, name, create_table_query AS q FROM system.tables
    WHERE database = 'microx'
    UNION ALL
    SELECT 'function', name, create_query FROM system.functions
    WHERE origin = 'SQLUserDefined' AND startsWith(name, 'microx_')
)
ORDER BY kind, name
"""


def released_migrations() -> list[Migration]:
    current = {m.version: m for m in load_migrations()}
    released = []
    for version in range(1, 9):
        m = current[version]
        path = RELEASED / f"{version:04d}_{m.name}.sql"
        released.append(Migration(version, m.name, path.read_text()) if path.exists() else m)
    return released


def apply_as_released(store: Store) -> None:
    """What the first release's ``migrate`` did: run each file, record its checksum."""
    for migration in released_migrations():
        for statement in migration.statements():
            store.command(statement)
        store.command(
            "INSERT INTO microx.schema_migrations (version, name, checksum, applied_at)"
            " VALUES ({v:UInt32}, {n:String}, {c:String}, now64(3))",
            {"v": migration.version, "n": migration.name, "c": migration.checksum},
        )


def defined(store: Store) -> list[tuple[str, str, str]]:
    _, rows = store.query(DEFINED)
    return [(str(k), str(n), str(q)) for k, n, q in rows]


def copy_definitions(directory: Path, **replaced: str) -> Path:
    directory.mkdir()
    for path in (schema_dir() / "views").glob("*.sql"):
        text = path.read_text()
        for old, new in replaced.items():
            text = text.replace(old, new)
        (directory / path.name).write_text(text)
    return directory


def test_the_released_files_are_the_ones_the_checksums_name() -> None:
    for (version, name), (checksum, moved) in RELEASED_CHECKSUMS.items():
        released = Migration(version, name, (RELEASED / f"{version:04d}_{name}.sql").read_text())
        assert released.checksum == checksum
        current = next(m for m in load_migrations() if m.version == version)
        assert (current.name, current.checksum) == (name, moved)


def test_a_store_migrated_by_the_first_release_ends_like_a_fresh_one(tmp_path: Path) -> None:
    with open_store(f"chdb://{tmp_path / 'fresh'}") as fresh:
        fresh.migrate()
        expected = defined(fresh)
    with open_store(f"chdb://{tmp_path / 'old'}") as old:
        apply_as_released(old)
        before = defined(old)
        pending = [m.version for m in load_migrations() if m.version > 8]
        assert [m.version for m in old.migrate()] == pending
        assert defined(old) == expected
    views = [n for _, n, q in expected if q.startswith("CREATE VIEW")]
    assert "friction_by_moment" in views and "customer_signals" in views
    # What the first release defined is there, made by today's definitions, or dropped
    # with the definition that is gone.
    released = {n for _, n, q in before if q.startswith("CREATE VIEW")}
    assert released - set(views) == {"experiment_comparison"}


def test_an_old_definition_of_a_function_is_replaced(tmp_path: Path) -> None:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.command("CREATE FUNCTION IF NOT EXISTS microx_budget AS (t, n) -> 42.")
        store.migrate()
        _, ((budget,),) = store.query("SELECT microx_budget('click', '')")
        assert budget == 200


def test_views_are_created_again_with_the_functions_of_now(tmp_path: Path) -> None:
    """A view copies its functions when it is created: changing a function changes the
    views only because every start creates them again, after the functions."""
    url = f"chdb://{tmp_path / 'ch'}"
    probe = (
        "SELECT kind FROM microx.session_moments(site = 's', since = '2000-01-01',"
        " until = '2100-01-01')"
    )
    with open_store(url) as store:
        store.migrate()
        store.command(
            "INSERT INTO microx.events (site, event_id, session_id, type, target, path,"
            " duration_ms, event_time) VALUES ('s', generateUUIDv4(), generateUUIDv4(),"
            " 'loading', 'div.spin', '/', 900, now64(3))"
        )
        assert store.query(probe)[1] == [("loading",)]
        # The same cue becomes a page moment: the view must follow the function.
        renamed = copy_definitions(
            tmp_path / "views", **{"t = 'loading', 'loading',": "t = 'loading', 'page',"}
        )
        store.migrate(definitions=load_definitions(renamed))
        assert store.query(probe)[1] == [("page",)]


def test_views_and_functions_no_longer_defined_are_dropped(tmp_path: Path) -> None:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        store.command("CREATE VIEW microx.old_view AS SELECT microx_kind(type) FROM microx.events")
        store.command("CREATE FUNCTION microx_old AS (x) -> x")
        store.command("CREATE FUNCTION IF NOT EXISTS other_prefix_fn AS (x) -> x")
        before = defined(store)
        try:
            store.migrate()
            after = defined(store)
            _, others = store.query(
                "SELECT name FROM system.functions WHERE name = 'other_prefix_fn'"
            )
        finally:
            store.command("DROP FUNCTION IF EXISTS other_prefix_fn")
    dropped = {n for _, n, _ in before} - {n for _, n, _ in after}
    assert dropped == {"old_view", "microx_old"}
    # Tables, the materialized view and what others named are left alone.
    assert {"events", "moment_hourly", "moment_hourly_mv"} <= {n for _, n, _ in after}
    assert others == [("other_prefix_fn",)]


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("CREATE FUNCTION IF NOT EXISTS microx_x AS (a) -> a;", "CREATE OR REPLACE"),
        ("CREATE VIEW IF NOT EXISTS microx.v AS SELECT 1;", "CREATE OR REPLACE"),
        ("CREATE TABLE microx.t (a UInt8) ENGINE = Memory;", "CREATE OR REPLACE"),
        ("CREATE OR REPLACE FUNCTION other_x AS (a) -> a;", "must be named microx_"),
        ("CREATE OR REPLACE VIEW v AS SELECT 1;", "must be named microx.<name>"),
        (
            "CREATE OR REPLACE VIEW microx.v AS SELECT 1; CREATE OR REPLACE VIEW microx.v AS "
            "SELECT 2;",
            "defined twice",
        ),
    ],
)
def test_only_replacing_definitions_belong_in_views(tmp_path: Path, sql: str, error: str) -> None:
    (tmp_path / "bad.sql").write_text(sql)
    with pytest.raises(ValueError, match=error):
        load_definitions(tmp_path)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE VIEW IF NOT EXISTS microx.v AS SELECT 1;",
        "CREATE OR REPLACE FUNCTION microx_x AS (a) -> a;",
    ],
)
def test_a_migration_that_defines_a_view_or_function_is_refused(tmp_path: Path, sql: str) -> None:
    (tmp_path / "0001_database.sql").write_text(load_migrations()[0].sql)
    (tmp_path / "0002_view.sql").write_text(sql)
    with pytest.raises(ValueError, match=r"0002_view\.sql creates a .*schema/views"):
        load_migrations(tmp_path)


def test_functions_come_before_the_views_whatever_the_files(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("CREATE OR REPLACE VIEW microx.v AS SELECT microx_f(1);")
    (tmp_path / "b.sql").write_text("CREATE OR REPLACE FUNCTION microx_f AS (a) -> a;")
    assert [(d.kind, d.name) for d in load_definitions(tmp_path)] == [
        ("function", "microx_f"),
        ("view", "v"),
    ]


def test_an_edited_released_file_is_still_refused(tmp_path: Path) -> None:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        apply_as_released(store)
        current = load_migrations()
        edited = [
            Migration(m.version, m.name, m.sql + "\n-- edited\n") if m.version == 5 else m
            for m in current
        ]
        with pytest.raises(StoreUnavailable, match="0005_friction was changed"):
            store.migrate(edited)


def test_each_segmented_view_has_a_twin_without_the_segment() -> None:
    """``X_in`` has a twin ``X`` made from it with no segment left: not its parameter, not
    a look-up of the segment's sessions, not a call of another segmented view; a file
    written with a look-up or call the rewrite misses is seen here. (That each twin counts
    what its view counts for everyone: tests/read/test_segments.py and every test of the
    views.)"""
    definitions = {d.name: d for d in load_definitions() if d.kind == "view"}
    segmented = [n for n, d in definitions.items() if n.endswith("_in") and "{segment:" in d.sql]
    assert len(segmented) >= 25
    for name in segmented:
        twin = definitions[name.removesuffix("_in")]
        assert twin.sql.startswith(f"CREATE OR REPLACE VIEW microx.{twin.name} AS")
        for left in ("segment:", "segment_sessions"):
            assert left not in twin.sql, (twin.name, left)
        assert not re.search(r"microx\.\w+_in\(", twin.sql), twin.name
