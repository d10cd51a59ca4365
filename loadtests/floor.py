"""The floor under any collector that stores its events in the embedded engine here.

    .venv/bin/python -m loadtests.floor --batch 20

Five runs, one after the other, ``--batch`` events a request, ``wrk`` flat out:

1. **bare**: the bare endpoint (Starlette on uvicorn: reads the body, answers 204).
2. **engine alone**: a process of its own holding the embedded store (every table and
   materialized view of the schema) inserts ``--inserts`` blocks of ``--insert-rows``
   rows with the machine to itself: the clicks ``wrk`` sends (``--rows bench``, the bench's
   load) or the journey generator's visits (``--rows journeys``), validated and enriched
   by the collector's own code once, then copied inside the engine with ids of their own,
   so no row is built in Python while it is timed.
3. **bare + store**: ``loadtests/servers/bare_store.py``, the bare endpoint that after every
   ``--insert-rows`` events received asks the engine process for one such insert. It
   parses nothing, checks nothing, spools nothing and builds no row: no collector that
   stores its events in this engine can go faster on this stack and machine.
4. **required work + store**: ``loadtests/servers/lean_store.py``, a plain ASGI handler
   doing only what every acknowledged event needs (the collector's own ``judge_body``,
   ``Accepted.encode`` and ``Spool`` append with its shared fsync), with the same store.
5. **request path + store**: ``microx serve`` itself with its sink idle (as in
   ``loadtests.ceiling``), every check and limit of its request path, and the engine
   process asked for an insert per ``--insert-rows`` events it acknowledges (read from its
   ``/metrics``): what the collector would reach if its rows cost the engine no more than
   these copies and the sink's Python nothing.

The engine runs in a process of its own, so the figures hold whatever the GIL does; only
the cores are shared. Per run it prints events/s received and stored, the cores of each
process and of ``wrk``, and µs of CPU per event stored. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from loadtests import send_batches
from loadtests.bench import ROOT, accepted_metric, cpu_seconds, drive, free_port, server, uvicorn
from loadtests.ceiling import IDLE_SINK, wrk_cpu

# Copies of the base rows with ids of their own, so no insert is a duplicate of another;
# the base is at most one insert's rows.
_COPY = """
INSERT INTO microx.events
SELECT * REPLACE (
    reinterpretAsUUID(sipHash128(event_id, {copy:UInt32})) AS event_id,
    reinterpretAsUUID(sipHash128(session_id, {copy:UInt32})) AS session_id
)
FROM microx.floor_base
"""


def engine(data: str, rows: int, status: Path, kind: str, batch: int) -> None:
    """The engine process: one insert of ``rows`` rows per byte read from stdin."""
    from collector.sink.store import Store
    from collector.tools import journeys

    store = Store(f"chdb://{data}")
    store.migrate()
    if kind == "bench":
        journeys.store_envelopes(store, bench_envelopes(rows, batch))
    else:
        visitors = 200
        while journeys.store_envelopes(store, journeys.envelopes(visitors, seed=5)) < rows:
            store.command("TRUNCATE TABLE microx.events")
            visitors *= 2
    store.command("CREATE TABLE microx.floor_base AS microx.events")
    store.command(
        "INSERT INTO microx.floor_base SELECT * FROM microx.events LIMIT {n:UInt32}",
        {"n": rows},
    )
    _tell(status, 0)
    copy = 0
    while chunk := os.read(0, 4096):
        for _ in chunk:
            copy += 1
            store.command(_COPY, {"copy": copy})
            _tell(status, copy * rows)
    store.close()


def bench_envelopes(rows: int, batch: int) -> Iterator[dict[str, Any]]:
    """``batch`` clicks of one session each, as ``loadtests/events.lua`` sends them."""
    for _ in range(-(-rows // batch)):
        yield orjson.loads(send_batches.batch(batch))


def _tell(status: Path, rows: int) -> None:
    """The count of rows stored, replaced whole so that a reader never sees half of it."""
    status.with_suffix(".new").write_text(str(rows))
    status.with_suffix(".new").replace(status)


def stored(status: Path) -> int:
    return int(status.read_text())


class Feeder(threading.Thread):
    """Asks the engine process for an insert per ``rows`` events the collector has
    acknowledged, read from its ``/metrics`` every 50 ms."""

    def __init__(self, port: int, pipe: int, rows: int) -> None:
        super().__init__(daemon=True)
        self._port, self._pipe, self._rows = port, pipe, rows
        self._done = threading.Event()

    def run(self) -> None:
        asked = 0
        while not self._done.wait(0.05):
            due = accepted_metric(self._port) // self._rows - asked
            if due > 0:
                os.write(self._pipe, b"i" * due)
                asked += due

    def stop(self) -> None:
        self._done.set()
        self.join()


def _settle(status: Path) -> None:
    """Wait until the engine has stored every insert asked of it (its count stops moving)."""
    deadline, last = time.monotonic() + 600, -1
    while time.monotonic() < deadline and stored(status) != last:
        last = stored(status)
        time.sleep(3)


def line(name: str, received: float, kept: float, seconds: float, cores: dict[str, float]) -> None:
    cpu = sum(cores.values())
    parts = ", ".join(f"{g} {c:.2f}" for g, c in cores.items())
    per = f" ({cpu * seconds / kept * 1e6:.1f} µs/event stored)" if kept else ""
    print(
        f"{name:24} received {received / seconds:>9,.0f}/s  stored {kept / seconds:>9,.0f}/s"
        f"  cores: {parts}{per}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--insert-rows", type=int, default=50_000)
    parser.add_argument("--inserts", type=int, default=20, help="inserts of the engine alone")
    parser.add_argument(
        "--rows",
        choices=("bench", "journeys"),
        default="bench",
        help="what the engine stores: the clicks wrk sends, or the journey generator's visits",
    )
    parser.add_argument("--engine", nargs=2, metavar=("DIR", "STATUS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        engine(args.engine[0], args.insert_rows, Path(args.engine[1]), args.rows, args.batch)
        return
    with tempfile.TemporaryDirectory(prefix="microx-floor-") as work:
        port = free_port()
        with server(
            uvicorn("loadtests.servers.bare:app", port), {}, port, Path(work) / "bare.log"
        ) as pid:
            drive(port, 2, args.connections, 0, args.batch)
            c0, w0 = cpu_seconds(pid), wrk_cpu()
            stats = drive(port, args.seconds, args.connections, 0, args.batch)
            c1, w1 = cpu_seconds(pid), wrk_cpu()
        bare_rate = stats["ok"] * args.batch / args.seconds
        cores = {"server": (c1 - c0) / args.seconds, "wrk": (w1 - w0) / args.seconds}
        line("bare", bare_rate * args.seconds, 0, args.seconds, cores)

        status = Path(work) / "stored"
        read, write = os.pipe()
        me = [sys.executable, "-m", "loadtests.floor", "--insert-rows", str(args.insert_rows)]
        me += ["--rows", args.rows, "--batch", str(args.batch)]
        store = subprocess.Popen(
            [*me, "--engine", f"{work}/clickhouse", str(status)], stdin=read, cwd=ROOT
        )
        os.close(read)
        try:
            while not status.exists():
                if store.poll() is not None:
                    raise RuntimeError("the engine process exited before it was ready")
                time.sleep(0.2)
            t0, e0 = time.monotonic(), cpu_seconds(store.pid)
            os.write(write, b"i" * args.inserts)
            while stored(status) < args.inserts * args.insert_rows:
                time.sleep(0.02)
            seconds, e1 = time.monotonic() - t0, cpu_seconds(store.pid)
            kept = args.inserts * args.insert_rows
            line("engine alone", kept, kept, seconds, {"engine": (e1 - e0) / seconds})

            port = free_port()
            floor = uvicorn("loadtests.servers.bare_store:app", port)
            floor_env = {
                "FLOOR_BATCH": str(args.batch),
                "FLOOR_INSERT_ROWS": str(args.insert_rows),
                "FLOOR_FD": str(write),
            }
            # The collector's own request path (every check, the spool's appends and
            # fsyncs) with its sink idle, as in loadtests.ceiling, and the engine process
            # told of every --insert-rows events it acknowledges: what the collector would
            # reach if its rows cost the engine no more than these copies and Python nothing.
            serve = [sys.executable, "-m", "collector.cli", "serve"]
            serve_env = {
                **IDLE_SINK,
                "MICROX_PORT": str(port),
                "MICROX_DATA_DIR": f"{work}/var",
            }
            lean = uvicorn("loadtests.servers.lean_store:app", port, "--lifespan", "off")
            lean_env = {**floor_env, "FLOOR_SPOOL": f"{work}/lean-spool"}
            runs = (
                ("bare + store", floor, floor_env, (write,)),
                ("required work + store", lean, lean_env, (write,)),
                ("request path + store", serve, serve_env, ()),
            )
            for name, cmd, env, fds in runs:
                with server(cmd, env, port, Path(work) / "run.log", pass_fds=fds) as pid:
                    feeder = None
                    if cmd is serve:
                        feeder = Feeder(port, write, args.insert_rows)
                        feeder.start()
                    drive(port, 2, args.connections, 0, args.batch)
                    time.sleep(0.5)
                    s0, c0, e0, w0 = (
                        stored(status),
                        cpu_seconds(pid),
                        cpu_seconds(store.pid),
                        wrk_cpu(),
                    )
                    stats = drive(port, args.seconds, args.connections, 0, args.batch)
                    s1, c1, e1, w1 = (
                        stored(status),
                        cpu_seconds(pid),
                        cpu_seconds(store.pid),
                        wrk_cpu(),
                    )
                    if feeder:
                        feeder.stop()
                    if cmd is serve:
                        os.kill(pid, signal.SIGKILL)  # no shutdown drain of its spool
                received = stats["ok"] * args.batch
                cores = {
                    "server": (c1 - c0) / args.seconds,
                    "engine": (e1 - e0) / args.seconds,
                    "wrk": (w1 - w0) / args.seconds,
                }
                line(name, received, s1 - s0, args.seconds, cores)
                print(
                    f"    {received / bare_rate / args.seconds:.2f} x bare received,"
                    f" {(s1 - s0) / bare_rate / args.seconds:.2f} x bare stored;"
                    f" p99 {stats['p99']:.1f} ms"
                )
                _settle(status)  # the backlog stored before the next run, so it starts even
        finally:
            os.close(write)
            store.wait(600)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
