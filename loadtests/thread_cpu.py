"""Where the collector's CPU goes, by thread, under ``wrk`` at a given batch size.

Starts ``microx serve`` on a fresh data directory, drives it flat out for ``--seconds``
(after a 2 s warm-up) with ``loadtests/events.lua``, and reads every thread's CPU time from
``/proc/<pid>/task/*/stat`` before and after, for the collector and any process it
started: the event loop's thread (HTTP, checks, validation, encoding, spool appends), the
other Python threads (the sink's and the spool writer's: Linux shows them under the
interpreter's name), the embedded engine's threads (named by ClickHouse), and child
processes. Prints cores busy, µs per event and per request for each group.

``--tree DIR`` (repeatable) runs the collector from other checkouts too, each its own code
with this script's load, and ``--rounds N`` alternates them N times, so that a change and
the code before it are measured on the same, possibly shared, machine. ``--rate R`` paces
the load at R requests a second in all instead of flat out (the latency of a sized
deployment, as ``make bench``'s ``microx/2``).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

from loadtests.bench import ROOT, TICKS, drive, free_port, server, tree

# Thread names as /proc shows them (15 characters at most), by prefix.
GROUPS = (("python", "other Python threads"),)
LOOP_THREAD = "event loop thread"


def threads(pid: int) -> dict[str, float]:
    """CPU seconds by thread group, a child process's threads as one group."""
    out: collections.defaultdict[str, float] = collections.defaultdict(float)
    stats = [(p, stat) for p in tree(pid) for stat in Path(f"/proc/{p}/task").glob("*/stat")]
    for owner, stat in stats:
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        group = next((g for prefix, g in GROUPS if name.startswith(prefix)), "engine threads")
        if stat.parent.name == str(pid):
            group = LOOP_THREAD  # the process's first thread runs the event loop
        if owner != pid:
            group = "child processes"
        out[group] += (int(fields[11]) + int(fields[12])) / TICKS
    return dict(out)


def measure(checkout: Path, seconds: float, connections: int, batch: int, rate: float) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="microx-threads-") as work:
        env = {
            "MICROX_PORT": str(port),
            "MICROX_DATA_DIR": f"{work}/var",
            "MICROX_LOG_LEVEL": "warning",
            "MICROX_RATE_IP_PER_S": "1e9",
            "MICROX_RATE_IP_BURST": "1e9",
            "MICROX_RATE_SITE_EVENTS_PER_S": "1e9",
            "MICROX_RATE_SITE_BURST": "1e9",
            "PYTHONPATH": str(checkout),
        }
        cmd = [sys.executable, "-m", "collector.cli", "serve"]
        with server(cmd, env, port, Path(work) / "serve.log", cwd=checkout) as pid:
            drive(port, 2, connections, rate, batch)
            before, load = threads(pid), os.getloadavg()[0]
            stats = drive(port, seconds, connections, rate, batch)
            after = threads(pid)
    requests = stats["ok"]
    print(
        f"{checkout}: {requests * batch / seconds:,.0f} events/s at {batch} events/request, "
        f"p50 {stats['p50']:.1f} ms, p99 {stats['p99']:.1f} ms, load {load:.1f}"
    )
    total = 0.0
    for group in sorted(after, key=lambda g: before.get(g, 0) - after[g]):
        used = after[group] - before.get(group, 0)
        total += used
        print(
            f"  {group:22} {used / seconds:5.2f} cores {used * 1e6 / (requests * batch):7.1f} "
            f"µs/event {used * 1e6 / requests:7.1f} µs/request"
        )
    print(f"  {'in all':22} {total / seconds:5.2f} cores {total * 1e6 / requests:23.1f} µs/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0, help="requests/s in all; 0: flat out")
    args = parser.parse_args()
    checkouts = [ROOT, *(t.resolve() for t in args.tree)]
    for _ in range(args.rounds):
        for checkout in checkouts:
            measure(checkout, args.seconds, args.connections, args.batch, args.rate)


if __name__ == "__main__":
    main()
