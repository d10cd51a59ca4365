"""Nothing acknowledged is lost, nothing is stored twice: the real engine, failing on cue."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from collector.app import create_app
from collector.ingest.validate import judge
from collector.ops.metrics import Metrics
from collector.rows.record import Accepted
from collector.rows.rejection import Rejection
from collector.settings import Settings
from collector.sink.batch import Batcher
from collector.sink.intent import FILE as INTENT_FILE
from collector.sink.intent import Intent, IntentFile
from collector.sink.store import Store
from collector.spool.log import CHECKPOINT, Position, Spool, saved_checkpoint
from tests.conftest import make_envelope, make_event, metric, now_ms, open_store, post, wait_for
from tests.faults import Faults, FaultyStore


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"MICROX_DATA_DIR": str(tmp_path), "MICROX_BATCH_MAX_AGE_MS": "50", **env}
    )


def faulty(faults: Faults) -> Callable[[str], Store]:
    return lambda url: FaultyStore(url, faults)


def stored_ids(settings: Settings) -> list[str]:
    with open_store(settings.clickhouse_url) as store:
        return [r[0] for r in store.query("SELECT toString(event_id) FROM microx.events")[1]]


@pytest.fixture
def faults() -> Iterator[Faults]:
    yield Faults()


def test_store_outage_is_ridden_out_and_drained(tmp_path: Path, faults: Faults) -> None:
    settings = settings_for(tmp_path)
    acked: list[str] = []
    with TestClient(create_app(settings, faulty(faults))) as client:
        faults.set("fail")
        for i in range(30):
            envelope = make_envelope(*[make_event(q=j) for j in range(10)])
            r = post(client, envelope)
            assert r.status_code == 202, i
            acked += [e["id"] for e in envelope["e"]]
        wait_for(lambda: metric(client, 'insert_errors_total{table="events"}') >= 2)
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded" and ready.json()["store"] == "down"
        assert metric(client, "spool_bytes") > 0
        faults.set(None)  # the store is back: the backlog drains by itself
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert client.get("/readyz").json()["status"] == "ok"
    ids = stored_ids(settings)
    assert sorted(ids) == sorted(acked)


def test_full_spool_answers_503_with_retry_after(tmp_path: Path, faults: Faults) -> None:
    settings = settings_for(tmp_path, MICROX_SPOOL_MAX_BYTES="20000", MICROX_MAX_BODY_BYTES="8000")
    acked: list[str] = []
    refused = 0
    with TestClient(create_app(settings, faulty(faults))) as client:
        faults.set("fail")
        for _ in range(40):
            envelope = make_envelope(*[make_event(q=j, l="x" * 50) for j in range(10)])
            r = post(client, envelope)
            if r.status_code == 202:
                acked += [e["id"] for e in envelope["e"]]
            else:
                assert r.status_code == 503
                assert r.headers["retry-after"] == "5"
                refused += 1
        assert acked and refused
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "full"
        assert metric(client, 'requests_refused_total{reason="spool_full"}') == refused
        faults.set(None)
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        late = make_envelope(make_event())
        assert post(client, late).status_code == 202
        acked.append(late["e"][0]["id"])
    assert sorted(stored_ids(settings)) == sorted(acked)


def test_lost_insert_response_is_retried_without_double_count(
    tmp_path: Path, faults: Faults
) -> None:
    settings = settings_for(tmp_path)
    envelope = make_envelope(*[make_event(q=j) for j in range(25)])
    with TestClient(create_app(settings, faulty(faults))) as client:
        faults.set("lose_response", times=1)
        assert post(client, envelope).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert metric(client, 'insert_errors_total{table="events"}') == 1
    assert faults.inserts_landed >= 2  # the retry reached ClickHouse and was dropped there
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in envelope["e"])


def test_hanging_store_is_retried(tmp_path: Path, faults: Faults) -> None:
    settings = settings_for(tmp_path)
    envelope = make_envelope(make_event(), make_event(q=1))
    with TestClient(create_app(settings, faulty(faults))) as client:
        faults.set("hang", times=2)
        assert post(client, envelope).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in envelope["e"])


def test_resent_events_are_stored_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = make_envelope(*[make_event(q=j) for j in range(5)])
    resent = {**first, "at": first["at"] + 3000, "e": [{**e, "a": 1} for e in first["e"]]}
    fresh = make_event(q=5, a=1)  # marked resent, but its first send never arrived
    with TestClient(create_app(settings)) as client:
        assert post(client, first).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        resent["e"].append(fresh)
        assert post(client, resent).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert metric(client, "events_duplicate_total") == 5
        # A resend that overtakes its original: the late original is the copy.
        original = make_envelope(make_event(q=0))
        overtaking = {**original, "e": [{**original["e"][0], "a": 1}]}
        assert post(client, overtaking).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert post(client, original).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert metric(client, "events_duplicate_total") == 6
    expected = [e["id"] for e in first["e"]] + [fresh["id"], original["e"][0]["id"]]
    assert sorted(stored_ids(settings)) == sorted(expected)


def test_a_full_batch_is_inserted_without_waiting_for_its_age(tmp_path: Path) -> None:
    """The sink wakes when the spool holds a full batch, and a stop wakes it too: with
    an hour's batch age, neither would happen in the test's time otherwise."""
    settings = settings_for(tmp_path, MICROX_BATCH_MAX_AGE_MS="3600000", MICROX_BATCH_MAX_ROWS="20")
    full = make_envelope(*[make_event(q=j) for j in range(20)])
    rest = make_envelope(*[make_event(q=j) for j in range(5)])
    with TestClient(create_app(settings)) as client:
        assert post(client, full).status_code == 202
        wait_for(lambda: metric(client, 'insert_rows_total{table="events"}') == 20)
        assert post(client, rest).status_code == 202
        assert metric(client, "spool_unread_rows") == 5
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in full["e"] + rest["e"])


def test_copies_within_one_batch_are_stored_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, MICROX_BATCH_MAX_AGE_MS="60000")
    envelope = make_envelope(make_event(), make_event(q=1))
    with TestClient(create_app(settings)) as client:
        assert post(client, envelope).status_code == 202
        assert post(client, envelope).status_code == 202
    # Both copies waited for one insert (at shutdown), which kept the first of each.
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in envelope["e"])


def envelopes(*sizes: int) -> list[dict[str, Any]]:
    return [make_envelope(*[make_event(q=j) for j in range(n)]) for n in sizes]


def run_and_crash(
    settings: Settings,
    faults: Faults,
    until: Callable[[], bool],
    first: dict[str, Any],
    later: dict[str, Any] | None = None,
) -> None:
    """A first run that stores ``first`` (one batch, with one rejected row) through the
    faulty store and, once ``until`` holds, appends ``later`` to the spool and is
    abandoned without its stop: a crash at that moment, as far as the files and the store
    can tell. ``later`` makes the next start's first read differ from the batch in flight,
    so that reading it again under a new token would store it twice."""

    async def append(spool: Spool, envelope: dict[str, Any]) -> None:
        verdict = judge(envelope)
        refused = [Rejection("bad_type", "e[0].d", "not a number", 0, '{"d": "slow"}')]
        record = Accepted(now_ms(), verdict.envelope, verdict.accepted, refused, "")
        await spool.append(record.encode(), record.rows)

    async def first_run() -> None:
        spool = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
        batcher = Batcher(
            settings.clickhouse_url,
            spool,
            directory=settings.data_dir / "sink",
            max_rows=1000,
            max_age_ms=20,
            metrics=Metrics(),
            store_factory=faulty(faults),
        )
        await batcher.start()
        await append(spool, first)
        while not until():
            await asyncio.sleep(0.02)
        if later is not None:
            await append(spool, later)
        await batcher.abandon()
        spool.close()

    asyncio.run(first_run())


def left_to_replay(settings: Settings) -> tuple[Spool, Intent | None]:
    """The spool as the next start finds it, and the batch its sink would replay."""
    spool = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
    spool.open()
    spool.close()
    return spool, IntentFile(settings.data_dir / "sink").open(spool.checkpoint, spool.durable_end)


def stored_once(
    settings: Settings, sent: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> str:
    """Start again and store what is left; each event, and each envelope's rejected row,
    must be stored once. Returns the second run's log."""
    caplog.clear()
    caplog.set_level(logging.INFO, "microx")
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: metric(client, "spool_bytes") == 0)
    assert sorted(stored_ids(settings)) == sorted(e["id"] for env in sent for e in env["e"])
    with open_store(settings.clickhouse_url) as store:
        _, rejected = store.query("SELECT count() FROM microx.rejected_events")
    assert rejected == [(len(sent),)]
    return caplog.text


