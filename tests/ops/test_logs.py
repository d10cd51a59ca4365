from __future__ import annotations

import logging

from collector.ops.logs import Throttle


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_throttle_keeps_a_burst_per_reason_and_counts_the_rest() -> None:
    now = [0.0]
    throttle = Throttle(burst=3, per_s=1.0, clock=lambda: now[0])
    logger = logging.getLogger("microx.test_throttle")
    logger.propagate = False
    lines = Lines()
    logger.handlers[:] = [lines]
    logger.filters[:] = [throttle]
    logger.setLevel(logging.INFO)
    for _ in range(10):
        logger.info("refused request: %s (%d)", "unknown_site", 403, extra={"kind": "unknown_site"})
    logger.info("refused request: %s (%d)", "bad_gzip", 400, extra={"kind": "bad_gzip"})
    assert lines.lines == ["refused request: unknown_site (403)"] * 3 + [
        "refused request: bad_gzip (400)"
    ]
    now[0] = 2.0  # two lines' worth of refill
    for _ in range(5):
        logger.info("refused request: %s (%d)", "unknown_site", 403, extra={"kind": "unknown_site"})
    assert len(lines.lines) == 6
    throttle.summarise()
    assert lines.lines[-1] == "suppressed 10 similar lines: refused request: unknown_site (403)"
    throttle.summarise()
    assert len(lines.lines) == 7  # nothing held back since
