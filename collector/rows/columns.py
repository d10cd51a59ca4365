"""columns: the stored columns of both tables, in the order every row is built in.

The ClickHouse tables are defined by the migrations in ``schema/migrations``; these are the
columns the collector writes, checked against the store's own description of the tables
when the sink starts (``Store.column_types`` refuses a column the table lacks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

EVENT_COLUMNS = (
    "site",
    "event_id",
    "session_id",
    "type",
    "name",
    "target",
    "label",
    "duration_ms",
    "value",
    "seq",
    "url",
    "path",
    "referrer",
    "props",
    "client_time",
    "sent_at",
    "received_at",
    "event_time",
    "clock_skew_ms",
    "browser",
    "os",
    "device",
    "viewport_w",
    "viewport_h",
    "lang",
    "tz",
    "sdk_version",
    "contract_version",
    "visitor_id",
    "consent",
    "sample_rate",
    "variants",
    "definition",
)

REJECTED_COLUMNS = (
    "received_at",
    "site",
    "reason",
    "field_path",
    "message",
    "event_index",
    "contract_version",
    "raw",
    "envelope_session_id",
    "envelope_visitor_id",
)

Row = tuple[Any, ...]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ms_to_datetime(ms: int | float) -> dt.datetime:
    # timedelta arithmetic is exact to the microsecond and, unlike fromtimestamp, has no
    # platform range limits for the far past or future.
    return _EPOCH + dt.timedelta(milliseconds=ms)
