"""The cluster schema, checked by ClickHouse itself.

Every statement goes through ClickHouse's parser (``formatQuery``) on the embedded engine.
What the statements must contain is derived from the engine too: the migrations are applied
to a single embedded server and its ``system.tables`` says which tables are MergeTree
tables and which have a session_id. Then the schema is built on the embedded engine started
as a one-shard cluster, and rows inserted under the original names must reach the local
tables and the per-shard views.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from collector.contract import schema_dir
from collector.sink.blocks import insert_rows
from collector.sink.migrations import (
    Definition,
    Migration,
    load_definitions,
    load_migrations,
    split_statements,
)
from collector.sink.store import Store
from collector.tools.cluster import ClusterSchemaError, cluster_statements, render
from tests.conftest import open_store

CLUSTER = "microx"

# Migrations of the kinds that will keep coming, written as for one server.
SYNTHETIC = {
    "daily_moments": """
        -- An aggregate per day, kept by a view as events arrive.
        CREATE TABLE IF NOT EXISTS microx.daily_moments
        (
            day Date,
            site LowCardinality(String),
            type LowCardinality(String),
            name String,
            events AggregateFunction(count),
            sessions AggregateFunction(uniq, UUID),
            p75_ms AggregateFunction(quantile(0.75), Float64)
        )
        ENGINE = AggregatingMergeTree
        ORDER BY (site, day, type, name)
        SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 100;

        CREATE MATERIALIZED VIEW IF NOT EXISTS microx.daily_moments_mv TO microx.daily_moments
        AS SELECT
            toDate(event_time) AS day, site, type, name,
            countState() AS events,
            uniqState(session_id) AS sessions,
            quantileState(0.75)(ifNull(duration_ms, 0)) AS p75_ms
        FROM microx.events
        GROUP BY day, site, type, name;
    """,
    "experiments": """
        ALTER TABLE microx.events
            ADD COLUMN IF NOT EXISTS experiment LowCardinality(String) DEFAULT '',
            ADD INDEX IF NOT EXISTS experiment_set experiment TYPE set(100) GRANULARITY 4;

        ALTER TABLE microx.rejected_events
            MODIFY TTL toDateTime(received_at) + INTERVAL 60 DAY;
    """,
    "session_ends": """
        CREATE TABLE IF NOT EXISTS microx.session_ends
        (
            session_id UUID,
            site LowCardinality(String),
            ended_at DateTime64(3, 'UTC'),
            version UInt64
        )
        ENGINE = ReplacingMergeTree(version)
        ORDER BY (site, session_id)
        SETTINGS non_replicated_deduplication_window = 1000;

        CREATE MATERIALIZED VIEW IF NOT EXISTS microx.hourly_events
        ENGINE = SummingMergeTree
        ORDER BY (site, hour)
        AS SELECT site, toStartOfHour(event_time) AS hour, count() AS events
        FROM microx.events
        GROUP BY site, hour;
    """,
    "tuning": """
        ALTER TABLE microx.events
            MODIFY SETTING non_replicated_deduplication_window = 20000, min_rows_for_wide_part = 0;

        ALTER TABLE microx.hourly_events MODIFY QUERY
            SELECT site, toStartOfHour(event_time) AS hour, count() AS events
            FROM microx.events
            WHERE type != 'vital'
            GROUP BY site, hour;
    """,
}
# A definition over a synthetic table, beside the real ones.
SYNTHETIC_VIEWS = """
    CREATE OR REPLACE FUNCTION microx_events_of AS (s) -> countMerge(s);

    CREATE OR REPLACE VIEW microx.friction AS
    SELECT site, type, name, microx_events_of(events) AS events, uniqMerge(sessions) AS sessions
    FROM microx.daily_moments
    GROUP BY site, type, name;
"""
# The embedded engine as one server of a one-shard cluster: it runs Distributed tables
# locally (the port is its own), but it has no Keeper and no distributed DDL queue.
CLUSTER_CONFIG = f"""<clickhouse>
    <tcp_port>9000</tcp_port>
    <remote_servers>
        <{CLUSTER}><shard><replica><host>localhost</host><port>9000</port></replica></shard></{CLUSTER}>
    </remote_servers>
    <macros><shard>01</shard><replica>r1</replica></macros>
