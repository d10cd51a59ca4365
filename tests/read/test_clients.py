"""Analysts' own clients against a running collector, each set up as docs/analysis.md says:
on the collector's port under ``/clickhouse`` and on the query port (``MICROX_QUERY_PORT``)
at ``/``; and the command line finding the collector from its data directory alone."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import httpx
import orjson
import pytest
import sqlalchemy as sa

from collector.ops import listening
from collector.ops.confine import abi_version
from collector.ops.secrets import new_secret
from collector.tools import journeys
from tests.conftest import ROOT, Collector, free_port, post, series, wait_for

VISITORS = 40
NODE_CLIENT = ROOT / "tests" / "clients" / "node"
SERVER_KEY = new_secret()


class Shop:
    """A collector on ports of its own (neither is the default) that has stored a
    generated shop's visits, and what was sent to it."""

    def __init__(self, collector: Collector, total: int) -> None:
        self.collector = collector
        self.query_port = int(collector.env["MICROX_QUERY_PORT"])
        self.token = (collector.data_dir / "query_token").read_text().strip()
        self.total = total

    def ways(self) -> list[tuple[int, str]]:
        """Each way in: the collector's port with its path, the query port without one."""
        return [(self.collector.port, "/clickhouse"), (self.query_port, "")]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    c = Collector(
        tmp_path_factory.mktemp("clients") / "var",
        MICROX_QUERY_PORT=str(free_port()),
        MICROX_SITES=f"shop={journeys.ORIGIN}",
        MICROX_SERVER_KEYS=f"shop={SERVER_KEY}",
        MICROX_RATE_SITE_EVENTS_PER_S="1000000",
    )
    sent = 0
    try:
        with httpx.Client(base_url=c.base, timeout=10) as client:
            for envelope in journeys.envelopes(VISITORS, seed=11):
                envelope["at"] = int(time.time() * 1000)
                answer = post(client, envelope, origin=journeys.ORIGIN)
                assert answer.status_code == 202, answer.text
                sent += len(envelope["e"])
        stored = 'insert_rows_total{table="events"}'
        wait_for(lambda: c.metric(stored) >= sent, 30, why="the events stored")
        yield Shop(c, sent)
    finally:
        c.stop()


def _types_stored(shop: Shop) -> Counter[str]:
    """Events per type as the collector's own endpoint answers (the clients must agree)."""
    lines = shop.collector.sql("SELECT type, count() FROM microx.events GROUP BY type")
    return Counter({t: int(n) for t, n in (line.split("\t") for line in lines.splitlines())})


def test_clickhouse_connect_with_and_without_a_path(shop: Shop) -> None:
    for port, path in shop.ways():
        client = clickhouse_connect.get_client(
            host="127.0.0.1",
            port=port,
            username="analyst",
            password=shop.token,
            proxy_path=path,
        )
        try:
            assert client.command("SELECT count() FROM microx.events") == shop.total
            rows = client.query(
                "SELECT type, count() FROM events WHERE site = {s:String} GROUP BY type",
                parameters={"s": "shop"},
            ).result_rows
            assert {str(t): int(n) for t, n in rows} == _types_stored(shop), port
            with pytest.raises(Exception, match="READONLY"):
                client.command("INSERT INTO microx.events (site) VALUES ('x')")
            with pytest.raises(Exception, match="table function file"):
                client.query("SELECT * FROM file('/etc/passwd', 'LineAsString')")
        finally:
            client.close()
    assert shop.collector.sql("SELECT count() FROM microx.events") == str(shop.total)


