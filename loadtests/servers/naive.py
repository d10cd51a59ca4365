"""What a team writes in an afternoon: FastAPI, a pydantic model, one synchronous insert
through clickhouse-connect per request. The baseline microx is measured against."""

from __future__ import annotations

import datetime as dt
import os
import threading

import clickhouse_connect
from fastapi import FastAPI
from pydantic import BaseModel

client = clickhouse_connect.get_client(dsn=os.environ["NAIVE_CLICKHOUSE_URL"])
client.command("CREATE DATABASE IF NOT EXISTS naive")
client.command(
    "CREATE TABLE IF NOT EXISTS naive.events (site String, session_id String, event_id String,"
    " type String, target String, label String, ts DateTime64(3, 'UTC'),"
    " props Map(String, String)) ENGINE = MergeTree ORDER BY (site, ts)"
)
lock = threading.Lock()  # the client is not thread-safe; FastAPI runs sync handlers in threads
app = FastAPI()


class Event(BaseModel):
    id: str
    t: str
    ts: int
    q: int
    tg: str = ""
    l: str = ""  # noqa: E741 - the wire key
    p: dict[str, str | int | float | bool] = {}


class Envelope(BaseModel):
    v: int
    s: str
    sid: str
    at: int
    u: str
    e: list[Event]


@app.post("/v1/events", status_code=202)
def ingest(envelope: Envelope) -> dict[str, int]:
    rows = [
        [
            envelope.s,
            envelope.sid,
            e.id,
            e.t,
            e.tg,
            e.l,
            dt.datetime.fromtimestamp(e.ts / 1000, dt.UTC),
            {k: str(v) for k, v in e.p.items()},
        ]
        for e in envelope.e
    ]
    with lock:
        client.insert(
            "naive.events",
            rows,
            column_names=[
                "site",
                "session_id",
                "event_id",
                "type",
                "target",
                "label",
                "ts",
                "props",
            ],
        )
    return {"accepted": len(rows)}