</clickhouse>
"""
_VIEW_NAME = re.compile(r"^CREATE OR REPLACE VIEW microx\.(\w+) ON CLUSTER ")
_ON_CLUSTER = re.compile(rf" ON CLUSTER {CLUSTER}\b")
_REPLICATED = re.compile(r"Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, )?")


def with_synthetic(directory: Path) -> list[Migration]:
    """The real migrations followed by SYNTHETIC, as files, loaded the way the store does."""
    directory.mkdir()
    real = load_migrations()
    for m in real:
        (directory / f"{m.version:04d}_{m.name}.sql").write_text(m.sql)
    for n, (name, sql) in enumerate(SYNTHETIC.items(), start=real[-1].version + 1):
        (directory / f"{n:04d}_{name}.sql").write_text(sql)
    return load_migrations(directory)


def synthetic_definitions(directory: Path) -> list[Definition]:
    """The real definitions and SYNTHETIC_VIEWS, as files."""
    directory.mkdir()
    for path in (schema_dir() / "views").glob("*.sql"):
        (directory / path.name).write_text(path.read_text())
    (directory / "synthetic.sql").write_text(SYNTHETIC_VIEWS)
    return load_definitions(directory)


Schema = tuple[list[Migration], list[Definition]]


def synthetic(tmp_path: Path) -> Schema:
    return with_synthetic(tmp_path / "mig"), synthetic_definitions(tmp_path / "views")


@pytest.fixture(params=["real", "with_synthetic"])
def schema(request: pytest.FixtureRequest, tmp_path: Path) -> Schema:
    if request.param == "real":
        return load_migrations(), load_definitions()
    return synthetic(tmp_path)


def flat(schema: Schema, since: int = 0) -> list[str]:
    """The cluster script's statements, read back with the splitter the store uses."""
    migrations, definitions = schema
    return split_statements(render(migrations, CLUSTER, since=since, definitions=definitions))


