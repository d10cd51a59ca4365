"""migrations: the store's schema as ordered, checksummed SQL files, and SQL split into
statements.

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


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or schema_dir() / "migrations"
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name!r} is not named NNNN_name.sql")
        migration = Migration(int(match[1]), match[2], path.read_text())
        try:
            migration.statements()
        except SqlSyntaxError as exc:
            raise ValueError(f"migration {path.name}: {exc}") from None
        found.append(migration)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number in {directory}")
    return found
