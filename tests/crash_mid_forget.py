"""``microx serve`` that SIGKILLs itself inside an erasure, once its tombstones are
durable: on the first call of the real ``Visitor`` step named by
``MICROX_TEST_CRASH_STEP`` (``_recompute``: before the aggregates are corrected;
``_delete``: before the rows are deleted), with the real command, app and engine."""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any

from collector import cli
from collector.rights.visitors import Visitor

STEP = os.environ.get("MICROX_TEST_CRASH_STEP", "_delete")


def crash_first(step: Any) -> Any:
    @functools.wraps(step)
    def crashing(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)
        return step(*args, **kwargs)

    return crashing


if __name__ == "__main__":
    setattr(Visitor, STEP, crash_first(getattr(Visitor, STEP)))
    sys.exit(cli.main())
