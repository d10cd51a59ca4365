"""migrations: the store's schema as ordered, checksummed SQL files, the definitions
created again at every start, and SQL split into statements.

What is stored (tables, and the materialized views that fill them) changes only through a
new file in ``schema/migrations/``, applied once. What only computes (functions, plain and
parameterized views) lives in ``schema/views/`` and is created again, as written there, at
every start: fixing a definition is an edit.

One splitter reads the SQL the collector runs and the SQL the cluster schema translates:
it knows ClickHouse's strings, quoted names and comments, so a ``;`` inside any of them
does not end a statement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from collector.contract import schema_dir

DATABASE = "microx"
# Functions are global in ClickHouse, not in a database: this prefix is microx's part.
FUNCTION_PREFIX = "microx_"
# Checksums of migrations as first released, when they also held functions and views.
# Those moved to schema/views/, the files keeping only what they stored, and stores that
# applied the released text recorded these. Each is accepted only beside the checksum of
# the file as it became then: any later edit is refused as for every other migration.
RELEASED_CHECKSUMS = {
    (5, "friction"): ("e54fb726efff5d9c", "91e83a393c82bdec"),
    (6, "customer_signals"): ("f68fca08efd9711e", "e9044a288fcdae36"),
}
_DEFINITION_NAME = re.compile(r"^[a-z0-9_]+\.sql$")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# ClickHouse's lexical units, as far as splitting and translating statements need them.
SQL_TOKEN = re.compile(
    r"""(?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^'\\]|\\.|'')*')
    | (?P<quoted>`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<number>\d[\w.]*)
    | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


class SqlSyntaxError(ValueError):
    """SQL that cannot be split: an unterminated string, name or comment."""


def tokens(sql: str) -> Iterator[re.Match[str]]:
    """``sql``'s tokens, comments and spaces included; raises on an unterminated string,
    quoted name or comment, which the pattern would otherwise read as single characters."""
    for m in SQL_TOKEN.finditer(sql):
        if m.lastgroup == "other" and (m[0] in "'`\"" or sql.startswith("/*", m.start())):
            line = sql.count("\n", 0, m.start()) + 1
            raise SqlSyntaxError(f"unterminated {m[0]!r} on line {line}")
        yield m


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, without comments, each stripped; empty ones dropped."""
    statements: list[str] = []
    current: list[str] = []
    for m in tokens(sql):
        if m.lastgroup == "comment":
            continue
        if m.lastgroup == "other" and m[0] == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(m[0])
    statements.append("".join(current).strip())
    return [s for s in statements if s]


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        return split_statements(self.sql)

    def matches(self, checksum: str) -> bool:
        """Whether a store that recorded ``checksum`` applied this migration."""
        released, moved = RELEASED_CHECKSUMS.get((self.version, self.name), ("", ""))
        return checksum == self.checksum or (checksum, self.checksum) == (released, moved)


@dataclasses.dataclass(frozen=True)
class Definition:
    """A function or a view, created again with ``CREATE OR REPLACE`` at every start."""

    kind: str  # "function" or "view"
    name: str  # the function's name, or the view's within DATABASE
    sql: str
    source: str


def _words(statement: str, count: int) -> list[str]:
    """The first ``count`` tokens of a statement, comments and spaces left out, quoted
    names without their quotes."""
    found: list[str] = []
    for m in tokens(statement):
        if m.lastgroup in ("space", "comment"):
            continue
        found.append(m[0][1:-1] if m.lastgroup == "quoted" else m[0])
        if len(found) == count:
            break
    return found


def _defines(statement: str) -> str | None:
    """``"function"`` or ``"view"`` when ``statement`` creates one (a materialized view
    stores rows, so it is not a view here), else None."""
    words = [w.upper() for w in _words(statement, 4)]
    at = 3 if words[1:3] == ["OR", "REPLACE"] else 1
    if words[:1] != ["CREATE"] or len(words) <= at:
        return None
    return {"FUNCTION": "function", "VIEW": "view"}.get(words[at])


def _definition(statement: str, source: str) -> Definition:
    words = _words(statement, 7) + [""] * 7
    kind = _defines(statement)
    if kind is None or [w.upper() for w in words[1:3]] != ["OR", "REPLACE"]:
        raise ValueError(
            f"{source}: only CREATE OR REPLACE FUNCTION and CREATE OR REPLACE VIEW belong "
            f"in schema/views (a definition must replace the one before): "
            f"{' '.join(words[:4])} ..."
        )
    if kind == "function":
        name = words[4]
        if not name.startswith(FUNCTION_PREFIX):
            raise ValueError(f"{source}: function {name} must be named {FUNCTION_PREFIX}...")
        return Definition(kind, name, statement, source)
    if words[4:6] != [DATABASE, "."]:
        raise ValueError(f"{source}: view {words[4]} must be named {DATABASE}.<name>")
    return Definition(kind, words[6], statement, source)


# A view over a segment of the visitors (``microx.X_in``, with a ``segment`` parameter) has
# a twin over all of them (``microx.X``), made here from it rather than written out again:
# a parameterized view takes every parameter it names, none has a default. The twin is
# X_in with no segment at all, not a call of it with segment = '': the engine analyses a
# query's every subquery before it runs, and X_in's look-ups of the segment's sessions
# (microx.segment_sessions) took more of a small window's time than its rows.
SEGMENTED_SUFFIX = "_in"
SEGMENT = "{segment:String}"
_PARAMETER = re.compile(r"\{(\w+):([^{}]+)\}")
# A look-up of the segment's sessions, from its opening parenthesis on.
_SESSIONS_OF_SEGMENT = re.compile(
    r"session_id\s+IN\s+(?=\(\s*SELECT\s+session_id\s+FROM\s+microx\.segment_sessions\()"
)
_SEGMENTED_CALL = re.compile(r"\bmicrox\.(\w+)" + SEGMENTED_SUFFIX + r"\(")


def _closing(sql: str, opening: int) -> int:
    """Where the parenthesis at ``opening`` closes (strings, quoted names and comments
    skipped)."""
    depth = 0
    for m in tokens(sql[opening:]):
        if m.lastgroup == "other" and m[0] in "()":
            depth += 1 if m[0] == "(" else -1
            if depth == 0:
                return opening + m.start()
    raise SqlSyntaxError(f"unclosed parenthesis at {opening}")


def without_segment(sql: str) -> str:
    """``sql`` for every visitor: each look-up of the segment's sessions is false, each
    call of a segmented view is of its twin without the ``segment`` argument, and the
    segment left in the rest is ''."""
    while m := _SESSIONS_OF_SEGMENT.search(sql):
        sql = sql[: m.start()] + "false" + sql[_closing(sql, m.end()) + 1 :]
    at = 0
    while m := _SEGMENTED_CALL.search(sql, at):
        close = _closing(sql, m.end() - 1)
        args = sql[m.end() : close]
        # The argument after another, or first of several.
        kept = re.sub(r",\s*segment\s*=\s*" + re.escape(SEGMENT), "", args)
        kept = re.sub(r"segment\s*=\s*" + re.escape(SEGMENT) + r"\s*,\s*", "", kept)
        sql = f"{sql[: m.start()]}microx.{m[1]}({kept}{sql[close:]}"
        at = m.start() + 1
    return sql.replace(SEGMENT, "''")


def _everyone(view: Definition) -> Definition | None:
    """The twin of a segmented view, for every visitor; None for any other definition."""
    params = dict(_PARAMETER.findall(view.sql))
    if view.kind != "view" or not view.name.endswith(SEGMENTED_SUFFIX) or "segment" not in params:
        return None
    name = view.name.removesuffix(SEGMENTED_SUFFIX)
    head = re.compile(rf"\bVIEW\s+{DATABASE}\.{view.name}\s+AS\b")
    sql, count = head.subn(f"VIEW {DATABASE}.{name} AS", view.sql, count=1)
    if not count:
        raise ValueError(f"{view.source}: cannot read the name of view {view.name}")
    return Definition("view", name, without_segment(sql), view.source)


def load_definitions(directory: Path | None = None) -> list[Definition]:
    """The functions first, then the views, each in the order of its file and the files'
    names: a view is created after what it reads, and right after a segmented view
    (``X_in``) comes its twin over every visitor (``X``)."""
    directory = directory or schema_dir() / "views"
    found: list[Definition] = []
    for path in sorted(directory.glob("*.sql")):
        if not _DEFINITION_NAME.match(path.name):
            raise ValueError(f"definition file {path.name!r} is not named name.sql")
        try:
            statements = split_statements(path.read_text())
        except SqlSyntaxError as exc:
            raise ValueError(f"{path.name}: {exc}") from None
        for statement in statements:
            found.append(_definition(statement, path.name))
            twin = _everyone(found[-1])
            if twin:
                found.append(twin)
    names = [(d.kind, d.name) for d in found]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"defined twice in {directory}: {twice}")
    return sorted(found, key=lambda d: d.kind != "function")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or schema_dir() / "migrations"
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name!r} is not named NNNN_name.sql")
        migration = Migration(int(match[1]), match[2], path.read_text())
        try:
            statements = migration.statements()
        except SqlSyntaxError as exc:
            raise ValueError(f"migration {path.name}: {exc}") from None
        for statement in statements:
            if _defines(statement):
                raise ValueError(
                    f"migration {path.name} creates a {_defines(statement)}: functions and "
                    "views are definitions in schema/views, created again at every start"
                )
        found.append(migration)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number in {directory}")
    return found