def test_sqlalchemy_as_superset_connects(shop: Shop) -> None:
    urls = [
        f"clickhousedb://analyst:{shop.token}@127.0.0.1:{shop.collector.port}/microx"
        "?proxy_path=/clickhouse",
        f"clickhousedb://analyst:{shop.token}@127.0.0.1:{shop.query_port}/microx",
    ]
    for url in urls:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                count = connection.execute(sa.text("SELECT count() FROM events")).scalar()
                assert count == shop.total, url
                # What Superset lists when a database is added: tables and their columns.
                inspector = sa.inspect(connection)
                assert {"events", "rejected_events"} <= set(inspector.get_table_names())
                columns = {c["name"] for c in inspector.get_columns("events")}
                assert {"site", "type", "event_time", "session_id"} <= columns
                with pytest.raises(sa.exc.DatabaseError, match="READONLY"):
                    connection.execute(sa.text("DROP TABLE microx.events"))
        finally:
            engine.dispose()


def test_the_official_node_client_with_and_without_a_path(shop: Shop) -> None:
    if not (NODE_CLIENT / "node_modules" / "@clickhouse" / "client").is_dir():
        pytest.fail(f"{NODE_CLIENT}/node_modules is missing: `make test` installs it (npm ci)")
    for port, path in shop.ways():
        run = subprocess.run(
            ["node", "query.mjs", f"http://127.0.0.1:{port}", path, shop.token],
            cwd=NODE_CLIENT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        got = orjson.loads(run.stdout.strip().splitlines()[-1])
        assert got["ping"] is True
        assert got["count"] == shop.total
        assert Counter(got["types"]) == _types_stored(shop)
        assert got["doubled"] == 42
        for write in ("insert", "drop"):
            assert got[write]["refused"] and got[write]["type"] == "READONLY", got[write]
            assert got[write]["code"] == "164"
        assert got["file"]["refused"] and got["file"]["type"] == "ACCESS_DENIED", got["file"]


def _curl(*args: str) -> tuple[str, str]:
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True
    )
    body, _, status = done.stdout.rpartition("\n")
    return body.strip(), status


def test_curl_on_the_query_port_and_nothing_else_served_there(shop: Shop) -> None:
    base = f"http://127.0.0.1:{shop.query_port}"
    auth = f"analyst:{shop.token}"
    counted = _curl("-u", auth, "--data-binary", "SELECT count() FROM microx.events", f"{base}/")
    assert counted == (str(shop.total), "200")
    body, status = _curl("-u", auth, "-G", "--data-urlencode", "query=SELECT 6 * 7", f"{base}/")
    assert (body, status) == ("42", "200")
    assert _curl(f"{base}/ping") == ("Ok.", "200")
    assert _curl(f"{base}/") == ("Ok.", "200")  # the bare root, as ClickHouse answers it
    body, status = _curl("-u", auth, "--data-binary", "TRUNCATE TABLE microx.events", base)
    assert status == "403" and "Code: 164" in body
    assert _curl("--data-binary", "SELECT 1", f"{base}/")[1] == "401"
    for path in ("/clickhouse/", "/report", "/metrics", "/sdk.js", "/healthz", "/demo/shop.js"):
        assert _curl("-u", auth, f"{base}{path}")[1] == "404", path
    envelope = journeys.retimed(next(journeys.envelopes(1, seed=3)), int(time.time() * 1000))
    with httpx.Client(base_url=base, timeout=10) as client:
        assert post(client, envelope, origin=journeys.ORIGIN).status_code == 404
        assert post(client, envelope, path="/v1/server-events").status_code == 404
    # The collector's own port still serves all of it.
    assert _curl(f"{shop.collector.base}/healthz")[1] == "200"
    if abi_version() >= 4:
        ports = f"listening only on port(s) {shop.collector.port}, {shop.query_port}"
        assert ports in shop.collector.log.read_text()


