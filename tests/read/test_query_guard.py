"""An analyst with the token is still a stranger: ``/clickhouse/`` reads ``microx`` and a few
catalogue tables, nothing else — no files, no URLs, no other servers, no writes — and each
query is held to the engine's limits of time, memory, result size and concurrency."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from collector.read.query import memory_limit_bytes
from collector.tools import journeys
from tests.conftest import ROOT, Collector, Listener, listening, post, wait_for

TOKEN = "guard-query-token-0123456789"
SECRET_KEY = "mxsk_" + "s3cr3t" * 6
SERVER_KEYS = f"demo={SECRET_KEY}"


@pytest.fixture(scope="module")
def internal() -> Iterator[Listener]:
    """A server the collector can reach and an analyst must not make it fetch."""
    with listening() as listener:
        yield listener


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(
        tmp_path_factory.mktemp("guard"),
        MICROX_QUERY_TOKEN=TOKEN,
        MICROX_SERVER_KEYS=SERVER_KEYS,
        MICROX_QUERY_TIMEOUT_S="3",
        MICROX_QUERY_MAX_MEMORY_BYTES=str(256 << 20),
        MICROX_QUERY_MAX_RESULT_ROWS="50000",
        MICROX_QUERY_MAX_RESULT_BYTES="2000000",
        MICROX_QUERY_CONCURRENCY="2",
        MICROX_QUERY_QUEUE="1",
    )
    try:
        yield c
    finally:
        c.stop()


def _post(c: Collector, sql: str, **params: str) -> httpx.Response:
    return httpx.post(
        f"{c.base}/clickhouse/", params=params, content=sql, auth=("a", TOKEN), timeout=30
    )


HOSTILE = [
    ("SELECT file('/etc/passwd')", "file()"),
    ("SELECT extract(file('/proc/self/environ'), 'mxsk_[a-z0-9]+')", "file()"),
    ("SELECT FILE('/proc/self/environ')", "FILE()"),
    ("SELECT length(file('{data}/query_token'))", "file()"),
    ("SELECT count() FROM file('/etc/passwd', LineAsString)", "table function file()"),
    ("WITH (SELECT file('/etc/passwd')) AS x SELECT x", "file()"),
    ("SELECT 1 WHERE 'x' IN (SELECT file('/etc/passwd'))", "file()"),
    ("EXPLAIN SYNTAX SELECT file('/etc/passwd')", "file()"),
    ("SELECT 'x' INTO OUTFILE '{data}/outfile'", "INTO OUTFILE"),
    ("SELECT 'x' INTO OUTFILE '{data}/spool/checkpoint' TRUNCATE", "INTO OUTFILE"),
    ("SELECT 'x' INTO OUTFILE '{data}/outfile' APPEND FORMAT CSV", "INTO OUTFILE"),
    ("DESCRIBE TABLE url('{url}', CSV)", "DESCRIBE"),
    ("DESCRIBE TABLE s3('{url}', CSV)", "DESCRIBE"),
    ("DESCRIBE (SELECT * FROM url('{url}', CSV, 'a String'))", "DESCRIBE"),
    ("SELECT * FROM url('{url}', CSV, 'a String')", "table function url()"),
    (
        "SELECT * FROM microx.events WHERE site IN (SELECT a FROM url('{url}', CSV, 'a String'))",
        "table function url()",
    ),
    ("SELECT * FROM remote('127.0.0.1', system.one)", "table function remote()"),
    ("SELECT * FROM numbers(10)", "table function numbers()"),
    ("KILL QUERY WHERE 1", "KILL QUERY"),
    ("SHOW PROCESSLIST", "SHOW PROCESSLIST"),
    ("SELECT query FROM system.processes", "system.processes"),
    ("SELECT query FROM system.query_log", "system.query_log"),
    ("SELECT 1 WHERE 'x' IN system.query_log", "system.query_log"),
    ("SELECT * FROM {{t:Identifier}}", "query parameter"),
    ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
    ("SELECT getServerSetting('path')", "getServerSetting()"),
    ("SELECT hostName()", "hostName()"),
    ("SELECT sleep(3)", "sleep()"),
    ("SELECT 1 FORMAT Template", "Template"),
    ("SELECT * APPLY(file) FROM (SELECT '/proc/self/environ' AS p)", "file()"),
    ("SELECT COLUMNS('p') APPLY(file) FROM (SELECT '{data}/query_token' AS p)", "file()"),
    ("SELECT * APPLY(sleepEachRow) FROM (SELECT 1 AS p)", "sleepEachRow()"),
    ("SHOW TABLES FROM system WHERE throwIf(1, file('/proc/self/environ'))", "file()"),
    ("SHOW TABLES LIMIT length(file('/etc/hostname'))", "file()"),
    (
        "SHOW COLUMNS FROM microx.events"
        " WHERE throwIf(1, (SELECT groupArray(query)::String FROM system.processes))",
        "system.processes",
    ),
    ("SELECT editDistance(label, 'x') FROM microx.events", "editDistance()"),
    ("SELECT length(randomPrintableASCII(1000000000))", "randomPrintableASCII()"),
]


@pytest.mark.parametrize(("sql", "named"), HOSTILE)
def test_what_reaches_outside_microx_is_refused_and_named(
    running: Collector, internal: Listener, sql: str, named: str
) -> None:
    before = internal.hits
    answer = _post(running, sql.format(data=running.data_dir, url=internal.url))
    assert answer.status_code == 403, answer.text
    assert named in answer.text and "Code: " in answer.text
    assert answer.headers["x-clickhouse-exception-code"] in ("497", "164")
    assert SECRET_KEY not in answer.text and "root:" not in answer.text
    assert internal.hits == before, "the collector fetched a URL for an analyst"
    assert not (running.data_dir / "outfile").exists()
    assert httpx.get(f"{running.base}/readyz").status_code == 200


@pytest.mark.parametrize(
    "injected",
    [
        ", file('/proc/self/environ')",
        "UNION ALL SELECT query FROM system.processes",
        "; SELECT 2",
        "INTO OUTFILE '{data}/outfile'",
    ],
)
def test_parameters_never_rewrite_the_checked_text(running: Collector, injected: str) -> None:
    """A ``%(x)s`` is text to the parser; a driver that filled it in client-side would
    run whatever ``param_x`` holds, past the check."""
    value = injected.format(data=running.data_dir)
    for sql in ("SELECT 1 %(x)s", "SELECT {a:String}, 1 %(x)s"):
        answer = _post(running, sql, param_x=value, param_a="a")
        assert answer.status_code != 200, (sql, answer.text)
        assert "MICROX_" not in answer.text and "SELECT query" not in answer.text
    assert not (running.data_dir / "outfile").exists()
    # A % in a query with unused parameters is still a %.
    like = _post(running, "SELECT 'demo' LIKE 'de%', 10 % 3", param_unused="x")
    assert like.status_code == 200 and like.text.split() == ["1", "1"], like.text


def test_one_huge_row_is_held_to_the_result_size(running: Collector) -> None:
    huge = "arrayStringConcat(arrayMap(x -> 'abcdefghij', range(300000)))"
    answer = _post(running, f"SELECT {huge}")
    assert answer.headers["x-clickhouse-exception-code"] == "396", answer.text[:200]
    assert len(answer.content) < 10_000
    assert _post(running, f"SELECT length({huge})").text.strip() == "3000000"


def test_writes_and_session_changes_are_refused_as_read_only(running: Collector) -> None:
    for sql in (
        "INSERT INTO microx.events (site) VALUES ('x')",
        "DROP TABLE microx.events",
        "SET readonly = 0",
        "OPTIMIZE TABLE microx.events",
        "USE system",
    ):
        answer = _post(running, sql)
        assert answer.status_code == 403 and "READONLY" in answer.text, (sql, answer.text)
    other = _post(running, "SELECT 1", database="system")
    assert other.status_code == 403 and "microx" in other.text
    assert running.metric('queries_total{outcome="forbidden"}') >= len(HOSTILE)


ACCEPTED = [
    "SELECT count() FROM microx.events",
    "SELECT count() FROM events",
    "WITH t AS (SELECT site FROM microx.events) SELECT count() FROM t",
    "SELECT type, count() AS n FROM microx.events GROUP BY type ORDER BY n DESC FORMAT JSON",
    "SELECT quantileIf(0.75)(duration_ms, type = 'click'), uniqExact(session_id),"
    " countIf(type = 'click'), avgOrNull(duration_ms), argMax(type, event_time),"
    " groupArray(3)(type), topK(2)(type), sumMap([1], [1]) FROM microx.events",
    "SELECT CASE WHEN 1 THEN 2 END, CASE type WHEN 'a' THEN 1 ELSE 2 END, CAST(1 AS String),"
    " 1::UInt8, INTERVAL 1 DAY, EXTRACT(YEAR FROM now()), arrayMap(x -> x + 1, [1]), [1][1],"
    " (1, 2).1, count(DISTINCT type) OVER (), row_number() OVER (ORDER BY event_time),"
    " type NOT IN (SELECT 'x'), EXISTS (SELECT 1), -1, 1 ? 1 : 2, coalesce(NULL, 1),"
    " type ILIKE 'C%', formatDateTime(now(), '%F'), toTypeName(1), version()"
    " FROM microx.events LIMIT 1",
    "SELECT uniqMerge(s) FROM (SELECT uniqState(1) AS s)",
    "SELECT 1 UNION ALL SELECT 2",
    "SHOW TABLES",
    "SHOW TABLES FROM microx",
    "SHOW DATABASES",
    "SHOW COLUMNS FROM microx.events",
    "SHOW CREATE TABLE microx.events",
    "EXISTS TABLE microx.events",
    "DESCRIBE TABLE microx.events",
    "DESC events FORMAT JSON",
    "EXPLAIN SELECT count() FROM microx.events",
    "SELECT name FROM system.tables WHERE database = 'microx'",
    "SELECT name, type FROM system.columns WHERE table = 'events'",
    "SELECT number FROM system.numbers LIMIT 3",
    "SELECT table_name FROM information_schema.tables",
    "SELECT * FROM INFORMATION_SCHEMA.TABLES",
    "SHOW CREATE VIEW microx.friction_by_moment",
    "SELECT 1 FORMAT PrettyCompactNoEscapes",
    "SELECT 1 FORMAT JSONCompactStringsEachRowWithNames",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_what_an_analyst_needs_still_runs(running: Collector, sql: str) -> None:
    answer = _post(running, sql)
    assert answer.status_code == 200, answer.text


def test_the_engine_holds_each_query_to_its_limits(running: Collector) -> None:
    # Unbounded memory: stopped by the engine, not by the kernel's OOM killer.
    memory = _post(running, "SELECT length(groupArray(number)) FROM system.numbers")
    assert memory.headers["x-clickhouse-exception-code"] == "241", memory.text
    rows = _post(running, "SELECT number FROM system.numbers LIMIT 60000")
    assert rows.headers["x-clickhouse-exception-code"] == "396", rows.text
    endless = _post(running, "SELECT count() FROM system.numbers")
    assert endless.headers["x-clickhouse-exception-code"] == "159", endless.text
    assert httpx.get(f"{running.base}/healthz").status_code == 200
    assert _post(running, "SELECT 40 + 2").text.strip() == "42"


def test_one_heavy_query_does_not_hold_up_the_others_and_the_queue_is_bounded(
    running: Collector,
) -> None:
    heavy = "SELECT count() FROM system.numbers"  # runs until the 3 s limit stops it
    finished: list[str] = []

    def run(sql: str, tag: str) -> httpx.Response:
        answer = _post(running, sql)
        finished.append(tag)
        return answer

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(run, heavy, "heavy")
        time.sleep(0.5)
        light = pool.submit(run, "SELECT 1", "light").result()
        assert light.status_code == 200
        assert finished == ["light"], "a light query waited for a heavy one"
        first.result()
    # Two heavy ones fill both slots, one waits in the queue of one; the next is told to
    # come back later instead of piling up.
    with ThreadPoolExecutor(4) as pool:
        held = [pool.submit(_post, running, heavy) for _ in range(3)]
        time.sleep(0.5)
        busy = _post(running, "SELECT 1")
        assert busy.status_code == 429 and busy.headers["retry-after"], busy.text
        for f in held:
            assert f.result().headers["x-clickhouse-exception-code"] == "159"
    assert running.metric('queries_total{outcome="busy"}') >= 1
    assert _post(running, "SELECT 1").status_code == 200


def test_string_parameters_with_quotes_and_backslashes(running: Collector) -> None:
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=running.port, proxy_path="/clickhouse", password=TOKEN
    )
    try:
        values = {"s": "customer's details", "b": "back\\slash\ttab", "a": ["it's", "a\\b", "'"]}
        (row,) = client.query(
            "SELECT {s:String}, {b:String}, {a:Array(String)}", parameters=values
        ).result_rows
        assert list(row) == [values["s"], values["b"], values["a"]]
    finally:
        client.close()


def test_the_report_runs_through_the_collector_with_a_quoted_step(
    running: Collector, tmp_path: Path
) -> None:
    # The shop's own journeys, with a checkout step whose name has a quote and a backslash.
    sent = 0
    with httpx.Client(base_url=running.base, timeout=10) as client:
        for envelope in journeys.envelopes(40, seed=11):
            envelope["at"] = int(time.time() * 1000)
            envelope["s"] = "demo"
            for event in envelope["e"]:
                if event["t"] == "step" and event.get("tg") == "address":
                    event["tg"] = "customer's \\details"
            answer = post(client, envelope, origin=running.base)
            assert answer.status_code == 202, answer.text
            sent += answer.json()["accepted"]
    demo = "SELECT count() FROM microx.events WHERE site = 'demo'"
    wait_for(lambda: _post(running, demo).text == f"{sent}\n", 30, why="the events stored")
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "report",
            "--site",
            "demo",
            "--since",
            "30d",
            "--out",
            str(tmp_path / "r.html"),
        ],
        env={**running.env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    assert "customer's \\details" in report.stdout


def test_wrong_tokens_are_throttled_per_client(tmp_path: Path) -> None:
    c = Collector(tmp_path / "var", MICROX_QUERY_TOKEN=TOKEN)
    try:
        url = f"{c.base}/clickhouse/"
        statuses = [
            httpx.post(url, content="SELECT 1", auth=("a", f"guess-{i:04d}-xxxxxxxxxx")).status_code
            for i in range(8)
        ]
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3, statuses
        # While throttled even the right token waits: a guess that happens to be right
        # must not be told so.
        held = httpx.post(url, content="SELECT 1", auth=("a", TOKEN))
        assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
        assert httpx.get(f"{c.base}/report", auth=("a", "wrong")).status_code == 429
        assert c.metric('queries_total{outcome="throttled"}') >= 4
        assert c.metric('queries_total{outcome="refused"}') == 5
    finally:
        c.stop()


def test_the_memory_limit_follows_the_cgroup(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       25165824 kB\nMemFree: 1 kB\n")
    root = tmp_path / "cgroup"
    v1 = root / "memory" / "jobs" / "collector"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{3 << 30}\n")
    v2 = root / "svc"
    v2.mkdir(parents=True)
    (v2 / "memory.max").write_text("max\n")
    groups = tmp_path / "self_cgroup"
    groups.write_text("4:memory:/jobs/collector\n1:cpu:/\n0::/svc\n")
    assert memory_limit_bytes(meminfo, groups, root) == 3 << 30
    groups.write_text("0::/svc\n")
    assert memory_limit_bytes(meminfo, groups, root) == 25165824 * 1024
    (v2 / "memory.max").write_text(f"{2 << 30}\n")
    assert memory_limit_bytes(meminfo, groups, root) == 2 << 30
    assert memory_limit_bytes(tmp_path / "none", tmp_path / "none", root) == 0


def test_a_running_query_does_not_hold_up_shutdown(
    tmp_path: Path,
) -> None:
    slow = "SELECT count() FROM system.numbers"  # runs until the engine's 60 s limit
    c = Collector(
        tmp_path / "var",
        MICROX_QUERY_TOKEN=TOKEN,
        MICROX_QUERY_TIMEOUT_S="60",
        MICROX_SHUTDOWN_TIMEOUT_S="5",
    )
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_post, c, slow)
        time.sleep(2)  # the query is in the engine for a minute yet
        code = c.stop(timeout=30)
        assert code in (0, -signal.SIGTERM), f"shutdown hung on a running query ({code})"
        assert "pending rows flushed" in c.log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            pending.result()
