"""``make bench``: one table comparing, on this machine and in one go,

(a) ``bare``   a Starlette endpoint that reads the body and answers 204 (the stack's ceiling),
(b) ``microx`` the collector on the embedded store, spool on, audited afterwards; then
               again paced at half the rate it reached (``microx/2``: the latency of a
               sized deployment) and under far more connections than it can serve
               (``overload``: it must refuse the excess with 503, not queue it),
(c) ``naive``  FastAPI + pydantic inserting each request synchronously through
               clickhouse-connect (what a team writes in an afternoon).

Each server runs as its own process on 127.0.0.1 and is driven by ``wrk`` with
``loadtests/events.lua`` (a fresh UUID per event) for a bounded time. bare and microx run
interleaved at 20, 5 and 1 events per request (``--batches``), one after the other for each
size, so that both see the same machine; the rest at 20. Printed per target: events/s
acknowledged, p50/p99 latency, server CPU (cores, and µs of process CPU per event and per
request), peak RSS, and the load average around it (the machine may be shared). Every
microx run is audited: each acknowledged event must be in ClickHouse exactly once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "loadtests" / "events.lua"
TICKS = os.sysconf("SC_CLK_TCK")
BATCH = 20  # events per request, as events.lua sends by default
BATCHES = (20, 5, 1)
OVERLOAD_CONNECTIONS = 1024
# The targets, against bare at the same batch size.
TARGET_RATIO = {20: 0.5, 5: 0.3, 1: 0.3}


@dataclasses.dataclass
class Result:
    name: str
    batch: int
    events_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_cores: float
    peak_rss_mb: float
    ok: int
    refused: int
    failed: int
    acknowledged_total: int = 0  # events, warm-up included, from the server's own metric
    audit: str = ""
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_cores * 1e6 / self.events_per_s if self.events_per_s else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants: microx builds insert blocks in a worker process, whose
    CPU and memory are part of the collector's cost."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and its descendants, each counted while alive."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory, summed over the process and its descendants."""
    total = 0
    for p in tree(pid):
        try:
            match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
        except OSError:
            continue
        total += int(match[1]) if match else 0
    return total / 1024


@contextmanager
def server(
    cmd: list[str],
    env: dict[str, str],
    port: int,
    log: Path,
    cwd: Path = ROOT,
    pass_fds: tuple[int, ...] = (),
) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=out, stderr=out, cwd=cwd, pass_fds=pass_fds
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited early:\n{log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        yield proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def uvicorn(app: str, port: int, *options: str) -> list[str]:
    """The command serving ``app`` (``module:attribute``) alone under uvicorn, quietly."""
    cmd = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    return [*cmd, "--log-level", "warning", "--no-access-log", *options]


def drive(
    port: int, seconds: float, connections: int, rate: float = 0, batch: int = BATCH
) -> dict[str, float]:
    """wrk flat out, or paced at ``rate`` requests/s in all, ``batch`` events a request."""
    pace = {"RATE": f"{rate:.1f}", "CONNS": str(connections)} if rate else {}
    pace["BATCH"] = str(batch)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}/v1/events",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
        env={**os.environ, **pace},
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def measure(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    work: Path,
    seconds: float,
    connections: int,
    rate: float = 0,
    batch: int = BATCH,
) -> Result:
    log = work / f"{name.replace('/', '-')}-{batch}.log"
    with server(cmd, env, port, log) as pid:
        drive(port, 2, connections, rate, batch)  # warm-up, not counted
        load0 = os.getloadavg()[0]
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        stats = drive(port, seconds, connections, rate, batch)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        load1 = os.getloadavg()[0]
        rss = peak_rss_mb(pid)
        acknowledged = accepted_metric(port) if not name.startswith(("bare", "naive")) else 0
    sent = int(stats["batch"])
    return Result(
        name,
        sent,
        stats["ok"] * sent / seconds,
        stats["p50"],
        stats["p99"],
        cpu,
        rss,
        int(stats["ok"]),
        int(stats["refused"]),
        int(stats["failed"] + stats["errors"]),
        acknowledged,
        load=(load0, load1),
    )


