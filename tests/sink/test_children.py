"""The collector is one process: the engine builds the rows, so no helper process is there
to outlive it when it is killed."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Collector, make_envelope, make_event, wait_for
from tests.processes import descendants


def test_collector_stores_events_without_a_helper_process(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "var")
    try:
        envelope = make_envelope(*[make_event(q=j) for j in range(3)])
        assert collector.post(envelope).status_code == 202
        wait_for(lambda: collector.metric('insert_rows_total{table="events"}') == 3)
        assert descendants(collector.proc.pid) == set()
    finally:
        collector.proc.kill()
        collector.proc.wait()
