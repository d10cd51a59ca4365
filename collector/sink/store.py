"""The ClickHouse store, reached only through clickhouse-connect.

``chdb:///path`` opens the embedded engine in this process; ``http(s)://...`` talks to a
ClickHouse server. Everything else in the collector is the same for both.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.binding import bind_query
from clickhouse_connect.driver.exceptions import ClickHouseError

from collector.sink.copies import RejectedKey
from collector.sink.migrations import (
    DATABASE,
    FUNCTION_PREFIX,
    Definition,
    Migration,
    load_definitions,
    load_migrations,
)
from collector.sink.records import INPUT_SETTINGS, Statement

# The engine's functions that read a query's text without running it.
PARSERS = frozenset({"parseQueryToJSON", "formatQuerySingleLine"})
# A file the collector writes into the embedded store's directory when it opens it: gone
# or changed means the directory was deleted or replaced under the running engine, which
# then keeps "succeeding" at inserts whose rows no restart will find.
IDENTITY_FILE = "microx-store-id"
# A token insert is dropped as a copy in the tables the materialized views fill too, not
# only in the table inserted into (the default since ClickHouse 24, stated for older
# servers); each of those tables needs its own deduplication window for it to work.
_DEDUPLICATE = {"deduplicate_blocks_in_dependent_materialized_views": 1}


class StoreUnavailable(RuntimeError):
    """The store cannot be opened or reached; the message says which and why."""


class StoreLost(RuntimeError):
    """The embedded store's directory was deleted or replaced while the engine ran."""


def _backquoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("`", "\\`")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: object) -> str:
    return _quoted(value) if isinstance(value, str) else str(value)