def accepted_metric(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    match = re.search(r"^microx_events_accepted_total (\S+)$", text, re.M)
    return int(float(match[1])) if match else 0


def audit_microx(data_dir: Path, acknowledged_events: int) -> str:
    from collector.sink.store import Store

    store = Store(f"chdb://{data_dir / 'clickhouse'}")
    try:
        _, rows = store.query("SELECT count(), uniqExact(event_id) FROM microx.events")
    finally:
        store.close()
    stored, unique = rows[0]
    lost = max(0, acknowledged_events - unique)
    return (
        f"acked {acknowledged_events}, stored {stored}, duplicated {stored - unique}, lost {lost}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="compare microx with the bare stack and a naive baseline"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--batches",
        default=",".join(map(str, BATCHES)),
        help="events per request for the bare/microx pairs, the first also for the rest",
    )
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if shutil.which("wrk") is None:
        print("bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="microx-bench-"))
    py = sys.executable
    results: list[Result] = []

    def run_bare(batch: int) -> Result:
        port = free_port()
        cmd = uvicorn("loadtests.servers.bare:app", port)
        return measure("bare", cmd, {}, port, work, args.seconds, args.connections, 0, batch)

    def run_microx(name: str, connections: int, rate: float = 0, batch: int = BATCH) -> Result:
        port = free_port()
        data_dir = work / f"{name.replace('/', '-')}-{batch}"
        env = {
            "MICROX_PORT": str(port),
            "MICROX_DATA_DIR": str(data_dir),
            "MICROX_LOG_LEVEL": "warning",
            "MICROX_RATE_IP_PER_S": "1e9",
            "MICROX_RATE_IP_BURST": "1e9",
            "MICROX_RATE_SITE_EVENTS_PER_S": "1e9",
            "MICROX_RATE_SITE_BURST": "1e9",
        }
        cmd = [py, "-m", "collector.cli", "serve"]
        result = measure(name, cmd, env, port, work, args.seconds, connections, rate, batch)
        result.audit = audit_microx(data_dir, result.acknowledged_total)
        return result

    pairs: dict[int, tuple[Result, Result]] = {}
    for batch in batches:
        bare = run_bare(batch)
        micro = run_microx("microx", args.connections, batch=batch)
        results += [bare, micro]
        pairs[batch] = (bare, micro)
    micro = pairs[batches[0]][1]
    # The same at half the rate it reached: the latency a sized deployment sees.
    half_rate = micro.events_per_s / micro.batch / 2
    results.append(run_microx("microx/2", args.connections, half_rate, micro.batch))
    # Far more clients than it can serve: it must refuse the excess, not queue it.
    results.append(run_microx("overload", OVERLOAD_CONNECTIONS, batch=micro.batch))

    port = free_port()
    results.append(
        measure(
            "naive",
            [
                py,
                "-m",
                "uvicorn",
                "loadtests.servers.naive:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {"NAIVE_CLICKHOUSE_URL": f"chdb://{work / 'naive'}"},
            port,
            work,
            args.seconds,
            args.connections,
        )
    )

    print(
        f"\n{'target':9} {'ev/req':>6} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU':>5} "
        f"{'µs/event':>8} {'µs/req':>7} {'peak RSS':>9} {'2xx':>7} {'429/503':>8} "
        f"{'failed':>7} {'load':>9}"
    )
    for r in results:
        print(
            f"{r.name:9} {r.batch:6d} {r.events_per_s:10,.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} "
            f"{r.cpu_cores:5.2f} {r.cpu_us_per_event:8.1f} {r.cpu_us_per_event * r.batch:7.0f} "
            f"{r.peak_rss_mb:7.0f}MB {r.ok:7d} {r.refused:8d} {r.failed:7d} "
            f"{r.load[0]:4.1f}-{r.load[1]:<4.1f}"
        )
    naive = results[-1]
    print()
    for batch, (bare, micro_b) in pairs.items():
        ratio = micro_b.events_per_s / bare.events_per_s
        target = TARGET_RATIO.get(batch, 0.3)
        print(f"microx / bare at {batch:2d} events/request = {ratio:.2f}   (target >= {target})")
    print(f"microx / naive = {micro.events_per_s / max(naive.events_per_s, 1):.2f}   (target >= 5)")
    audited = [r for r in results if r.audit]
    for r in audited:
        print(f"{r.name} audit: {r.audit}")
    shutil.rmtree(work, ignore_errors=True)
    clean = all("lost 0" in r.audit and "duplicated 0" in r.audit for r in audited)
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
