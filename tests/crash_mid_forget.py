"""``microx serve`` whose store SIGKILLs the process inside an erasure, once its tombstones
are durable: at the erasure's first statement of the step named by
``MICROX_TEST_CRASH_STEP`` (``aggregates``: before the aggregates are corrected; ``rows``:
before the rows are deleted), with the real command, app and engine."""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any

from collector import app, cli
from collector.rights.visitors import KEYS_TABLE
from collector.sink.store import Store

STEP = os.environ.get("MICROX_TEST_CRASH_STEP", "rows")
if STEP not in ("aggregates", "rows"):
    raise SystemExit(f"MICROX_TEST_CRASH_STEP: aggregates or rows, not {STEP!r}")


def begins_the_step(sql: str) -> bool:
    # Correcting an aggregate starts by making the table of the keys to recompute;
    # deleting the rows is the erasure's only DELETE FROM.
    return KEYS_TABLE in sql if STEP == "aggregates" else sql.startswith("DELETE FROM")


class CrashMidErasure(Store):
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        if begins_the_step(sql):
            os.kill(os.getpid(), signal.SIGKILL)
        super().command(sql, parameters)


if __name__ == "__main__":
    # `serve` imports the app factory when it runs: it gets this one.
    app.create_app = functools.partial(app.create_app, store_factory=CrashMidErasure)
    sys.exit(cli.main())