# The contract's event id: nothing in it needs escaping.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class _Formatted:
    """A query parameter's value already in the engine's text format: the driver sends
    what ``str`` gives of a value of a type it does not know."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _uuids(ids: Sequence[str]) -> object:
    """``ids`` as an ``Array(UUID)`` parameter. The driver escapes a string one character
    at a time in Python: 50,000 ids took it about 0.4 s, more than half of what a batch
    checked against the store cost the sink's thread. Ids that are each a UUID need no
    escaping; any other list is left to the driver."""
    if all(map(_UUID.fullmatch, ids)):
        return _Formatted("['" + "','".join(ids) + "']")
    return list(ids)


def describe_url(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class Store:
    """A synchronous clickhouse-connect client with the collector's few operations.

    Not thread-safe: the collector calls it from a single worker thread.
    """

    def __init__(
        self,
        url: str,
        *,
        analyst_settings: dict[str, Any] | None = None,
        engine_options: dict[str, str] | None = None,
    ) -> None:
        """``analyst_settings`` opens an analyst's connection: it can only read, and the
        engine holds every query to those limits. On the embedded engine it shares the data
        of the collector's own connection in this process. ``engine_options`` start the
        embedded engine with options of its own (a ``config-file``, say); the collector
        uses none, its cluster schema's test starts the engine as a cluster member."""
        self.url = url
        self._identity: tuple[Path, str] | None = None
        if url.startswith("chdb://"):
            Path(url.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] | None = None
        if analyst_settings is not None:
            # readonly last: once it is on, no setting can be changed, not even by us.
            settings = {**analyst_settings, "readonly": 1}
        try:
            self._client = (
                clickhouse_connect.get_client(dsn=url, settings=settings)
                if engine_options is None
                else clickhouse_connect.get_client(
                    dsn=url, settings=settings, chdb_options=engine_options
                )
            )
        except Exception as exc:  # noqa: BLE001 - the driver raises many kinds; all mean this
            raise StoreUnavailable(self._explain(exc)) from None

    def _explain(self, exc: BaseException) -> str:
        where = describe_url(self.url)
        text = str(exc)
        if self.url.startswith("chdb://") and ("EmbeddedServer" in text or "initializ" in text):
            return (
                f"cannot open the embedded store {where}: another process holds it "
                "(is `microx serve` running on this data directory?)"
            )
        return f"cannot reach ClickHouse at {where}: {text.splitlines()[0] if text else exc!r}"

    def close(self) -> None:
        self._client.close()

    def claim(self) -> None:
        """Mark the embedded store's directory as the one this process opened."""
        if not self.url.startswith("chdb://"):
            return
        path = Path(self.url.removeprefix("chdb://")) / IDENTITY_FILE
        try:
            identity = path.read_text().strip()
        except FileNotFoundError:
            identity = uuid.uuid4().hex
            tmp = path.with_suffix(".tmp")
            with tmp.open("w") as f:
                f.write(identity + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        self._identity = (path, identity)

    def verify(self) -> None:
        """Raise :class:`StoreLost` if the directory claimed is no longer there."""
        if self._identity is None:
            return
        path, identity = self._identity
        try:
            found = path.read_text().strip()
        except OSError:
            found = ""
        if found != identity:
            raise StoreLost(
                f"the embedded store {path.parent} was deleted or replaced while the collector "
                "ran; rows are kept in the spool: restart the collector"
            )

    def ping(self) -> bool:
        try:
            self.verify()
            return bool(self._client.command("SELECT 1") == 1)
        except (ClickHouseError, OSError, StoreLost):
            return False

    def migrate(
        self,
        migrations: Sequence[Migration] | None = None,
        definitions: Sequence[Definition] | None = None,
    ) -> list[Migration]:
        """Bring the schema up to date; return the migrations applied now.

        The functions are created first (a materialized view a migration creates copies
        the functions it uses into itself, so they must be there and current), then the
        migrations not yet recorded, then the views (a view copies its functions too, so
        every start creates them again after the functions). Views of ``microx`` and
        ``microx_`` functions that are no longer defined are dropped."""
        migrations = load_migrations() if migrations is None else migrations
        definitions = load_definitions() if definitions is None else definitions
        for d in definitions:
            if d.kind == "function":
                self._client.command(d.sql)
        applied = self._apply(migrations)
        for d in definitions:
            if d.kind == "view":
                self._client.command(d.sql)
        self._drop_undefined(definitions)
        return applied

    def _apply(self, migrations: Sequence[Migration]) -> list[Migration]:
        first, rest = migrations[0], migrations[1:]
        # The first migration creates the ledger itself and is idempotent, so it always runs.
        for statement in first.statements():
            self._client.command(statement)
        done = {
            row[0]: row[1]
            for row in self._client.query(
                f"SELECT version, checksum FROM {DATABASE}.schema_migrations"
            ).result_rows
        }
        applied: list[Migration] = []
        if first.version not in done:
            self._record(first)
            applied.append(first)
        for migration in rest:
            if migration.version in done:
                if not migration.matches(done[migration.version]):
                    raise StoreUnavailable(
                        f"migration {migration.version:04d}_{migration.name} was changed after "
                        "it was applied; add a new migration instead of editing an old one"
                    )
                continue
            for statement in migration.statements():
                self._client.command(statement)
            self._record(migration)
            applied.append(migration)
        return applied

    def _drop_undefined(self, definitions: Sequence[Definition]) -> None:
        views = {d.name for d in definitions if d.kind == "view"}
        functions = {d.name for d in definitions if d.kind == "function"}
        found = self._client.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'View'",
            parameters={"db": DATABASE},
        ).result_rows
        # Views first: one no longer defined may read a function no longer defined.
        for (name,) in found:
            if name not in views:
                self._client.command(f"DROP VIEW IF EXISTS {DATABASE}.`{_backquoted(name)}`")
        found = self._client.query(
            "SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'"
            " AND startsWith(name, {prefix:String})",
            parameters={"prefix": FUNCTION_PREFIX},
        ).result_rows
        for (name,) in found:
            if name not in functions:
                self._client.command(f"DROP FUNCTION IF EXISTS `{_backquoted(name)}`")

    def _record(self, migration: Migration) -> None:
        self._client.insert(
            f"{DATABASE}.schema_migrations",
            [[migration.version, migration.name, migration.checksum, dt.datetime.now(dt.UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )

    def insert_columns(
        self,
        table: str,
        column_names: Sequence[str],
        columns: Sequence[Sequence[Any]],
        token: str | None = None,
    ) -> None:
        """One columnar insert; a repeat under the same ``token`` is dropped by ClickHouse."""
        settings = {"insert_deduplication_token": token, **_DEDUPLICATE} if token else None
        self._client.insert(
            f"{DATABASE}.{table}",
            columns,
            column_names=list(column_names),
            column_oriented=True,
            settings=settings,
        )

    def insert_block(
        self, table: str, column_names: Sequence[str], block: bytes, token: str | None = None
    ) -> None:
        """One insert of rows already in ClickHouse's Native format (``blocks.native``)."""
        settings = {"insert_deduplication_token": token, **_DEDUPLICATE} if token else None
        self._client.raw_insert(
            f"{DATABASE}.{table}",
            list(column_names),
            insert_block=block,
            settings=settings,
            fmt="Native",
        )

    def insert_records(
        self, statement: Statement, records: bytes, token: str | None = None
    ) -> None:
        """One ``INSERT … SELECT`` of ``statement`` over ``records`` (JSON lines, the spool's
        records): the engine builds the rows. The embedded engine reads them from a file, a
        server from the request's body."""
        settings: dict[str, Any] = dict(INPUT_SETTINGS)
        if token:
            settings |= {"insert_deduplication_token": token, **_DEDUPLICATE}
        # In the statement, not set around it: the embedded driver would run two queries
        # per setting to set and restore each.
        clause = " SETTINGS " + ", ".join(f"{k} = {_literal(v)}" for k, v in settings.items())
        structure = _quoted(statement.structure)
        if not self.url.startswith("chdb://"):
            sql = statement.sql(f"input({structure})") + clause + "\nFORMAT JSONEachRow"
            self._client.command(sql, data=records)
            return
        with tempfile.NamedTemporaryFile(prefix="microx-records-", suffix=".jsonl") as f:
            f.write(records)
            f.flush()
            source = f"file({_quoted(f.name)}, 'JSONEachRow', {structure})"
            self._client.command(statement.sql(source) + clause)

    def column_types(self, table: str, column_names: Sequence[str]) -> list[str]:
        """The ClickHouse types of ``column_names`` in ``table``, in that order."""
        result = self._client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String}"
            " AND table = {table:String}",
            parameters={"db": DATABASE, "table": table},
        )
        types: dict[str, str] = {str(name): str(type_) for name, type_ in result.result_rows}
        missing = [c for c in column_names if c not in types]
        if missing:
            raise StoreUnavailable(f"{DATABASE}.{table} has no column {', '.join(missing)}")
        return [types[c] for c in column_names]

    def existing_event_ids(
        self, ids: Sequence[str], since: dt.datetime, until: dt.datetime
    ) -> set[str]:
        """Which of ``ids`` are already stored with an event time in the given range."""
        result = self._client.query(
            f"SELECT DISTINCT toString(event_id) FROM {DATABASE}.events"
            " WHERE event_time BETWEEN {since:DateTime64(3, 'UTC')}"
            " AND {until:DateTime64(3, 'UTC')} AND event_id IN {ids:Array(UUID)}",
            parameters={"since": since, "until": until, "ids": _uuids(ids)},
        )
        return {row[0] for row in result.result_rows}

    def existing_rejected(self, keys: Sequence[RejectedKey]) -> set[RejectedKey]:
        """Which rejected rows, by key (``copies.rejected_key``), are already stored."""
        times = [k[0] for k in keys]
        result = self._client.query(
            "SELECT toUnixTimestamp64Milli(received_at), toString(site), toString(reason),"
            " field_path, event_index, lower(hex(MD5(raw)))"
            f" FROM {DATABASE}.rejected_events"
            " WHERE received_at BETWEEN fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
            " AND fromUnixTimestamp64Milli({until:Int64}, 'UTC')",
            parameters={"since": min(times), "until": max(times)},
        )
        wanted = set(keys)
        return {k for r in result.result_rows if (k := tuple(r)) in wanted}

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = self._client.query(sql, parameters=parameters)
        return list(result.column_names), [tuple(r) for r in result.result_rows]

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._client.command(sql, parameters=parameters)

    def parse(self, function: str, sql: str) -> str:
        """``function`` (one of the engine's query parsers) applied to ``sql``, which goes in
        as a bound parameter: it is read as a value, never as SQL."""
        if function not in PARSERS:
            raise ValueError(f"{function} is not a query parser")
        result = self._client.query(f"SELECT {function}({{sql:String}})", parameters={"sql": sql})
        return str(result.result_rows[0][0])

    def raw(
        self, sql: str, parameters: dict[str, Any], fmt: str | None, database: str | None = None
    ) -> bytes:
        """The result as ClickHouse formats it: in ``fmt``, for SQL without a FORMAT clause,
        with ``parameters`` bound to the query's ``{name:Type}`` placeholders."""
        self._client.database = database or "default"
        # The driver fills ``%(name)s`` into the text itself when it finds no {name:Type}
        # placeholder: text that was checked as SQL must never be rewritten that way.
        if parameters and bind_query(sql, parameters)[0] != sql.rstrip(";"):
            raise ValueError("query parameters must be bound as {name:Type} placeholders")
        return bytes(self._client.raw_query(sql, parameters=parameters or None, fmt=fmt))
