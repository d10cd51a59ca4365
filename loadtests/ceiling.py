"""What each half of the collector can do alone on this machine, beside the bare stack.

Three runs, one after the other, ``--batch`` events a request, ``--seconds`` each:

1. **bare**: the bare endpoint (reads the body, answers 204) under ``wrk`` flat out.
2. **request path alone**: ``microx serve`` under the same load with its sink waiting for
   a batch it never gets (a billion rows or an hour), so every acknowledged event stays in
   the spool and no insert competes for the cores: the HTTP, the checks, the spool's
   appends and fsyncs, and ``wrk``. The collector is then killed, so that no shutdown
   drain stores what it spooled.
3. **store alone**: the same data directory opened again, with the default batches and no
   load at all. The sink replays the spool into ClickHouse as it would after an outage,
   every core free for it; this times the drain until ``microx.events`` holds every
   acknowledged event.

Per run it prints events/s, cores busy and µs of CPU per event (the collector's threads
read from ``/proc``, ``wrk``'s from its own process), so the ceiling of the whole can be
judged from measured parts: the request path and the store share the machine's cores, so
together they go no faster than ``cores / (request path's µs + store's µs)`` per event.
It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from loadtests.bench import ROOT, accepted_metric, drive, free_port, server, uvicorn
from loadtests.thread_cpu import threads

# No limit a load test would hit first, and room in the spool for every event it sends.
UNLIMITED = {
    "MICROX_LOG_LEVEL": "warning",
    "MICROX_RATE_IP_PER_S": "1e9",
    "MICROX_RATE_IP_BURST": "1e9",
    "MICROX_RATE_SITE_EVENTS_PER_S": "1e9",
    "MICROX_RATE_SITE_BURST": "1e9",
    "MICROX_SPOOL_MAX_BYTES": str(8 << 30),
}
# The same, with a sink that waits for a batch it never gets: an hour old, or a billion rows.
IDLE_SINK = {
    **UNLIMITED,
    "MICROX_BATCH_MAX_ROWS": str(10**9),
    "MICROX_BATCH_MAX_AGE_MS": str(3_600_000),
}


def wrk_cpu() -> float:
    """CPU seconds of the children this process waited for (``wrk``)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stored_rows(port: int) -> int:
    """Rows the sink has inserted into ``microx.events``, from its own metric."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("microx_insert_rows_total{") and 'table="events"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    raise RuntimeError("the collector's /metrics has no microx_insert_rows_total for events")


SPY = ["py-spy", "record", "--format", "raw", "--rate", "100", "--threads"]
# Run in a process of its own: one process owns an embedded store's directory.
DROP_VIEWS = """
import sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
for (name,) in client.query(
    "SELECT name FROM system.tables WHERE database = 'microx' AND engine = 'MaterializedView'"
).result_rows:
    client.command(f"DROP VIEW microx.`{name}`")
    print("    dropped", name)
"""


def report(name: str, events: int, seconds: float, cpu: dict[str, float], wrk: float) -> None:
    busy = sum(cpu.values())
    print(
        f"{name:<20} {events / seconds:>10,.0f} events/s  {busy / seconds:.2f} cores of the "
        f"collector ({1e6 * busy / max(events, 1):.1f} µs/event)"
        + (
            f", wrk {wrk / seconds:.2f} cores ({1e6 * wrk / max(events, 1):.1f} µs/event)"
            if wrk
            else ""
        )
    )
    for group, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
        per_event = 1e6 * used / max(events, 1)
        print(f"    {group:<22} {used / seconds:.2f} cores  {per_event:.1f} µs/event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument(
        "--insert-rows",
        type=int,
        default=0,
        help="rows per insert of the store alone (default: the collector's)",
    )
    parser.add_argument(
        "--without-views",
        action="store_true",
        help="drop the materialized views before the store alone runs (what the views cost)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="sample the store alone with py-spy into FILE (--format raw)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microx-ceiling-") as work:
        port = free_port()
        with server(
            uvicorn("loadtests.servers.bare:app", port), {}, port, Path(work) / "bare.log"
        ) as pid:
            drive(port, 2, args.connections, 0, args.batch)
            before, w0 = threads(pid), wrk_cpu()
            stats = drive(port, args.seconds, args.connections, 0, args.batch)
            after, w1 = threads(pid), wrk_cpu()
        events = int(stats["ok"]) * args.batch
        report("bare", events, args.seconds, _used(before, after), w1 - w0)

        data = f"{work}/var"
        serve = [sys.executable, "-m", "collector.cli", "serve"]
        port = free_port()
        away = {**IDLE_SINK, "MICROX_PORT": str(port), "MICROX_DATA_DIR": data}
        with server(serve, away, port, Path(work) / "away.log", cwd=ROOT) as pid:
            drive(port, 2, args.connections, 0, args.batch)
            before, w0 = threads(pid), wrk_cpu()
            stats = drive(port, args.seconds, args.connections, 0, args.batch)
            after, w1 = threads(pid), wrk_cpu()
            acked = accepted_metric(port)
            if not acked:
                raise RuntimeError(
                    "the collector acknowledged nothing, or /metrics lacks the count"
                )
            # Killed, so that no shutdown drain stores the spool: the next start replays it.
            os.kill(pid, signal.SIGKILL)
        events = int(stats["ok"]) * args.batch
        report("request path alone", events, args.seconds, _used(before, after), w1 - w0)
        print(f"    p50 {stats['p50']:.1f} ms, p99 {stats['p99']:.1f} ms; {acked:,} events spooled")

        if args.without_views:
            subprocess.run(
                [sys.executable, "-c", DROP_VIEWS, f"chdb://{data}/clickhouse"], check=True
            )
        port = free_port()
        home = {**UNLIMITED, "MICROX_PORT": str(port), "MICROX_DATA_DIR": data}
        if args.insert_rows:
            home["MICROX_BATCH_MAX_ROWS"] = str(args.insert_rows)
        started = time.monotonic()
        with server(serve, home, port, Path(work) / "home.log", cwd=ROOT) as pid:
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    [*SPY, "-o", args.py_spy, "-p", str(pid)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            before, t0 = threads(pid), time.monotonic()
            stored = first = stored_rows(port)
            while stored < acked and time.monotonic() - t0 < 600:
                time.sleep(0.05)
                stored = stored_rows(port)
            after, t1 = threads(pid), time.monotonic()
            if spy:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
        print(
            f"    (the store opened in {t0 - started:.1f} s, {first:,} rows stored by then,"
            " not counted)"
        )
        report("store alone", stored - first, t1 - t0, _used(before, after), 0.0)
        if stored < acked:
            print(f"    only {stored:,} of {acked:,} stored within 600 s")
    print(f"load average {os.getloadavg()[0]:.1f}")


def _used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {g: after[g] - before.get(g, 0.0) for g in after if after[g] - before.get(g, 0.0) > 0}


if __name__ == "__main__":
    main()
