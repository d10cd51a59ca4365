"""A bounded Locust run of shop visitors against a fresh collector, then an audit.

    .venv/bin/python -m loadtests.locust_run --users 200 --seconds 60

Starts ``microx serve`` on 127.0.0.1 with a fresh data directory, runs
``loadtests/locustfile.py`` headless for the given time, stops the collector (it stores
what is pending), and checks every acknowledged event id against ``microx.events``:
lost, duplicated, stored without an acknowledgement (the reply was lost), and rejected,
each counted. Any loss or duplicate fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from collector.tools.journeys import ORIGIN, SITE
from loadtests.bench import free_port, server

ROOT = Path(__file__).resolve().parent.parent


def audit(data_dir: Path, acked: set[str], refused: set[str]) -> dict[str, int]:
    from collector.sink.store import Store

    store = Store(f"chdb://{data_dir / 'clickhouse'}")
    try:
        _, counts = store.query("SELECT toString(event_id), count() FROM microx.events GROUP BY 1")
        _, ((rejected,),) = store.query("SELECT count() FROM microx.rejected_events")
    finally:
        store.close()
    stored = dict(counts)
    return {
        "acknowledged": len(acked),
        "refused (429/503, retried by the snippet)": len(refused),
        "stored": sum(stored.values()),
        "lost": sum(1 for i in acked if i not in stored),
        "duplicated": sum(n - 1 for n in stored.values()),
        "stored without an acknowledgement": sum(1 for i in stored if i not in acked),
        "rejected": int(rejected),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--spawn-rate", type=float, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    if not 0 < args.seconds <= 600 or not 0 < args.users <= 5000:
        parser.error("a run is bounded: 1-600 s, 1-5000 users")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="microx-locust-") as tmp:
        work = Path(tmp)
        env = {
            "MICROX_PORT": str(port),
            "MICROX_HOST": "127.0.0.1",
            "MICROX_DATA_DIR": str(work / "data"),
            "MICROX_SITES": f"{SITE}={ORIGIN}",
            # One machine sends for thousands of visitors: per-address limits do not apply.
            "MICROX_RATE_IP_PER_S": "1000000",
            "MICROX_RATE_SITE_EVENTS_PER_S": "10000000",
            "MICROX_LOG_LEVEL": "warning",
        }
        acked_file = work / "acked.txt"
        with server(
            [sys.executable, "-m", "collector.cli", "serve"], env, port, work / "collector.log"
        ):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(ROOT / "loadtests" / "locustfile.py"),
                    "--headless",
                    "--only-summary",
                    "-u",
                    str(args.users),
                    "-r",
                    str(args.spawn_rate),
                    "-t",
                    f"{args.seconds}s",
                    "--stop-timeout",
                    "10",
                    "--host",
                    f"http://127.0.0.1:{port}",
                    "--csv",
                    str(work / "locust"),
                ],
                env={**os.environ, "MICROX_LOCUST_ACKED": str(acked_file)},
                cwd=ROOT,
                timeout=args.seconds + 120,
                check=False,
            )
        acked = set(filter(None, acked_file.read_text().splitlines()))
        refused = set(filter(None, Path(f"{acked_file}.refused").read_text().splitlines()))
        with (work / "locust_stats.csv").open() as f:
            total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
        result = audit(work / "data", acked, refused)
    print(
        f"\nlocust: {total['Request Count']} requests, {float(total['Requests/s']):.0f} req/s, "
        f"p50 {total['50%']} ms, p95 {total['95%']} ms, p99 {total['99%']} ms, "
        f"{total['Failure Count']} refused"
    )
    print("audit: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    return 1 if result["lost"] or result["duplicated"] else 0


if __name__ == "__main__":
    sys.exit(main())
