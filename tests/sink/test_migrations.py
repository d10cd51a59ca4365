"""Splitting SQL into statements: the one splitter migrations and the cluster schema use."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.sink.migrations import SqlSyntaxError, load_migrations, split_statements


def test_semicolons_inside_strings_names_and_comments_do_not_end_a_statement() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE VIEW microx.v AS SELECT ';' AS a, 'it''s; fine' AS b, `odd;name` AS c;
    /* block; comment */ SELECT "x;y" FROM t ;
    ;;
    """
    assert split_statements(sql) == [
        "CREATE VIEW microx.v AS SELECT ';' AS a, 'it''s; fine' AS b, `odd;name` AS c",
        'SELECT "x;y" FROM t',
    ]


@pytest.mark.parametrize("sql", ["SELECT 'open", "SELECT `open", "SELECT 1 /* open"])
def test_unterminated_text_is_an_error_not_a_split(sql: str) -> None:
    with pytest.raises(SqlSyntaxError, match="unterminated"):
        split_statements(sql)


def test_a_migration_that_cannot_be_split_is_refused_when_loaded(tmp_path: Path) -> None:
    (tmp_path / "0001_broken.sql").write_text("CREATE TABLE t (a String DEFAULT 'x);\n")
    with pytest.raises(ValueError, match=r"0001_broken\.sql: unterminated"):
        load_migrations(tmp_path)


def test_the_shipped_migrations_split_into_their_statements() -> None:
    counts = {m.version: len(m.statements()) for m in load_migrations()}
    # Counted by hand from schema/migrations: CREATE/ALTER/DROP statements per file.
    assert counts[1] == 2
    assert counts[8] == 1
