"""A well-behaved client's latency while others abuse the collector's connections.

    .venv/bin/python -m loadtests.edge_abuse --attack header --header-mib 150
    .venv/bin/python -m loadtests.edge_abuse --attack idle --sockets 2000 --nofile 1024

Starts ``microx serve`` on loopback (optionally with a low descriptor limit), measures one
client posting a small batch every 20 ms on its own, then again while the attack runs:

- ``header``: connections each sending one request whose header grows to ``--header-mib``;
- ``idle``: ``--sockets`` connections that send nothing, half of them a started header.

Prints median, p99 and max latency, failed requests, and what the attackers got. It
measures; it asserts nothing. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36"
PACE_S = 0.02
CHUNK = b"a" * (256 * 1024)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def collector(port: int, nofile: int) -> Iterator[subprocess.Popen[bytes]]:
    data = Path(tempfile.mkdtemp(prefix="microx-edge-"))
    env = {
        **os.environ,
        "MICROX_PORT": str(port),
        "MICROX_DATA_DIR": str(data),
        "MICROX_RATE_IP_PER_S": "1000000",
        "MICROX_RATE_IP_BURST": "1000000",
    }

    def limit() -> None:
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with (data / "collector.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve"],
            env=env,
            stdout=log,
            stderr=log,
            cwd=ROOT,
            preexec_fn=limit,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"  (collector log: {data / 'collector.log'})")


def batch() -> bytes:
    now = int(time.time() * 1000)
    event = {"id": str(uuid.uuid4()), "t": "click", "ts": now, "q": 0}
    envelope = {"v": 1, "s": "demo", "sid": str(uuid.uuid4()), "at": now, "u": "http://x/"}
    return orjson.dumps({**envelope, "e": [event]})


def well_behaved(port: int, seconds: float) -> tuple[list[float], int]:
    """Latencies of posts on fresh connections, as independent browsers make them."""
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/events",
                content=batch(),
                headers={"content-type": "text/plain", "user-agent": BROWSER_UA},
                timeout=60,
            )
            ok = r.status_code == 202
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - started)
        failed += not ok
        time.sleep(PACE_S)
    return latencies, failed


def header_attacker(port: int, mib: int, stop: threading.Event, outcomes: list[str]) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Pad: ")
                sent = 0
                while sent < mib * 1024 * 1024 and not stop.is_set():
                    s.sendall(CHUNK)
                    sent += len(CHUNK)
                s.sendall(b"\r\nContent-Length: 0\r\n\r\n")
                outcomes.append(s.recv(64).split(b"\r\n")[0].decode() or "closed")
        except OSError as exc:
            outcomes.append(f"closed after send ({type(exc).__name__})")


def idle_attacker(port: int, sockets: int, held: list[socket.socket], outcomes: list[str]) -> None:
    for i in range(sockets):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError as exc:
            outcomes.append(f"connect failed ({type(exc).__name__})")
            continue
        if i % 2:
            s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        held.append(s)


def closed_by_server(held: list[socket.socket]) -> int:
    closed = 0
    for s in held:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def report(name: str, latencies: list[float], failed: int) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"  {name:<14} requests {len(ms):>5}  failed {failed:>4}  "
        f"median {statistics.median(ms):8.1f} ms  p99 {p99:8.1f} ms  max {ms[-1]:8.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", choices=["header", "idle"], default="header")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--header-mib", type=int, default=150)
    parser.add_argument("--attackers", type=int, default=2)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--nofile", type=int, default=0, help="collector's RLIMIT_NOFILE")
    args = parser.parse_args()
    port = free_port()
    with collector(port, args.nofile):
        report("alone", *well_behaved(port, args.seconds))
        stop = threading.Event()
        outcomes: list[str] = []
        held: list[socket.socket] = []
        if args.attack == "header":
            threads = [
                threading.Thread(
                    target=header_attacker, args=(port, args.header_mib, stop, outcomes)
                )
                for _ in range(args.attackers)
            ]
        else:
            threads = [
                threading.Thread(target=idle_attacker, args=(port, args.sockets, held, outcomes))
            ]
        for t in threads:
            t.start()
        time.sleep(0.5)
        report("under attack", *well_behaved(port, args.seconds))
        stop.set()
        for t in threads:
            t.join(120)
        if held:
            print(
                f"  idle sockets: {len(held)} opened, {closed_by_server(held)} closed by the server"
            )
            for s in held:
                s.close()
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o] = counts.get(o, 0) + 1
        print(f"  attackers got: {counts or 'nothing yet'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
