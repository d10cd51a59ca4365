"""blocks: rows at hand made into one ClickHouse Native block, for tools and tests.

The sink does not build rows (the engine does, from the spool's records: ``records``);
what inserts rows it already holds, a tool's or a test's, sends them as the driver would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform

from collector.rows.columns import Row
from collector.sink.migrations import DATABASE
from collector.sink.store import Store

_LOW_CARDINALITY = re.compile(r"LowCardinality\((.*?)\)")
_UUID = re.compile(r"\bUUID\b")


def native(
    table: str, column_names: Sequence[str], type_names: Sequence[str], rows: list[Row]
) -> bytes:
    """``rows`` as one Native-format block, as clickhouse-connect would send it."""
    if not rows:
        return b""
    types = [get_from_name(t) for t in type_names]
    columns = list(zip(*rows, strict=True))
    context = InsertContext(table, list(column_names), types, columns, column_oriented=True)
    data = b"".join(NativeTransform().build_insert(context))
    # The transform puts the INSERT statement in front, for an HTTP request body.
    return data[data.index(b"\n") + 1 :] if data.startswith(b"INSERT ") else data


def wire_type(column_type: str) -> str:
    """The type a column is sent as: UUID and LowCardinality columns go as plain strings,
    which ClickHouse converts on insert (in C++, where the driver's encoders for those
    types are Python)."""
    return _UUID.sub("String", _LOW_CARDINALITY.sub(r"\1", column_type))


def insert_rows(
    store: Store,
    table: str,
    column_names: Sequence[str],
    rows: list[Row],
    token: str | None = None,
) -> None:
    """Insert ``rows`` as one Native block in the columns' wire types."""
    types = [wire_type(t) for t in store.column_types(table, column_names)]
    block = native(f"{DATABASE}.{table}", column_names, types, rows)
    store.insert_block(table, column_names, block, token=token)
