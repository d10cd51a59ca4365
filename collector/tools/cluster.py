"""The schema for a ClickHouse cluster, translated from the single-server migrations.

Every MergeTree-family table becomes ``<name>_local`` on each shard, with the Replicated
engine, plus a Distributed table under the original name: the collector and analysts keep
inserting into and querying the names they know. Materialized views run on every shard,
reading and writing the local tables, so each shard aggregates its own rows. Every DDL
statement carries ``ON CLUSTER``, so running the output once on any server builds the
whole cluster.

Functions and views (``schema/views``) come with every run, functions before the migrations
(a materialized view copies the functions it uses when it is created) and views after: they
replace what the servers have, so the script brings the definitions up to date whatever
``--from`` says.

The translation reads each statement's tokens and remembers what earlier migrations
created (which tables are split, which have a session_id), so a new migration needs no
change here; a statement it cannot translate safely is refused with the reason rather
than printed wrong.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from collector.sink.migrations import (
    DATABASE,
    SQL_TOKEN,
    Definition,
    Migration,
    load_definitions,
)

DEFAULT_CLUSTER = "microx"
# The ledger is replicated whole to every server (one replication path for all shards)
# and not distributed: it is tiny, and every server must answer "which migrations are
# applied" from its own copy, whichever server a collector's `migrate` talks to.
LEDGER = "schema_migrations"
LOCAL_SUFFIX = "_local"
SESSION_KEY = "cityHash64(session_id)"
RANDOM_KEY = "rand()"
# Meaningless on replicated tables, which deduplicate inserts by default.
NON_REPLICATED_SETTINGS = frozenset({"non_replicated_deduplication_window"})
_COLUMN_COMMANDS = frozenset({"ADD", "DROP", "MODIFY", "RENAME", "COMMENT"})
# Words that start a command of ALTER TABLE; after a comma, anything else continues the
# previous command (``UPDATE a = 1, b = 2``, ``MODIFY SETTING x = 1, y = 2``, TTL lists).
_ALTER_VERBS = _COLUMN_COMMANDS | {
    "APPLY",
    "ATTACH",
    "CLEAR",
    "DELETE",
    "DETACH",
    "FETCH",
    "FREEZE",
    "MATERIALIZE",
    "MOVE",
    "REMOVE",
    "REPLACE",
    "RESET",
    "UNFREEZE",
    "UPDATE",
}
_MERGE_TREE = re.compile(r"(\w*)MergeTree", re.IGNORECASE)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = SQL_TOKEN


class ClusterSchemaError(ValueError):
    """A migration statement cannot be translated for a cluster; the message says why."""


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


@dataclasses.dataclass(frozen=True)
class _Name:
    database: str | None
    table: str
    start: int  # character span of the whole (possibly qualified) name
    end: int
    next: int  # index of the first token after it

    @property
    def key(self) -> tuple[str, str]:
        if self.database is None:
            raise ClusterSchemaError(
                f"name {self.table!r} with its database ({DATABASE}.{self.table}): "
                "cluster DDL runs on every server, whatever its current database"
            )
        return (self.database, self.table)


def quote(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else "`" + name.replace("`", "``") + "`"


def _unquote(token: _Token) -> str:
    if token.kind != "quoted":
        return token.text
    mark = token.text[0]
    return token.text[1:-1].replace(mark * 2, mark).replace("\\" + mark, mark)


class _Statement:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [
            _Token(m.lastgroup or "other", m[0], m.start(), m.end())
            for m in _TOKEN.finditer(text)
            if m.lastgroup not in ("space", "comment")
        ]
        self._edits: list[tuple[int, int, str]] = []

    def word(self, i: int) -> str:
        return self.tokens[i].text.upper() if i < len(self.tokens) else ""

    def skip(self, i: int, *words: str) -> int:
        """``i`` moved past ``words`` if they come next, else ``i``."""
        if all(self.word(i + n) == w for n, w in enumerate(words)):
            return i + len(words)
        return i

    def closing(self, i: int) -> int:
        depth = 0
        for j in range(i, len(self.tokens)):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(self.tokens[j].text, 0)
            if depth == 0:
                return j
        raise ClusterSchemaError(f"unbalanced parentheses in: {self.text[:80]}")

    def top_level(self, start: int, end: int) -> list[int]:
        """Indexes in ``[start, end)`` outside any parentheses."""
        found, i = [], start
        while i < end:
            found.append(i)
            i = self.closing(i) + 1 if self.tokens[i].text in ("(", "[") else i + 1
        return found

    def name_at(self, i: int) -> _Name:
        first = self.tokens[i]
        if first.kind not in ("word", "quoted"):
            raise ClusterSchemaError(f"expected a name at {first.text!r} in: {self.text[:80]}")
        if i + 2 < len(self.tokens) and self.tokens[i + 1].text == ".":
            last = self.tokens[i + 2]
            return _Name(_unquote(first), _unquote(last), first.start, last.end, i + 3)
        return _Name(None, _unquote(first), first.start, first.end, i + 1)

    def find(self, start: int, end: int, *words: str) -> int | None:
        return next((i for i in self.top_level(start, end) if self.tokens[i].is_word(*words)), None)

    def select(self, start: int) -> int:
        """Index of the ``AS`` that starts the query of a view or table, or the end."""
        for i in self.top_level(start, len(self.tokens)):
            if self.tokens[i].is_word("AS") and self.word(i + 1) in ("SELECT", "WITH", "("):
                return i
        return len(self.tokens)

    def replace(self, start: int, end: int, text: str) -> None:
        self._edits.append((start, end, text))

    def edited(self) -> str:
        out = self.text
        for start, end, text in sorted(self._edits, reverse=True):
            out = out[:start] + text + out[end:]
        return out


class _Translator:
    def __init__(self, cluster: str, shard_keys: Mapping[str, str]) -> None:
        self.cluster = quote(cluster)
        self.shard_keys = dict(shard_keys)
        # Tables split into ``<name>_local`` per shard and a Distributed ``<name>``.
        self.sharded: set[tuple[str, str]] = set()
        self.columns: dict[tuple[str, str], set[str]] = {}

    def on_cluster(self, name: _Name, table: str | None = None) -> str:
        prefix = f"{quote(name.database)}." if name.database else ""
        return f"{prefix}{quote(table or name.table)} ON CLUSTER {self.cluster}"

    def translate(self, text: str) -> list[str]:
        return [t.strip() for t in self._translate(_Statement(text))]

    def _translate(self, s: _Statement) -> list[str]:
        text = s.text
        head = s.skip(s.skip(0, "CREATE"), "OR", "REPLACE")
        if any(s.word(i) == "ON" and s.word(i + 1) == "CLUSTER" for i in range(len(s.tokens))):
            raise ClusterSchemaError(f"already has ON CLUSTER: {text[:80]}")
        if s.word(0) == "CREATE" and s.word(head) == "DATABASE":
            return [self.database(s, head + 1)]
        if s.word(0) == "CREATE" and s.word(head) == "TABLE":
            return self.table(s, head + 1)
        if s.word(0) == "CREATE" and s.word(head) == "VIEW":
            return [self.view(s, head + 1)]
        if s.word(0) == "CREATE" and s.word(head) == "FUNCTION":
            return [self.function(s, head + 1)]
        if s.word(0) == "CREATE" and s.word(head) == "MATERIALIZED" and s.word(head + 1) == "VIEW":
            return self.materialized_view(s, head + 2)
        if s.word(0) == "ALTER" and s.word(1) == "TABLE":
            return self.alter(s)
        if s.word(0) == "DROP" and s.word(1) in ("TABLE", "VIEW", "DATABASE"):
            return self.drop(s)
        if s.word(0) == "INSERT":
            # Data a migration adds goes in once, through the Distributed table.
            return [text]
        raise ClusterSchemaError(
            f"cannot translate {' '.join(t.text for t in s.tokens[:3])!r} for a cluster; "
            "write its cluster DDL by hand"
        )

    def database(self, s: _Statement, i: int) -> str:
        name = s.name_at(s.skip(i, "IF", "NOT", "EXISTS"))
        s.replace(name.start, name.end, self.on_cluster(name))
        return s.edited()

    def table(self, s: _Statement, i: int) -> list[str]:
        name = s.name_at(s.skip(i, "IF", "NOT", "EXISTS"))
        key = name.key
        columns: set[str] = set()
        after = name.next
        if s.word(after) == "(":
            close = s.closing(after)
            columns = self.column_names(s, after + 1, close)
            after = close + 1
        elif s.word(after) == "AS":  # the columns of another table
            columns = set(self.columns.get(s.name_at(after + 1).key, ()))
        self.columns[key] = columns
        end = s.select(after)
        engine = s.find(after, end, "ENGINE")
        if engine is None:
            raise ClusterSchemaError(
                f"{name.table}: state the ENGINE, so the cluster schema knows whether to "
                "replicate and distribute it"
            )
        if not self.replicate(s, s.skip(engine + 1, "="), end, name, key):
            s.replace(name.start, name.end, self.on_cluster(name))
            return [s.edited()]
        if end < len(s.tokens):
            raise ClusterSchemaError(
                f"{name.table}: CREATE TABLE ... AS SELECT would fill every shard with every "
                "row; create the table, then INSERT ... SELECT into it"
            )
        if key == (DATABASE, LEDGER):
            s.replace(name.start, name.end, self.on_cluster(name))
            return [s.edited()]
        local = name.table + LOCAL_SUFFIX
        s.replace(name.start, name.end, self.on_cluster(name, local))
        self.sharded.add(key)
        sharding = self.shard_key(name.table, "session_id" in columns)
        return [s.edited(), self.distributed(s.text[: name.start], name, sharding)]

    def replicate(self, s: _Statement, i: int, end: int, name: _Name, key: tuple[str, str]) -> bool:
        """Make the engine at ``i`` Replicated and drop settings it must not have;
        False if it is not of the MergeTree family."""
        engine = s.tokens[i]
        if not _MERGE_TREE.fullmatch(engine.text):
            return False
        if engine.text.lower().startswith("replicated"):
            raise ClusterSchemaError(f"{name.table}: migrations are written for one server")
        shard = "all" if key == (DATABASE, LEDGER) else "{shard}"
        table = name.table if key == (DATABASE, LEDGER) else name.table + LOCAL_SUFFIX
        path = f"'/clickhouse/tables/{shard}/{key[0]}/{table}', '{{replica}}'"
        args_end = i
        if s.word(i + 1) == "(":
            args_end = s.closing(i + 1)
            inner = s.text[s.tokens[i + 1].end : s.tokens[args_end].start].strip()
            path += f", {inner}" if inner else ""
        s.replace(engine.start, s.tokens[args_end].end, f"Replicated{engine.text}({path})")
        settings = s.find(args_end + 1, end, "SETTINGS")
        if settings is not None:
            self.drop_settings(s, settings, end)
        return True

    def drop_settings(self, s: _Statement, keyword: int, end: int) -> None:
        """Remove the settings in NON_REPLICATED_SETTINGS from ``SETTINGS a = 1, b = 2``."""
        entries: list[tuple[int, int]] = []  # token span of each ``name = value``
        i = keyword + 1
        while i + 2 < end and s.word(i + 1) == "=":
            last = i + 2
            if s.tokens[last].text in ("-", "+"):
                last += 1
            if s.tokens[last].text in ("(", "["):
                last = s.closing(last)
            entries.append((i, last))
            if s.word(last + 1) != ",":
                break
            i = last + 2
        kept = [e for e in entries if s.tokens[e[0]].text.lower() not in NON_REPLICATED_SETTINGS]
        if len(kept) == len(entries):
            return
        first, end_token = s.tokens[keyword], s.tokens[entries[-1][1]]
        text = ", ".join(s.text[s.tokens[a].start : s.tokens[b].end] for a, b in kept)
        s.replace(first.start, end_token.end, f"{first.text} {text}" if kept else "")

    def distributed(self, create: str, name: _Name, sharding: str) -> str:
        assert name.database is not None  # checked by name.key
        local = quote(name.table + LOCAL_SUFFIX)
        return (
            f"{create.strip()} {self.on_cluster(name)} AS {quote(name.database)}.{local}\n"
            f"ENGINE = Distributed({self.cluster}, {quote(name.database)}, {local}, {sharding})"
        )

    def shard_key(self, table: str, has_session: bool) -> str:
        if table in self.shard_keys:
            return self.shard_keys.pop(table)
        return SESSION_KEY if has_session else RANDOM_KEY

    @staticmethod
    def column_names(s: _Statement, start: int, end: int) -> set[str]:
        names, expect = set(), True
        for i in s.top_level(start, end):
            if expect and not s.tokens[i].is_word("INDEX", "PROJECTION", "CONSTRAINT"):
                names.add(_unquote(s.tokens[i]))
            expect = s.tokens[i].text == ","
        return names

    def view(self, s: _Statement, i: int) -> str:
        # A plain view keeps reading the Distributed names: on any server it sees all shards.
        name = s.name_at(s.skip(i, "IF", "NOT", "EXISTS"))
        self.columns[name.key] = set()
        s.replace(name.start, name.end, self.on_cluster(name))
        return s.edited()

    def function(self, s: _Statement, i: int) -> str:
        # A SQL function is global, not in a database: every server needs its own copy.
        name = s.tokens[s.skip(i, "IF", "NOT", "EXISTS")]
        s.replace(name.start, name.end, f"{name.text} ON CLUSTER {self.cluster}")
        return s.edited()

    def materialized_view(self, s: _Statement, i: int) -> list[str]:
        name = s.name_at(s.skip(i, "IF", "NOT", "EXISTS"))
        key = name.key
        if s.word(name.next) == "REFRESH":
            raise ClusterSchemaError(
                f"{name.table}: a refreshable view would run once per server over all shards; "
                "write its cluster DDL by hand"
            )
        select = s.select(name.next)
        self.local_references(s, select + 1, len(s.tokens))
        after = name.next
        if s.word(after) == "TO":
            target = s.name_at(after + 1)
            if target.key not in self.columns:
                raise ClusterSchemaError(f"{name.table}: TO {target.table} is not created before")
            if target.key in self.sharded:
                s.replace(target.start, target.end, self.local(target))
            after = target.next
        columns: set[str] = set()
        if s.word(after) == "(":
            columns = self.column_names(s, after + 1, s.closing(after))
        self.columns[key] = columns
        engine = s.find(after, select, "ENGINE")
        if engine is None or not self.replicate(s, s.skip(engine + 1, "="), select, name, key):
            s.replace(name.start, name.end, self.on_cluster(name))
            return [s.edited()]
        # The view keeps its own storage: distributed like a table.
        s.replace(name.start, name.end, self.on_cluster(name, name.table + LOCAL_SUFFIX))
        self.sharded.add(key)
        sharding = self.shard_key(name.table, "session_id" in columns)
        create = re.sub(r"(?i)\bMATERIALIZED\s+VIEW\b", "TABLE", s.text[: name.start])
        return [s.edited(), self.distributed(create, name, sharding)]

    def local(self, name: _Name) -> str:
        return f"{quote(name.key[0])}.{quote(name.table + LOCAL_SUFFIX)}"

    def local_references(self, s: _Statement, start: int, end: int) -> None:
        """Point a per-shard query at the local tables."""
        for i in range(start, end):
            token = s.tokens[i]
            if token.kind not in ("word", "quoted") or (i and s.tokens[i - 1].text == "."):
                continue
            name = s.name_at(i)
            if name.database is not None and name.key in self.sharded:
                s.replace(name.start, name.end, self.local(name))
            elif (
                name.database is None
                and i
                and s.tokens[i - 1].is_word("FROM", "JOIN")
                and any(table == name.table for _, table in self.sharded)
            ):
                raise ClusterSchemaError(
                    f"name {name.table!r} with its database in views: a per-shard view must "
                    "read the local table"
                )

    def alter(self, s: _Statement) -> list[str]:
        name = s.name_at(2)
        key = name.key
        if key not in self.columns:
            raise ClusterSchemaError(f"ALTER of {name.table}, which no migration created")
        commands = self.commands(s, name.next)
        texts = [self.command_text(s, a, b) for a, b in commands]
        head = s.text[: name.start]
        kept = [t for t in texts if t]
        local = name.table + LOCAL_SUFFIX if key in self.sharded else None
        out = [f"{head}{self.on_cluster(name, local)}{_commands(kept)}"] if kept else []
        if local is None:
            return out
        # The Distributed table holds no data, only the columns: it takes column changes
        # (and refuses indexes, TTLs, settings).
        columns = [
            s.text[s.tokens[a].start : s.tokens[b].end]
            for a, b in commands
            if s.word(a) in _COLUMN_COMMANDS and s.word(a + 1) == "COLUMN"
        ]
        if columns:
            out.append(f"{head}{self.on_cluster(name)}{_commands(columns)}")
        return out

    def commands(self, s: _Statement, start: int) -> list[tuple[int, int]]:
        """Token spans of the comma-separated commands of an ALTER."""
        spans: list[tuple[int, int]] = []
        begin = start
        for i in [*s.top_level(start, len(s.tokens)), len(s.tokens)]:
            if i < len(s.tokens) and s.tokens[i].text != ",":
                continue
            query = (
                spans and s.word(spans[-1][0]) == "MODIFY" and s.word(spans[-1][0] + 1) == "QUERY"
            )
            if spans and (query or s.word(begin) not in _ALTER_VERBS or s.word(begin + 1) == "="):
                spans[-1] = (spans[-1][0], i - 1)  # a continuation; a query runs to the end
            elif begin < i:
                spans.append((begin, i - 1))
            begin = i + 1
        return spans

    def command_text(self, s: _Statement, a: int, b: int) -> str:
        sub = _Statement(s.text[s.tokens[a].start : s.tokens[b].end])
        if sub.word(0) == "MODIFY" and sub.word(1) == "SETTING":
            self.drop_settings(sub, 1, len(sub.tokens))
            return "" if sub.edited().strip().upper() == "MODIFY" else sub.edited()
        if sub.word(0) == "MODIFY" and sub.word(1) == "QUERY":
            self.local_references(sub, 2, len(sub.tokens))
        return sub.edited()

    def drop(self, s: _Statement) -> list[str]:
        name = s.name_at(s.skip(2, "IF", "EXISTS"))
        head, tail = s.text[: name.start], s.text[name.end :]
        if s.word(1) == "DATABASE":
            return [f"{head}{self.on_cluster(name)}{tail}"]
        self.columns.pop(name.key, None)
        if name.key not in self.sharded:
            return [f"{head}{self.on_cluster(name)}{tail}"]
        self.sharded.discard(name.key)
        # Both halves are tables now (DROP TABLE also drops a view): the Distributed one
        # first, so nothing is inserted into a local table that is going away.
        head = re.sub(r"(?i)\bVIEW\b", "TABLE", head)
        local = self.on_cluster(name, name.table + LOCAL_SUFFIX)
        return [f"{head}{self.on_cluster(name)}{tail}", f"{head}{local}{tail}"]


def _commands(texts: list[str]) -> str:
    return "\n    " + ",\n    ".join(texts)


def ledger_row(migration: Migration) -> str:
    """Records ``migration`` as applied, once, however often the output is run."""
    ledger = f"{DATABASE}.{LEDGER}"
    return (
        f"INSERT INTO {ledger} (version, name, checksum, applied_at)\n"
        f"SELECT {migration.version}, '{migration.name}', '{migration.checksum}', now64(3)\n"
        f"WHERE {migration.version} NOT IN (SELECT version FROM {ledger})"
    )


def cluster_statements(
    migrations: Sequence[Migration],
    cluster: str = DEFAULT_CLUSTER,
    shard_keys: Mapping[str, str] | None = None,
    since: int = 0,
) -> list[tuple[Migration, list[str]]]:
    """Each migration from version ``since`` on, with its statements for ``cluster``:
    its DDL, then the ledger row that makes ``microx migrate`` treat it as applied."""
    translator = _Translator(cluster, shard_keys or {})
    out: list[tuple[Migration, list[str]]] = []
    for migration in migrations:
        statements: list[str] = []
        for statement in migration.statements():
            try:
                statements += translator.translate(statement)
            except ClusterSchemaError as exc:
                raise ClusterSchemaError(
                    f"{migration.version:04d}_{migration.name}: {exc}"
                ) from None
        if migration.version >= since:
            out.append((migration, [*statements, ledger_row(migration)]))
    if translator.shard_keys:
        unknown = ", ".join(sorted(translator.shard_keys))
        raise ClusterSchemaError(f"--shard-key names no replicated table: {unknown}")
    return out


def definition_statements(
    definitions: Sequence[Definition], kind: str, cluster: str = DEFAULT_CLUSTER
) -> list[str]:
    """The ``kind`` ("function" or "view") definitions for ``cluster``."""
    translator = _Translator(cluster, {})
    out: list[str] = []
    for d in definitions:
        if d.kind == kind:
            try:
                out += translator.translate(d.sql)
            except ClusterSchemaError as exc:
                raise ClusterSchemaError(f"{d.source}: {exc}") from None
    return out


def render(
    migrations: Sequence[Migration],
    cluster: str = DEFAULT_CLUSTER,
    shard_keys: Mapping[str, str] | None = None,
    since: int = 0,
    definitions: Sequence[Definition] | None = None,
) -> str:
    """The cluster schema as one script for ``clickhouse-client --multiquery``: the
    functions, the migrations from version ``since`` on, the views."""
    definitions = load_definitions() if definitions is None else definitions
    lines = [
        f"-- microx schema for the ClickHouse cluster {cluster!r}: run it once, on any server.",
        "-- Needs {shard} and {replica} macros on every server, and ClickHouse Keeper.",
        "",
    ]
    functions = definition_statements(definitions, "function", cluster)
    if functions:
        lines.append("-- functions (schema/views), before the materialized views that use them")
        lines += [f"{statement};\n" for statement in functions]
    selected = cluster_statements(migrations, cluster, shard_keys, since)
    for migration, statements in selected:
        lines.append(f"-- {migration.version:04d}_{migration.name}")
        lines += [f"{statement};\n" for statement in statements]
    if not selected:
        lines.append(f"-- no migration from version {since} on\n")
    views = definition_statements(definitions, "view", cluster)
    if views:
        lines.append("-- views (schema/views), after the tables they read")
        lines += [f"{statement};\n" for statement in views]
    return "\n".join(lines).rstrip() + "\n"
