"""What storing a batch costs, by insert size: the engine building the rows from the spool's
records (``sink.records``) against rows built in Python and sent as a Native block (what
the sink did before, now ``rows.record.decode`` + ``sink.blocks``).

For each size, batches of 20-event records are made as ingest makes them and stored into a
fresh embedded store both ways; printed is the process CPU (every thread: the engine's
included) per event, best of ``--rounds``, for reading the records and for the insert.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from typing import Any

from collector.ingest.validate import judge
from collector.rows.columns import EVENT_COLUMNS
from collector.rows.record import Accepted, decode
from collector.sink.blocks import insert_rows
from collector.sink.records import EVENTS, index
from collector.sink.store import Store

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"
PER_RECORD = 20


def records(events: int) -> list[bytes]:
    now = int(time.time() * 1000)
    out = []
    for _ in range(max(1, events // PER_RECORD)):
        batch: dict[str, Any] = {
            "v": 1,
            "s": "demo",
            "sid": str(uuid.uuid4()),
            "at": now,
            "u": "https://shop.example/product/123",
            "c": {"vw": 1280, "vh": 800, "tz": "Europe/Berlin", "sdk": "0.1.0", "cs": ["measure"]},
            "e": [
                {
                    "id": str(uuid.uuid4()),
                    "t": "click",
                    "ts": now - j,
                    "q": j,
                    "tg": "button#buy",
                    "l": "Buy",
                    "d": 120.0,
                    "p": {"x": j, "y": "10"},
                }
                for j in range(min(PER_RECORD, events))
            ],
        }
        verdict = judge(batch)
        out.append(Accepted(now, verdict.envelope, verdict.accepted, [], UA, "en").encode())
    return out


def best(rounds: int, run: Any) -> tuple[float, float]:
    found = (float("inf"), float("inf"))
    for _ in range(rounds):
        found = min(found, run())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,10000,50000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microx-records-") as work:
        store = Store(f"chdb://{work}/ch")
        store.migrate()
        print(f"{'events':>7} {'way':7} {'read µs/ev':>10} {'insert µs/ev':>12} {'insert ms':>9}")
        for size in (int(s) for s in args.sizes.split(",")):

            def engine(size: int = size) -> tuple[float, float]:
                payloads = records(size)
                t0 = time.process_time()
                block = index(payloads)
                t1 = time.process_time()
                store.insert_records(EVENTS, block.events, token=uuid.uuid4().hex)
                return t1 - t0, time.process_time() - t1

            def python(size: int = size) -> tuple[float, float]:
                payloads = records(size)
                t0 = time.process_time()
                rows = decode(payloads).events
                t1 = time.process_time()
                insert_rows(store, "events", EVENT_COLUMNS, rows, token=uuid.uuid4().hex)
                return t1 - t0, time.process_time() - t1

            for way, run in (("engine", engine), ("python", python)):
                read, insert = best(args.rounds, run)
                print(
                    f"{size:7d} {way:7} {read * 1e6 / size:10.2f} {insert * 1e6 / size:12.2f}"
                    f" {insert * 1e3:9.1f}"
                )
        store.close()


if __name__ == "__main__":
    main()
