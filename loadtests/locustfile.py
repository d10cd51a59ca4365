"""Locust: shop visitors from the journey generator, sending what the snippet sends.

Each simulated visitor walks the shop (``collector/tools/journeys.py``): one batch per page, sent
when the page is left (the snippet's beacon on page hide), a few seconds of reading
between pages, several sessions for visitors who come back. Batches go as ``text/plain``
with the page's Origin, as sendBeacon sends them.

Every event id the collector acknowledged (202) is written, one a line, to
``$MICROX_LOCUST_ACKED`` when the run stops, so ``loadtests.locust_run`` can check each one
is stored exactly once. Run it through that module, which bounds users, time and target
(127.0.0.1 only).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
from locust import FastHttpUser, between, events, task

from collector.tools import journeys

_ids: list[str] = []
_refused: list[str] = []
_lock = threading.Lock()
_seeds = itertools.count(1)
USER_AGENT = journeys.USER_AGENT


def _visits(seed: int) -> Iterator[list[journeys.Envelope]]:
    while True:
        yield from journeys.visitors(100, seed=seed * 1_000_003)
        seed += 7919


class ShopVisitor(FastHttpUser):
    # Reading time between pages; a visit of 6 pages takes half a minute.
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self._visits = _visits(next(_seeds))
        self._pages: list[journeys.Envelope] = []

    @task
    def leave_page(self) -> None:
        if not self._pages:
            self._pages = list(next(self._visits))
        envelope = journeys.retimed(self._pages.pop(0), int(time.time() * 1000))
        ids = [e["id"] for e in envelope["e"]]
        headers = {
            "content-type": "text/plain;charset=UTF-8",
            "origin": journeys.ORIGIN,
            "user-agent": USER_AGENT,
        }
        with self.client.post(
            "/v1/events",
            data=orjson.dumps(envelope).decode(),
            headers=headers,
            name="/v1/events (page hide)",
            catch_response=True,
        ) as answer:
            if answer.status_code == 202:
                body: dict[str, Any] = orjson.loads(answer.content)
                with _lock:
                    # The generator's events are valid: a rejection is a finding, kept apart.
                    (_ids if body.get("rejected", 0) == 0 else _refused).extend(ids)
                answer.success()
            else:
                # 429 / 503 are the collector pushing back, which the snippet retries.
                with _lock:
                    _refused.extend(ids)
                answer.failure(f"HTTP {answer.status_code}")


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def _write_acknowledged(**_: Any) -> None:
    path = os.environ.get("MICROX_LOCUST_ACKED")
    if path:
        with _lock, open(path, "w") as out:
            out.write("\n".join(_ids))
        with open(path + ".refused", "w") as out:
            out.write("\n".join(_refused))
