"""Where a running collector listens, kept in its data directory for the command line.

``microx serve`` writes ``listening.json`` (host, port, query port, process id) before it
confines itself: once confined it may write only its spool, sink record, store and
``tmp/``, not the data directory's top, so it cannot remove the record when it stops. A
record therefore outlives its collector (a stop, a crash, ``kill -9``), and a reader
trusts it only while that process runs and the port answers.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import orjson

RECORD_FILE = "listening.json"
# A collector listening on every address is reached on the loopback one.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclasses.dataclass(frozen=True)
class Listening:
    host: str
    port: int
    query_port: int  # 0: none
    pid: int

    @property
    def reachable_host(self) -> str:
        return _WILDCARDS.get(self.host, self.host)

    def url(self, port: int | None = None) -> str:
        host = self.reachable_host
        return f"http://{f'[{host}]' if ':' in host else host}:{port or self.port}"

    def process_runs(self) -> bool:
        """Whether the recorded process still runs ``serve`` (not a later process that was
        given the same id)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: it runs
        try:
            arguments = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # no /proc to ask: the id is all there is
        return b"serve" in arguments


def record(data_dir: Path, host: str, port: int, query_port: int) -> Listening:
    """Write this process's record (atomically: a reader never sees half of one)."""
    listening = Listening(host, port, query_port, os.getpid())
    path = data_dir / RECORD_FILE
    partial = path.with_name(f".{RECORD_FILE}.{listening.pid}")
    partial.write_bytes(orjson.dumps(dataclasses.asdict(listening), option=orjson.OPT_INDENT_2))
    os.replace(partial, path)
    return listening


def recorded(data_dir: Path) -> Listening | None:
    """The last record written in ``data_dir``; ``None`` when there is none, or it is not
    one (a reader then looks where the settings say)."""
    try:
        fields = orjson.loads((data_dir / RECORD_FILE).read_bytes())
        return Listening(
            str(fields["host"]), int(fields["port"]), int(fields["query_port"]), int(fields["pid"])
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
