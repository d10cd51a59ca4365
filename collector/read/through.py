"""through: read-only SQL through a running collector's ``/clickhouse`` endpoint.

While ``microx serve`` holds the embedded store, no other process can open it; the
command-line tools then read through the collector, with the analysts' token, under the
same checks and limits as any analyst.
"""

from __future__ import annotations

from typing import Any, Protocol

import clickhouse_connect

from collector.sink.store import StoreUnavailable


class SqlReader(Protocol):
    """What the read commands need of a store: queries, then closing it."""

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    def close(self) -> None: ...


class ThroughCollector:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.url = f"http://{host}:{port}/clickhouse"
        try:
            self._client = clickhouse_connect.get_client(
                host=host, port=port, proxy_path="/clickhouse", username="microx", password=token
            )
        except Exception as exc:  # noqa: BLE001 - the driver raises many kinds; all mean this
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise StoreUnavailable(
                f"cannot read through the collector at {self.url}: {first}"
            ) from None

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = self._client.query(sql, parameters=parameters)
        return list(result.column_names), [tuple(r) for r in result.result_rows]

    def close(self) -> None:
        self._client.close()