def test_batch_interrupted_after_insert_is_replayed_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash between the insert and the checkpoint: the next start inserts the same
    batch again under the same token, and ClickHouse keeps one copy."""
    settings = settings_for(tmp_path)
    sent = envelopes(40, 5)
    faults = Faults()
    # Both tables' inserts land; the second's answer never comes back, every time.
    faults.set("lose_response", table="rejected_events")
    run_and_crash(settings, faults, lambda: faults.inserts_landed >= 2, *sent)
    spool, replay = left_to_replay(settings)
    assert replay is not None and replay.start == spool.checkpoint
    assert replay.end < spool.durable_end  # the later record is not part of it
    assert faults.tokens_landed[:2] == [replay.token + "-e", replay.token + "-r"]
    log = stored_once(settings, sent, caplog)
    assert "replaying the batch in flight" in log
    assert "checking a batch against the store" not in log  # the token was enough


def test_batch_interrupted_before_its_insert_is_stored_at_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    sent = envelopes(10, 5)
    faults = Faults()
    faults.set("fail")  # the intent is written, no insert gets through
    run_and_crash(settings, faults, lambda: faults.inserts_attempted >= 2, *sent)
    assert faults.inserts_landed == 0
    spool, replay = left_to_replay(settings)
    assert replay is not None and replay.start == spool.checkpoint
    assert "replaying the batch in flight" in stored_once(settings, sent, caplog)


def test_intent_left_after_the_spool_moved_past_it_is_not_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash after the spool's checkpoint moved, before the next batch: the record of
    the insert names a batch already stored, and nothing is inserted again."""
    settings = settings_for(tmp_path)
    sent = envelopes(10, 5)
    spool_dir = settings.data_dir / "spool"
    moved = lambda: saved_checkpoint(spool_dir) > Position(1, 0)  # noqa: E731
    run_and_crash(settings, Faults(), moved, *sent)
    recorded = orjson.loads((settings.data_dir / "sink" / INTENT_FILE).read_bytes())
    assert Position.parse(recorded["batch"]["end"]) == saved_checkpoint(spool_dir)
    _, replay = left_to_replay(settings)
    assert replay is None
    log = stored_once(settings, sent, caplog)
    assert "replaying" not in log and "checking a batch" not in log