def formatted(statements: list[str], tmp_path: Path) -> list[str]:
    """Each statement as ClickHouse's parser reads it back; a syntax error raises."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'parser'}")
    try:
        return [
            client.query("SELECT formatQuery({s:String})", parameters={"s": s}).result_rows[0][0]
            for s in statements
        ]
    finally:
        client.close()


def single_server_facts(schema: Schema, tmp_path: Path) -> dict[str, Any]:
    """What the migrations make on one server: MergeTree tables (and views storing in
    one) with their engine and arguments, which have a session_id column, the views."""
    with open_store(f"chdb://{tmp_path / 'single'}") as store:
        store.migrate(*schema)
        _, views = store.query(
            "SELECT name FROM system.tables WHERE database = 'microx' AND engine = 'View'"
        )
        _, tables = store.query(
            "SELECT t.name, if(t.engine = 'MaterializedView', i.engine_full, t.engine_full)"
            " FROM system.tables AS t LEFT JOIN system.tables AS i"
            " ON i.database = t.database AND i.name = concat('.inner_id.', toString(t.uuid))"
            " WHERE t.database = 'microx' AND NOT startsWith(t.name, '.inner')"
            " AND (t.engine LIKE '%MergeTree' OR i.engine LIKE '%MergeTree')"
        )
        _, session = store.query(
            "SELECT table FROM system.columns WHERE database = 'microx' AND name = 'session_id'"
        )
    engines = {}
    for name, engine_full in tables:
        match = re.match(r"(\w+)(?:\(([^)]*)\))?", engine_full)
        assert match is not None
        engines[name] = (match[1], match[2] or "")
    return {
        "engines": engines,
        "session": {r[0] for r in session},
        "views": {r[0] for r in views},
    }


def test_every_statement_parses_and_runs_on_the_cluster(schema: Schema, tmp_path: Path) -> None:
    migrations, _ = schema
    statements = flat(schema)
    ddl = [f for f in formatted(statements, tmp_path) if not f.startswith("INSERT")]
    assert ddl
    assert [f for f in ddl if not _ON_CLUSTER.search(f.splitlines()[0])] == []
    # Replicated tables deduplicate by default; this setting belongs to single servers.
    assert any("non_replicated_deduplication_window" in m.sql for m in migrations)
    assert [s for s in statements if "non_replicated_deduplication_window" in s] == []


def test_a_syntax_error_fails_the_parser_check(tmp_path: Path) -> None:
    broken = flat((load_migrations(), []))[1].replace(")", "", 1)
    with pytest.raises(Exception, match="Syntax error"):
        formatted([broken], tmp_path)


def test_merge_tree_tables_are_replicated_locally_and_distributed_by_name(
    schema: Schema, tmp_path: Path
) -> None:
    facts = single_server_facts(schema, tmp_path)
    creates = {}
    for f in formatted(flat(schema), tmp_path):
        match = re.match(r"CREATE (?:TABLE|MATERIALIZED VIEW) (?:IF NOT EXISTS )?microx\.(\w+) ", f)
        if match:
            creates[match[1]] = f
    assert facts["engines"]
    for table, (engine, args) in facts["engines"].items():
        if table == "schema_migrations":
            path = "'/clickhouse/tables/all/microx/schema_migrations', '{replica}'"
            assert f"ENGINE = Replicated{engine}({path})" in creates[table]
            assert f"{table}_local" not in creates
            continue
        path = f"'/clickhouse/tables/{{shard}}/microx/{table}_local', '{{replica}}'"
        expected = f"Replicated{engine}({path}{', ' + args if args else ''})"
        assert f"ENGINE = {expected}" in creates[f"{table}_local"], table
        key = "cityHash64(session_id)" if table in facts["session"] else "rand()"
        distributed = f"ENGINE = Distributed({CLUSTER}, microx, {table}_local, {key})"
        assert distributed in creates[table], table
        assert f"AS microx.{table}_local" in creates[table]


# How many statements each migration becomes, counted by reading it (schema/migrations/
# and SYNTHETIC above); the last of each is its ledger row.
STATEMENTS = {
    # CREATE DATABASE; the ledger, replicated whole, not split.
    "database": 1 + 1 + 1,
    # events: its local table and the Distributed one.
    "events": 2 + 1,
    "rejected_events": 2 + 1,
    # ADD COLUMN on events_local and on events.
    "consent_variants": 2 + 1,
    # moment_hourly, a view storing in an AggregatingMergeTree: split in two.
    "friction": 2 + 1,
    # Its views are definitions now (schema/views/): nothing stored.
    "customer_signals": 0 + 1,
    # DROP of the split moment_hourly: both halves; its new table: split in two; a view TO
    # it; an INSERT; MODIFY SETTING of a setting replicated tables do without: nothing.
    "view_deduplication": 2 + 2 + 1 + 1 + 0 + 1,
    # ADD COLUMN on rejected_events_local and on rejected_events.
    "rejected_owner": 2 + 1,
    # DROP of the view TO moment_hourly; DROP of the split table: both halves; the new
    # table split in two; a view TO it; an INSERT.
    "click_feedback": 1 + 2 + 2 + 1 + 1 + 1,
    "time_lost": 1 + 2 + 2 + 1 + 1 + 1,
    # The per-session table split in two; a view TO it; an INSERT.
    "session_hourly": 2 + 1 + 1 + 1,
    # A table split in two.
    "annotations": 2 + 1,
    # As click_feedback, the hourly aggregate made again with route templates, then the
    # per-session table the same way (each: DROP of its view; DROP of the split table,
    # both halves; the table split in two; a view TO it; an INSERT).
    "route_templates": (1 + 2 + 2 + 1 + 1) + (1 + 2 + 2 + 1 + 1) + 1,
    # The two views TO the aggregates made again: each a DROP and a view.
    "view_analysis": (1 + 1) + (1 + 1) + 1,
    "view_names": (1 + 1) + (1 + 1) + 1,
    # The per-session table made again with what segments ask of a session: DROP of its
    # view; DROP of the split table, both halves; the table split in two; a view TO it; an
    # INSERT.
    "session_segments": 1 + 2 + 2 + 1 + 1 + 1,
    # As session_hourly: the aggregate per client split in two; a view TO it; an INSERT.
    "moment_clients": 2 + 1 + 1 + 1,
    # A table split in two; a view TO it.
    "daily_moments": 2 + 1 + 1,
    # ADD COLUMN and ADD INDEX on events_local, only the column on events; MODIFY TTL on
    # rejected_events_local only.
    "experiments": 2 + 1 + 1,
    # A table split in two; a view storing in a SummingMergeTree, split in two.
    "session_ends": 2 + 2 + 1,
    # MODIFY SETTING (without the non-replicated one) and MODIFY QUERY: local tables only.
    "tuning": 1 + 1 + 1,
}


def test_statements_match_what_the_migrations_define(schema: Schema) -> None:
    migrations, _ = schema
    produced = cluster_statements(migrations, CLUSTER)
    unknown = [m.name for m in migrations if m.name not in STATEMENTS]
    assert not unknown, f"count the statements of {unknown} into STATEMENTS"
    assert [(m.name, len(s)) for m, s in produced] == [
        (m.name, STATEMENTS[m.name]) for m in migrations
    ]
    for m, statements in produced:
        assert statements[-1].startswith("INSERT INTO microx.schema_migrations")
        assert f"SELECT {m.version}, '{m.name}', '{m.checksum}'" in statements[-1]


def test_alters_reach_local_tables_and_only_columns_reach_distributed(tmp_path: Path) -> None:
    alters = [s for s in flat(synthetic(tmp_path)) if s.startswith("ALTER")]
    events = [s for s in alters if "experiment" in s]
    assert [s.split()[2] for s in events] == ["microx.events_local", "microx.events"]
    assert "ADD INDEX" in events[0] and "ADD COLUMN" in events[0]
    assert "ADD INDEX" not in events[1] and "ADD COLUMN" in events[1]
    ttl = [s for s in alters if "MODIFY TTL" in s]
    assert [s.split()[2] for s in ttl] == ["microx.rejected_events_local"]


def test_views_aggregate_per_shard_and_read_back_through_distributed(tmp_path: Path) -> None:
    statements = flat(synthetic(tmp_path))
    (view,) = [s for s in statements if "daily_moments_mv" in s]
    assert "TO microx.daily_moments_local" in view
    assert "FROM microx.events_local" in view
    (query,) = [s for s in statements if "MODIFY QUERY" in s]
    assert query.split()[2] == "microx.hourly_events_local"
    assert "FROM microx.events_local" in query
    (friction,) = [s for s in statements if "microx.friction ON CLUSTER" in s]
    assert "FROM microx.daily_moments\n" in friction  # all shards, through Distributed


def test_every_run_brings_functions_first_and_views_last(schema: Schema, tmp_path: Path) -> None:
    migrations, definitions = schema
    facts = single_server_facts(schema, tmp_path)
    assert facts["views"]
    # Upgrading from the last migration: no migration, yet every definition.
    for statements in (flat(schema), flat(schema, since=migrations[-1].version + 1)):
        kinds = [
            "function"
            if s.startswith("CREATE OR REPLACE FUNCTION")
            else "view"
            if s.startswith("CREATE OR REPLACE VIEW")
            else "migration"
            for s in statements
        ]
        functions, views = kinds.count("function"), kinds.count("view")
        assert functions == sum(d.kind == "function" for d in definitions) > 0
        assert kinds[:functions] == ["function"] * functions
        assert kinds[len(kinds) - views :] == ["view"] * views
        created = {_VIEW_NAME.findall(s)[0] for s in statements[len(kinds) - views :]}
        assert created == facts["views"]
    assert "-- no migration from version" in render(
        migrations, CLUSTER, since=migrations[-1].version + 1, definitions=definitions
    )


def test_a_statement_it_cannot_translate_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "mig"
    directory.mkdir()
    (directory / "0001_database.sql").write_text(load_migrations()[0].sql)
    (directory / "0002_ctas.sql").write_text(
        "CREATE TABLE microx.copy ENGINE = MergeTree ORDER BY x AS SELECT 1 AS x;"
    )
    with pytest.raises(
        ClusterSchemaError, match=re.escape("0002_ctas: copy: CREATE TABLE ... AS SELECT")
    ):
        cluster_statements(load_migrations(directory))
    with pytest.raises(ClusterSchemaError, match="--shard-key names no replicated table: nope"):
        cluster_statements(load_migrations(), shard_keys={"nope": "rand()"})


@pytest.fixture
def cluster_server(tmp_path: Path) -> Iterator[Store]:
    """The collector's own Store, on the embedded engine started as a cluster member."""
    config = tmp_path / "config.xml"
    config.write_text(CLUSTER_CONFIG)
    server = Store(f"chdb://{tmp_path / 'node'}", engine_options={"config-file": str(config)})
    try:
        yield server
    finally:
        server.close()


