"""``microx serve`` whose store SIGKILLs the process right after an insert into
``MICROX_TEST_CRASH_TABLE`` lands: the crash between a batch's insert and the checkpoint
that records it, at that exact moment, with the real command, app and engine."""

from __future__ import annotations

import functools
import os
import signal
import sys

from collector import app, cli
from collector.sink.records import Statement
from collector.sink.store import Store

CRASH_TABLE = os.environ.get("MICROX_TEST_CRASH_TABLE", "rejected_events")


class CrashAfterInsert(Store):
    def insert_records(
        self, statement: Statement, records: bytes, token: str | None = None
    ) -> None:
        super().insert_records(statement, records, token)
        if statement.table == CRASH_TABLE:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    # `serve` imports the app factory when it runs: it gets this one.
    app.create_app = functools.partial(app.create_app, store_factory=CrashAfterInsert)
    sys.exit(cli.main())