@pytest.mark.parametrize("damage", ["deleted", "truncated", "from_an_older_release"])
def test_lost_intent_after_an_insert_is_made_good_by_looking_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    """The insert landed, the crash came before the spool's checkpoint moved, and the
    sink's record of the insert is gone: the next start cannot know the batch's token, so
    it looks up every unread row and stores only what is not there yet."""
    settings = settings_for(tmp_path)
    sent = envelopes(30, 5)
    faults = Faults()
    faults.set("lose_response", table="rejected_events")
    run_and_crash(settings, faults, lambda: faults.inserts_landed >= 2, *sent)
    record = settings.data_dir / "sink" / INTENT_FILE
    if damage == "truncated":
        record.write_bytes(record.read_bytes()[:12])
    else:
        if damage == "from_an_older_release":
            # Kept in the spool's checkpoint, where nothing reads it now.
            checkpoint = settings.data_dir / "spool" / CHECKPOINT
            saved = orjson.loads(checkpoint.read_bytes())
            saved["intent"] = orjson.loads(record.read_bytes())["batch"]
            checkpoint.write_bytes(orjson.dumps(saved))
        record.unlink()
    log = stored_once(settings, sent, caplog)
    assert "record of the insert in flight is" in log
    assert "30 of 35 events and 1 of 2 rejected rows were stored already" in log


def test_shutdown_with_the_store_down_keeps_the_spool_for_next_start(
    tmp_path: Path, faults: Faults
) -> None:
    settings = settings_for(tmp_path, MICROX_SHUTDOWN_TIMEOUT_S="0.5")
    envelope = make_envelope(*[make_event(q=j) for j in range(12)])
    with TestClient(create_app(settings, faulty(faults))) as client:
        faults.set("fail")
        assert post(client, envelope).status_code == 202
    # Shutdown gave up after its timeout; the events wait in the spool, not lost.
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: metric(client, "spool_bytes") == 0)
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in envelope["e"])


def test_sink_task_restarts_after_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading the spool fails with an I/O error: the draining task says so at once,
    is counted and shown by /readyz, restarts with backoff, and stores everything once
    the disk reads again."""
    settings = settings_for(tmp_path)
    failing = False
    real_read = Spool.read

    def read(self: Spool, max_rows: int, until: Position | None = None) -> Any:
        if failing:
            raise OSError(errno.EIO, "injected: Input/output error")
        return real_read(self, max_rows, until)

    monkeypatch.setattr(Spool, "read", read)
    envelope = make_envelope(*[make_event(q=j) for j in range(15)])
    with TestClient(create_app(settings)) as client:
        failing = True
        assert post(client, envelope).status_code == 202
        wait_for(lambda: metric(client, "sink_restarts_total") >= 2)
        ready = client.get("/readyz").json()
        assert ready["status"] == "degraded" and "Input/output error" in ready["sink_error"]
        crashes = [r for r in caplog.records if "sink stopped on an unexpected error" in r.message]
        assert crashes and crashes[0].exc_info is not None  # with its traceback, at once
        failing = False
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert client.get("/readyz").json()["status"] == "ok"
        later = make_envelope(make_event())
        assert post(client, later).status_code == 202
        wait_for(lambda: metric(client, "spool_bytes") == 0)
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in envelope["e"] + later["e"])


def test_readyz_shows_a_store_that_answers_but_cannot_store(tmp_path: Path, faults: Faults) -> None:
    settings = settings_for(tmp_path)
    envelope = make_envelope(*[make_event(q=j) for j in range(5)])
    with TestClient(create_app(settings, faulty(faults))) as client:
        faults.set("fail_writes")
        assert post(client, envelope).status_code == 202
        wait_for(lambda: metric(client, 'insert_errors_total{table="events"}') >= 1)
        ready = client.get("/readyz").json()
        assert ready["status"] == "degraded" and ready["store"] == "failing", ready
        assert metric(client, "store_up") == 0
        faults.set(None)
        wait_for(lambda: metric(client, "spool_bytes") == 0)
        assert client.get("/readyz").json()["status"] == "ok"
    assert sorted(stored_ids(settings)) == sorted(e["id"] for e in envelope["e"])
