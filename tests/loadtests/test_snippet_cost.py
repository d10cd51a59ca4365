"""How the snippet's thread time is read from a Chromium trace: its own calls once however
they nest, less the page code they call, the wrappers' own time, and the windows."""

from __future__ import annotations

from typing import Any

from loadtests.snippet_cost import trace_windows

PID = TID = 7
SNIPPET = "http://127.0.0.1:1/microx.js"
PAGE = "http://127.0.0.1:1/app.js"


def span(name: str, ts: int, dur: int, tdur: int, **data: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ph": "X",
        "pid": PID,
        "tid": TID,
        "ts": ts,
        "dur": dur,
        "tdur": tdur,
        "args": {"data": data},
    }


def instant(name: str, ts: int, **data: Any) -> dict[str, Any]:
    return {"name": name, "ph": "I", "pid": PID, "tid": TID, "ts": ts, "args": {"data": data}}


def mark(ts: int, message: str) -> dict[str, Any]:
    return instant("TimeStamp", ts, message=message)


TRACE = [
    mark(1000, "mx:0"),
    # A click: the snippet's listener, which forces a style update, calls a page listener
    # (of its frustration event) and, through it, itself again.
    span("EventDispatch", 1100, 500, 400, type="click"),
    span("FunctionCall", 1110, 300, 250, url=SNIPPET),
    span("UpdateLayoutTree", 1120, 20, 20),
    span("FunctionCall", 1200, 100, 90, url=PAGE),
    span("FunctionCall", 1210, 20, 15, url=SNIPPET),
    # The page's own listener.
    span("FunctionCall", 1450, 100, 100, url=PAGE),
    # Another process's thread: not the page's.
    {**span("FunctionCall", 1500, 100, 100, url=SNIPPET), "tid": TID + 1},
    mark(2000, "mx:1"),
    # A route: the page calls pushState through the snippet's wrapper, whose own time is
    # what the call through it took less the call it wraps; then a timer sends a batch.
    span("FunctionCall", 2100, 400, 300, url=PAGE),
    span("FunctionCall", 2150, 100, 60, functionName="__mxOuter"),
    span("v8.callFunction", 2160, 80, 45),
    span("TimerFire", 2600, 200, 150),
    span("FunctionCall", 2610, 180, 140, url=SNIPPET),
    instant("ResourceSendRequest", 2700, url="http://127.0.0.1:1/v1/events"),
    mark(3000, "mx:end"),
    # After the last window: counted in none.
    span("FunctionCall", 3100, 100, 100, url=SNIPPET),
]


def test_the_snippets_calls_count_once_less_the_page_code_they_call() -> None:
    click, _ = trace_windows(TRACE)
    assert click.ours == 250 - 90 + 15
    assert click.style_layout == 20
    # The outermost spans only: the dispatch holds the page's listener too.
    assert click.total == 400
    assert not click.send


def test_a_wrappers_own_time_and_a_batch_sent_are_read_in_their_window() -> None:
    _, route = trace_windows(TRACE)
    assert route.wrapped == 60 - 45
    assert route.calls == 1
    assert route.ours == 140
    assert route.send
    assert route.total == 300 + 150
