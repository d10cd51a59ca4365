"""Where the collector's CPU goes, by thread, under ``wrk`` at a given batch size.

Starts ``microx serve`` on a fresh data directory, drives it flat out for ``--seconds``
(after a 2 s warm-up) with ``loadtests/events.lua``, and reads every thread's CPU time from
``/proc/<pid>/task/*/stat`` before and after, for the collector and any process it
started: Python's threads (the event loop with HTTP, validation and spool appends, the
sink's and the spool writer's threads: Linux shows them all under the interpreter's name),
the embedded engine's threads (named by ClickHouse), and child processes. Prints cores
busy and µs per event for each group.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

from loadtests.bench import TICKS, drive, free_port, server, tree

# Thread names as /proc shows them (15 characters at most), by prefix.
GROUPS = (("python", "Python threads"),)


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
        if owner != pid:
            group = "child processes"
        out[group] += (int(fields[11]) + int(fields[12])) / TICKS
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
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
        }
        cmd = [sys.executable, "-m", "collector.cli", "serve"]
        with server(cmd, env, port, Path(work) / "serve.log") as pid:
            drive(port, 2, args.connections, batch=args.batch)
            before, load = threads(pid), os.getloadavg()[0]
            stats = drive(port, args.seconds, args.connections, batch=args.batch)
            after = threads(pid)
    events = stats["ok"] * args.batch
    print(f"{events / args.seconds:,.0f} events/s at {args.batch} events/request, load {load:.1f}")
    for group in sorted(after, key=lambda g: before.get(g, 0) - after[g]):
        used = after[group] - before.get(group, 0)
        print(f"{group:18} {used / args.seconds:5.2f} cores {used * 1e6 / events:6.1f} µs/event")


if __name__ == "__main__":
    main()
