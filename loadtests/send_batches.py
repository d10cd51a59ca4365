"""Send a bounded number of snippet-sized batches to a running collector on loopback.

    .venv/bin/python -m loadtests.send_batches --batches 2000 --events 20 --concurrency 16

Prints events/s and latency percentiles, and checks that the collector counted every
acknowledged event (from its /metrics). Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
import orjson

# Load is sent as browsers send it; the collector drops what calls itself a bot.
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36"


def batch(events: int) -> bytes:
    now = int(time.time() * 1000)
    payload: dict[str, Any] = {
        "v": 1,
        "s": "demo",
        "sid": str(uuid.uuid4()),
        "at": now,
        "u": "http://127.0.0.1/load",
        "c": {"sdk": "load", "vw": 1280, "vh": 800},
        "e": [
            {
                "id": str(uuid.uuid4()),
                "t": "click",
                "ts": now,
                "q": i,
                "tg": "button#buy",
                "l": "Buy",
                "p": {"x": i, "y": 10},
            }
            for i in range(events)
        ],
    }
    return orjson.dumps(payload)


def accepted_total(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("microx_events_accepted_total "):
            return float(line.split()[1])
    return 0.0


async def run(port: int, batches: int, events: int, concurrency: int, limit_s: float) -> int:
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as sync:
        before = accepted_total(sync)
    latencies: list[float] = []
    acked = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for _ in range(batches):
        queue.put_nowait(batch(events))
    deadline = time.monotonic() + limit_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal acked
        while not queue.empty() and time.monotonic() < deadline:
            body = queue.get_nowait()
            started = time.perf_counter()
            r = await client.post(
                "/v1/events",
                content=body,
                headers={"content-type": "text/plain", "user-agent": BROWSER_UA},
            )
            latencies.append(time.perf_counter() - started)
            if r.status_code == 202:
                acked += r.json()["accepted"]

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    with httpx.Client(base_url=base) as sync:
        counted = accepted_total(sync) - before
    q = statistics.quantiles(latencies, n=100)
    print(
        f"sent {len(latencies)} batches of {events} events in {elapsed:.2f}s: "
        f"{acked / elapsed:,.0f} events/s acknowledged; "
        f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms"
    )
    print(f"acknowledged {acked}, counted by the collector {counted:.0f}")
    return 0 if counted == acked else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit-s", type=float, default=60.0, help="stop after this long")
    args = parser.parse_args()
    return asyncio.run(run(args.port, args.batches, args.events, args.concurrency, args.limit_s))


if __name__ == "__main__":
    raise SystemExit(main())
