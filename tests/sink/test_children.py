"""The collector's helper processes (the worker that builds insert blocks, and
multiprocessing's resource tracker) end when the collector is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, Collector
from tests.processes import alive, descendants, stat

EXIT_LIMIT_S = 30.0


def command(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    return "?"


def test_killed_collector_leaves_no_process_behind(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "var")
    children = descendants(collector.proc.pid)
    commands = {pid: command(pid) for pid, _ in children}
    # The block builder is started before the collector reports ready.
    assert any("spawn_main" in c for c in commands.values()), commands
    collector.proc.kill()
    collector.proc.wait()
    deadline = time.monotonic() + EXIT_LIMIT_S
    left = {p for p in children if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if alive(p)}
    try:
        assert not left, [commands[pid] for pid, _ in left]
    finally:
        for pid, _ in left:  # leave the machine as it was, even when failing
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# A process whose child watches it with the fallback alone (no prctl): the child prints
# its id once watching (the parent lets go of the pipe, so a child that fails closes it),
# and both wait to be killed.
WATCHED = """
import os, sys, threading, time
from collector.sink import blocks
if os.fork() == 0:
    threading.Thread(target=blocks.watch_parent, args=(os.getppid(),)).start()
    print(os.getpid(), flush=True)
else:
    os.close(sys.stdout.fileno())
time.sleep(600)
"""


def test_worker_without_prctl_still_ends_with_its_parent() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WATCHED], stdout=subprocess.PIPE, text=True, cwd=ROOT
    ) as parent:
        try:
            assert parent.stdout is not None
            line = parent.stdout.readline()
            assert line, "the child did not start watching its parent"
            pid = int(line)
            found = stat(pid)
            assert found is not None and found[1] == parent.pid
        finally:
            parent.kill()
    child = (pid, found[2])
    deadline = time.monotonic() + EXIT_LIMIT_S
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not alive(child)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
