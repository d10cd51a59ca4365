"""Beneath the query check, the kernel's: a confined collector reads no file but its own
code and libraries, writes only its spool and store, opens no TCP connection on the
embedded engine, and shows no secret in its environment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import orjson
import pytest

from collector.ops.confine import abi_version, plan
from tests.conftest import ROOT, Collector, listening
from tests.processes import descendants

SECRET_KEY = "mxsk_" + "c0nf1ned" * 5
TOKEN = "confine-query-token-0123456789"

needs_landlock = pytest.mark.skipif(abi_version() < 4, reason="the kernel has no Landlock ABI 4")


# Runs the real engine in a process confined as the collector confines itself, and asks
# it directly (no query check in between) to do what a gap in that check would allow.
_PROBE = textwrap.dedent(
    """
    import sys, orjson
    from pathlib import Path
    from collector.ops import confine as c
    data, url, outside = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    c.use_private_tmp(data)
    note = c.confine(c.plan(data, f"chdb://{data / 'clickhouse'}", [9]))
    from collector.sink.store import Store
    store = Store(f"chdb://{data / 'clickhouse'}")
    store.migrate()
    probes = {
        "passwd": "SELECT file('/etc/passwd')",
        "token": f"SELECT file('{data}/query_token')",
        "url": f"SELECT * FROM url('{url}', CSV, 'a String') SETTINGS http_max_tries = 1",
        "outfile": f"SELECT 'x' INTO OUTFILE '{outside}'",
        "own": "SELECT count() FROM microx.events",
    }
    out = {"note": note}
    for name, sql in probes.items():
        try:
            out[name] = ["ok", str(store.query(sql)[1])]
        except Exception as exc:
            out[name] = ["refused", str(exc)[:300]]
    store.close()
    print(orjson.dumps(out).decode())
    """
)


@needs_landlock
def test_the_confined_engine_reaches_no_file_url_or_outside_path(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    (data / "query_token").write_text("mxq_do-not-read-me\n")
    outside = tmp_path / "written-outside"
    with listening() as internal:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, str(data), internal.url, str(outside)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
    assert probe.returncode == 0, probe.stderr
    result = orjson.loads(probe.stdout.strip().splitlines()[-1])
    assert result["note"].startswith("confined"), result["note"]
    for name in ("passwd", "token", "url", "outfile"):
        assert result[name][0] == "refused", (name, result[name])
    assert "root:" not in probe.stdout and "do-not-read-me" not in probe.stdout
    assert internal.hits == 0 and not outside.exists()
    assert result["own"] == ["ok", "[(0,)]"]


def test_the_collector_keeps_no_secret_in_its_environment(tmp_path: Path) -> None:
    c = Collector(
        tmp_path / "var", MICROX_SERVER_KEYS=f"demo={SECRET_KEY}", MICROX_QUERY_TOKEN=TOKEN
    )
    try:
        # The secrets still work: they live in the settings, not in the environment.
        answer = httpx.post(f"{c.base}/clickhouse/", content="SELECT 1", auth=("a", TOKEN))
        assert answer.status_code == 200, answer.text
        # Any process it starts would inherit its environment as it was at start.
        pids = [c.proc.pid, *(pid for pid, _ in descendants(c.proc.pid))]
        for pid in pids:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert SECRET_KEY.encode() not in environ, pid
            assert TOKEN.encode() not in environ, pid
        log = c.log.read_text()
        if abi_version() >= 4:
            assert "confined (Landlock" in log and "no TCP connections" in log, log
    finally:
        c.stop()


def test_the_collector_may_write_its_spool_sink_record_tmp_and_store_only(tmp_path: Path) -> None:
    data = tmp_path / "var"
    store = tmp_path / "elsewhere" / "clickhouse"
    planned = plan(data, f"chdb://{store}", [9, 10])
    # Its port and the query port; 0 is the engine's probe for IPv6 (an ephemeral port).
    assert sorted(planned.bind_ports) == [0, 9, 10]
    assert set(planned.write) == {
        data / "spool",
        data / "sink",
        data / "tmp",
        store,
        Path("/dev/shm"),
    }
    on_a_server = plan(data, "http://u:p@db.example:8123/", [9])
    assert store not in on_a_server.write and on_a_server.connect_ports == (8123,)
    assert sorted(on_a_server.bind_ports) == [0, 9]