def test_the_schema_works_on_a_one_shard_cluster(cluster_server: Store, tmp_path: Path) -> None:
    schema = synthetic(tmp_path)
    for statement in flat(schema):
        # What the embedded engine lacks: the distributed DDL queue and Keeper.
        cluster_server.command(_REPLICATED.sub(r"\1(", _ON_CLUSTER.sub("", statement)))
    # A collector starting against the cluster finds every migration already applied.
    assert cluster_server.migrate(*schema) == []

    rows = 50
    ids = [uuid.uuid4() for _ in range(rows)]
    sessions = ids[:5] * 10
    now = dt.datetime.now(dt.UTC)
    columns = ["site", "event_id", "session_id", "type", "name", "duration_ms", "event_time"]
    values = [
        ["demo"] * rows,
        [str(i) for i in ids],
        [str(s) for s in sessions],
        ["click"] * rows,
        ["buy"] * rows,
        [120.0] * rows,
        [round(now.timestamp() * 1000)] * rows,
    ]
    # As the sink inserts: one Native block, under a deduplication token.
    insert_rows(cluster_server, "events", columns, list(zip(*values, strict=True)), "cluster-test")
    cluster_server.command("SYSTEM FLUSH DISTRIBUTED microx.events")
    count = "SELECT count() FROM microx."
    assert cluster_server.query(count + "events_local")[1] == [(rows,)]
    assert cluster_server.query(count + "events")[1] == [(rows,)]
    assert cluster_server.query(count + "daily_moments_local")[1] == [(1,)]
    _, friction = cluster_server.query("SELECT type, name, events, sessions FROM microx.friction")
    assert friction == [("click", "buy", rows, 5)]
    _, hourly = cluster_server.query("SELECT sum(events) FROM microx.hourly_events")
    assert hourly == [(rows,)]