def _microx(
    data_dir: Path, *args: str, cwd: Path = ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command as an analyst runs it on the collector's machine: told only the data
    directory (no MICROX_PORT, no token)."""
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env={"PATH": "/usr/bin:/bin", "MICROX_DATA_DIR": str(data_dir), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_finds_the_collector_from_its_data_directory(
    shop: Shop, tmp_path: Path
) -> None:
    c = shop.collector
    at = listening.recorded(c.data_dir)
    assert at is not None and at.pid == c.proc.pid
    assert (at.port, at.query_port) == (c.port, shop.query_port)
    answer = _microx(c.data_dir, "sql", "SELECT count() AS n FROM microx.events", "--format", "tsv")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split() == ["n", str(shop.total)]
    # Without --out, under reports/ of the directory it runs in, and nowhere else there.
    report = _microx(c.data_dir, "report", "--site", "shop", "--since", "30d", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    (written,) = tmp_path.iterdir()
    assert written.name == "reports"
    (html,) = written.glob("microx-report-shop-*.html")
    assert html.stat().st_size > 1_000_000  # the whole report, plotly.js inside
    assert f"report written to {html.relative_to(tmp_path)}" in report.stdout
    exported = c.metric('visitor_requests_total{request="export"}')
    out = _microx(
        c.data_dir,
        "export",
        "--site",
        "shop",
        "--visitor",
        str(uuid.uuid4()),
        MICROX_SERVER_KEYS=f"shop={SERVER_KEY}",
    )
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout.splitlines()[-1])["summary"]["events"] == 0
    assert c.metric('visitor_requests_total{request="export"}') == exported + 1


def _record(data: Path, port: int, pid: int) -> None:
    (data / listening.RECORD_FILE).write_bytes(
        orjson.dumps({"host": "127.0.0.1", "port": port, "query_port": 0, "pid": pid})
    )


def test_a_stale_record_does_not_mislead(shop: Shop, tmp_path: Path) -> None:
    """Records left by a collector that is gone, naming a port where another collector now
    answers with the same token: the command opens its own directory's store instead."""
    data = tmp_path / "var"
    data.mkdir()
    shutil.copy(shop.collector.data_dir / "query_token", data / "query_token")
    gone = subprocess.Popen(["true"])
    gone.wait()
    # Its process id given to another program since.
    other = subprocess.Popen(["sleep", "60"])
    try:
        for pid in (gone.pid, other.pid):
            _record(data, shop.collector.port, pid)
            answer = _microx(data, "sql", "SELECT count() FROM microx.events", "--format", "tsv")
            assert answer.returncode == 0, answer.stderr
            assert answer.stdout.split()[-1] == "0", pid
    finally:
        other.kill()
        other.wait()
    assert (data / "clickhouse").is_dir()  # its own store, opened here


def test_a_collector_that_runs_but_does_not_answer_is_said_so(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "serve"])
    try:
        _record(data, free_port(), silent.pid)
        answer = _microx(data, "sql", "SELECT 1")
    finally:
        silent.kill()
        silent.wait()
    assert answer.returncode == 2
    assert f"(process {silent.pid}) runs but does not answer" in answer.stderr
    assert not (data / "clickhouse").exists()  # the store it holds is left alone


def test_both_ports_share_one_bound_on_connections(tmp_path: Path) -> None:
    c = Collector(tmp_path / "var", MICROX_QUERY_PORT=str(free_port()), MICROX_MAX_CONNECTIONS="2")
    query_port = int(c.env["MICROX_QUERY_PORT"])
    evicted = 'connections_closed_total{reason="evicted"}'
    before = c.metric(evicted)
    idle = [socket.create_connection(("127.0.0.1", query_port)) for _ in range(2)]
    try:
        time.sleep(0.5)  # both accepted before the next one comes
        # A third connection, on the other port, makes room by closing the longest idle.
        metrics = httpx.get(f"{c.base}/metrics", timeout=5).text
        assert series(metrics, evicted) == before + 1
        assert series(metrics, "connections_max") == 2
        idle[0].settimeout(5)
        assert idle[0].recv(1) == b""  # closed by the collector
    finally:
        for s in idle:
            s.close()
        c.stop()


def test_a_query_port_taken_stops_the_start_with_the_variable_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = _microx(
            tmp_path / "var",
            "serve",
            MICROX_PORT=str(free_port()),
            MICROX_QUERY_PORT=str(port),
            MICROX_CONFINE="false",
        )
    assert start.returncode == 2, start.stderr
    assert f"cannot listen on 127.0.0.1:{port} (MICROX_QUERY_PORT)" in start.stderr
