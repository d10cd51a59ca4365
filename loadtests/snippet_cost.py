"""What the snippet costs the page's main thread, in Chromium: per click, per form input
and per route change, on the React Router app of the browser tests (tests/apps/router),
loaded with the snippet and without it in the same run. The snippet's files are served
from ``--dist`` (the current build by default), so an older build can be measured on the
same page.

The figure the goal is judged on is thread time, from a Chromium trace of each pass: the
CPU time the main thread spent in the snippet's own callbacks (its listeners, timers,
idle callbacks, observers' callbacks: ``FunctionCall`` events whose script is one of its
files, each counted once however they nest, less any page code they call), the style
and layout those forced, and the time its wrappers of page APIs (``fetch``,
``XMLHttpRequest.send``, the history methods) take outside the call they wrap (each
called through an event listener of the benchmark's, so that the trace times it).
Thread time is what the snippet takes from the main thread; wall time also holds
whatever the machine gave other processes meanwhile. Windows with a batch sent in them
are told apart. Each pass's whole main-thread thread time per interaction is printed
too, with and without the snippet, as a cross-check (the app's own work varies more than
the snippet costs), and the floor: the same trace of a page with empty callbacks in the
snippet's place, called back as often, wrapping the same APIs and sending a request
every 5 s, which is what any script that listens and sends pays the browser.

The earlier figures are printed beside: Chromium's main-thread task time
(``Performance.getMetrics`` ``TaskDuration``) from before an interaction until the page is
quiet again, and a last pass with a CPU profile sampled every 50 µs giving the time
spent in the snippet's own functions (a sample stands for the time since the one before,
so on a busy machine it counts other processes' time, and misses short calls). Long
tasks (over 50 ms) are counted on each page, and the longest run of the snippet's own
files in a long animation frame (start-up included) is printed. It measures, it asserts nothing::

    python -m loadtests.snippet_cost --n 40
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "router" / "dist"
DIST = ROOT / "sdk_js" / "dist"
SNIPPET_FILES = ("microx.js", "microx-vitals.js")
CHROMIUM = "/usr/bin/chromium"
TAG = b'<script src="/microx.js" data-site="lab"></script>'
ADA, ALAN = "16odw8b", "x7k2m9p"
# Long enough for what an interaction sets off to have run: a click's feedback wait
# (1 s), a route's settling (100 ms quiet after its last change).
CLICK_QUIET_S = 1.2
ROUTE_QUIET_S = 0.6
INPUT_QUIET_S = 0.05
# Installed before any page script: long tasks counted, and of the long animation frames
# (which name the scripts that ran in them) the longest run of the snippet's own files,
# from the page's start-up on.
LONG_TASKS = """
window.__long = 0;
window.__ours = 0;
new PerformanceObserver((l) => { window.__long += l.getEntries().length; })
  .observe({ type: "longtask", buffered: true });
new PerformanceObserver((l) => {
  for (const f of l.getEntries())
    for (const s of f.scripts)
      if (/\\/microx(-vitals)?\\.js/.test(s.sourceURL))
        window.__ours = Math.max(window.__ours, s.duration);
}).observe({ type: "long-animation-frame", buffered: true });
"""
# Also before any page script: the page APIs the snippet wraps are replaced by accessors,
# so that the wrapper it installs is called by a listener of an event of ours (`__mxOuter`)
# and calls the API it wraps through another. The trace has the first as a FunctionCall,
# the second as a V8 call inside it, each with its thread time: the first's less the
# second's is the wrapper's own, which the trace would not show otherwise (the wrapper
# runs inside the page's call).
WRAPPERS = """
(() => {
  const hub = new EventTarget();
  let depth = 0, call;
  const invoke = (c) => {
    try { c.value = c.fn.apply(c.self, c.args); } catch (error) { c.threw = true; c.error = error; }
  };
  hub.addEventListener("outer", function __mxOuter() { invoke(call); });
  hub.addEventListener("inner", () => invoke(call));
  const through = (type, fn, self, args) => {
    const c = { fn, self, args }, before = call;
    call = c;
    hub.dispatchEvent(new Event(type));
    call = before;
    if (c.threw) throw c.error;
    return c.value;
  };
  const hook = (owner, name) => {
    const native = owner[name];
    let wrapper;
    const timed = function (...args) {
      return depth ? through("inner", native, this, args) : native.apply(this, args);
    };
    const outer = function (...args) {
      depth++;
      try { return through("outer", wrapper, this, args); } finally { depth--; }
    };
    Object.defineProperty(owner, name, {
      configurable: true,
      get: () => (wrapper ? outer : timed),
      set: (value) => { wrapper = value; },
    });
  };
  hook(window, "fetch");
  hook(XMLHttpRequest.prototype, "send");
  hook(history, "pushState");
  hook(history, "replaceState");
})();
"""
# In place of the snippet, to measure what any script pays the browser for being called
# back as often as the snippet is on a click (its listener, two timers, the DOM observer),
# on input (its field listeners) and on a route change, for wrapping the same page APIs,
# and for sending a request every 5 s as its batches go: each callback empty, each wrapper
# only calling through.
FLOOR = b"""(() => {
  const noop = () => {};
  const send = fetch;
  for (const [owner, name] of [
    [window, "fetch"], [XMLHttpRequest.prototype, "send"],
    [history, "pushState"], [history, "replaceState"],
  ]) {
    const native = owner[name];
    owner[name] = function (...args) { return native.apply(this, args); };
  }
  new MutationObserver(noop).observe(document, {
    childList: true, subtree: true, attributes: true, characterData: true,
  });
  for (const type of ["focusin", "focusout", "input", "invalid", "submit"])
    addEventListener(type, noop, true);
  addEventListener("click", () => { setTimeout(noop, 1000); setTimeout(noop, 1000); }, true);
  const body = "x".repeat(2000);
  setInterval(() => send("/v1/events", { method: "POST", body, keepalive: true }), 5000);
})();
"""
TRACE_CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline,v8,toplevel"
OURS = re.compile(r"/microx(-vitals)?\.js")
# Style and layout forced by the snippet's code (reading geometry or visibility).
STYLE_LAYOUT = {"Layout", "UpdateLayoutTree", "RecalculateStyles"}
# What starts a callback, named in the breakdown of the snippet's time.
TRIGGERS = {"EventDispatch", "TimerFire", "FireIdleCallback", "FireAnimationFrame"}


@contextmanager
def serve(with_snippet: bool, dist: Path = DIST, floor: bool = False) -> Iterator[str]:
    """The built app, every path that is no file of it being its index, and the snippet's
    files from `dist` (or `FLOOR` in its place); the events the snippet sends are answered
    204 and dropped."""

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            file = (APP / path.lstrip("/")).resolve()
            if file.name in SNIPPET_FILES:
                file = dist / file.name
            elif not (file.is_file() and file.is_relative_to(APP)):
                file = APP / "index.html"
            body = FLOOR if floor and file.name == SNIPPET_FILES[0] else file.read_bytes()
            if file.suffix == ".html" and not with_snippet:
                body = body.replace(TAG, b"")
            kind = {".js": "text/javascript", ".css": "text/css"}.get(file.suffix, "text/html")
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(APP)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def task_ms(cdp: CDPSession) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return 1000 * float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


# Self time sampled in each of the snippet's functions, over every profiled interaction.
HOT: Counter[str] = Counter()
# A sample stands for the time since the one before, up to this (a longer gap is the
# sampler's, not the function's).
MAX_SAMPLE_US = 1000


# Intervals between samples, over every profile: the sampler, on a busy machine, takes
# them further apart than asked.
INTERVALS: list[float] = []


def snippet_ms(profile: dict[str, Any]) -> tuple[float, float]:
    """Time sampled in the snippet's own functions (its files' self time), and the same
    with no sample counted for more than twice the profile's median interval.

    A sample stands for the time since the one before, and the main thread takes the
    next sample only once it runs again: time the machine gave other processes counts
    for whatever function was interrupted. The second figure leaves out most of that."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile["timeDeltas"]
    INTERVALS.extend(deltas[1:])
    usual = 2 * statistics.median(deltas[1:] or [MAX_SAMPLE_US])
    total = capped = 0
    for sample, delta in zip(profile["samples"], deltas, strict=True):
        frame = nodes[sample]["callFrame"]
        if "/microx" in frame["url"]:
            where = (
                f"{frame['url'].rsplit('/', 1)[-1]}:{frame['lineNumber']}:{frame['columnNumber']}"
            )
            HOT[f"{frame['functionName'] or '(anonymous)'} {where}"] += min(delta, MAX_SAMPLE_US)
            total += min(delta, MAX_SAMPLE_US)
            capped += min(delta, usual)
    return total / 1000, capped / 1000


@dataclass
class Window:
    """One interaction's main thread, from the trace (µs of thread time)."""

    total: float = 0
    ours: float = 0
    style_layout: float = 0
    wrapped: float = 0
    calls: int = 0
    send: bool = False
    # The snippet's calls in it: what started each, where, µs of thread time.
    parts: list[str] = field(default_factory=list)


# The snippet's thread time (µs) by file, what started it and function, over every
# traced interaction: where it goes.
WHERE: Counter[str] = Counter()


def trace_windows(events: list[dict[str, Any]]) -> list[Window]:
    """Per interaction (from its `mx:` time stamp to the next), the main thread's thread
    time (`tdur` of its outermost events), the snippet's share and the style and layout
    that share forced, and whether the snippet sent a batch in it."""
    marks = sorted(
        (
            e
            for e in events
            if e["name"] == "TimeStamp" and e["args"]["data"]["message"][:3] == "mx:"
        ),
        key=lambda e: e["ts"],
    )
    thread = (marks[0]["pid"], marks[0]["tid"])
    starts = [m["ts"] for m in marks]
    windows = [Window() for _ in starts[:-1]]
    spans = sorted(
        (e for e in events if (e["pid"], e["tid"]) == thread and e["ph"] == "X" and "dur" in e),
        key=lambda e: (e["ts"], -e["dur"]),
    )
    # Each open span with whose code it is: True the snippet's, False the page's, None
    # neither (a native task); a span is the snippet's if it is or is inside its call.
    stack: list[tuple[int, bool | None, str, str]] = []
    for e in spans:
        ts = e["ts"]
        while stack and stack[-1][0] <= ts:
            stack.pop()
        i = _window(starts, ts)
        outer = next((owner for _, owner, _, _ in reversed(stack) if owner is not None), None)
        trigger = next((t for _, _, t, _ in reversed(stack) if t), "")
        cpu = int(e.get("tdur", e["dur"]))
        owner = outer
        name = e["name"]
        data = e.get("args", {}).get("data", {})
        if name == "FunctionCall" and data.get("functionName") == "__mxOuter":
            # A call through the snippet's wrapper of a page API...
            owner = False
            if i is not None:
                windows[i].wrapped += cpu
                windows[i].calls += 1
        elif name == "v8.callFunction" and stack and stack[-1][3] == "__mxOuter":
            # ...less the API it wraps (with whatever that calls back).
            if i is not None:
                windows[i].wrapped -= cpu
        elif name == "FunctionCall":
            owner = bool(OURS.search(data.get("url", "")))
            if i is not None and owner != bool(outer):
                # The snippet's call from page code or a native task, or page code the
                # snippet called (a page's listener of its frustration event): once each.
                windows[i].ours += cpu if owner else -cpu
                if owner:
                    file = data["url"].rsplit("/", 1)[-1]
                    what = data.get("functionName") or f"col {data.get('columnNumber')}"
                    WHERE[f"{file} {trigger or 'task'} {what}"] += cpu
                    where = f"{file}:{data.get('lineNumber')}:{data.get('columnNumber')}"
                    windows[i].parts.append(f"{trigger or 'task'} {where} {cpu}")
        elif i is not None and outer and name in STYLE_LAYOUT:
            windows[i].style_layout += cpu
        if i is not None and not stack:
            windows[i].total += cpu
        label = ""
        if name in TRIGGERS:
            label = name + (f"({data['type']})" if name == "EventDispatch" else "")
        call = data.get("functionName", "") if name == "FunctionCall" else ""
        stack.append((ts + e["dur"], owner, label or (stack[-1][2] if stack else ""), call))
    # A request sent (an instant event) by the page or by a worker of the page: batches
    # go from a worker, whose thread is another of the same process.
    for e in events:
        if e["pid"] != thread[0] or (i := _window(starts, e["ts"])) is None:
            continue
        if e["name"] == "ResourceSendRequest" and "/v1/events" in e["args"]["data"]["url"]:
            windows[i].send = True
    return windows


def _window(starts: list[float], ts: float) -> int | None:
    """The interaction whose window holds `ts` (None: before the first, or after the end)."""
    if ts < starts[0] or ts >= starts[-1]:
        return None
    lo, hi = 0, len(starts) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if starts[mid] <= ts:
            lo = mid
        else:
            hi = mid
    return lo


def read_trace(page: Page, cdp: CDPSession) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    cdp.once("Tracing.tracingComplete", lambda event: done.append(event))
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(50)
    handle = done[0]["stream"]
    chunks = []
    while True:
        read = cdp.send("IO.read", {"handle": handle, "size": 1 << 20})
        chunks.append(read["data"])
        if read.get("eof"):
            break
    cdp.send("IO.close", {"handle": handle})
    trace = json.loads("".join(chunks))
    events: list[dict[str, Any]] = trace["traceEvents"] if isinstance(trace, dict) else trace
    return events


@dataclass
class Measured:
    """One interaction: task time (ms), the profile's figures (ms) and the trace's window."""

    task: float
    profiled: float
    capped: float
    trace: Window


def measure(
    page: Page, cdp: CDPSession, act: Callable[[], None], quiet_s: float, profile: bool, i: int
) -> tuple[float, float, float]:
    if profile:
        cdp.send("Profiler.start")
    else:
        page.evaluate(f"console.timeStamp('mx:{i}')")
    before = task_ms(cdp)
    act()
    time.sleep(quiet_s)
    after = task_ms(cdp)
    ours, capped = snippet_ms(cdp.send("Profiler.stop")["profile"]) if profile else (0.0, 0.0)
    return after - before, ours, capped


def series(
    page: Page,
    cdp: CDPSession,
    acts: list[Callable[[], None]],
    quiet_s: float,
    profile: bool,
    after: Callable[[int], object] = lambda i: None,
) -> list[Measured]:
    """Each of `acts` measured, in one trace unless profiled (`after` runs outside each
    interaction's window)."""
    if not profile:
        cdp.send(
            "Tracing.start",
            {"categories": TRACE_CATEGORIES, "transferMode": "ReturnAsStream"},
        )
    out = []
    for i, act in enumerate(acts):
        out.append(measure(page, cdp, act, quiet_s, profile, i))
        after(i)
    if profile:
        return [Measured(*m, trace=Window()) for m in out]
    page.evaluate("console.timeStamp('mx:end')")
    windows = trace_windows(read_trace(page, cdp))
    return [Measured(*m, trace=w) for m, w in zip(out, windows, strict=True)]


def run(base: str, n: int, profile: bool) -> dict[str, Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.add_init_script(LONG_TASKS)
        page.add_init_script(WRAPPERS)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 50})
        page.goto(f"{base}/contacts/{ADA}")
        page.wait_for_selector("#sidebar")
        time.sleep(1)
        out: dict[str, Any] = {}
        # A click on a control that changes no route: the link of the contact shown.
        same = partial(page.click, f"#results a[href='/contacts/{ADA}']")
        out["click"] = series(page, cdp, [same] * n, CLICK_QUIET_S, profile)
        # A route change: from one contact to the other and back, by their links.
        targets = [ALAN if i % 2 == 0 else ADA for i in range(n)]
        out["route"] = series(
            page,
            cdp,
            [partial(page.click, f"#results a[href='/contacts/{t}']") for t in targets],
            ROUTE_QUIET_S,
            profile,
            lambda i: page.wait_for_function(f"location.pathname == '/contacts/{targets[i]}'"),
        )
        # A form input: one character typed into the edit form's first field.
        page.goto(f"{base}/contacts/{ADA}/edit")
        page.wait_for_selector("#contact-form input")
        page.click("#contact-form input[name=first]")
        time.sleep(1.2)
        out["input"] = series(
            page, cdp, [partial(page.keyboard.type, "a")] * n, INPUT_QUIET_S, profile
        )
        out["long"] = page.evaluate("window.__long")
        out["ours"] = page.evaluate("window.__ours")
        browser.close()
        return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wrappers_ms(m: Measured, through_ms: float) -> float:
    """The wrappers' own time in one interaction, less what calling them through events
    takes (`through_ms` a call, measured on the floor, whose wrappers only call through)."""
    return max(0.0, m.trace.wrapped / 1000 - m.trace.calls * through_ms)


def snippet_thread_ms(m: Measured, through_ms: float) -> float:
    """The snippet's thread time in one interaction: its callbacks (style and layout they
    forced included) and its wrappers' own time."""
    return m.trace.ours / 1000 + wrappers_ms(m, through_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="interactions of each kind")
    parser.add_argument(
        "--dist", type=Path, default=DIST, help="the snippet's files (default: sdk_js/dist)"
    )
    parser.add_argument(
        "--windows",
        action="store_true",
        help="print each click window's calls of the snippet",
    )
    args = parser.parse_args()
    if not (APP / "index.html").is_file():
        raise SystemExit(f"{APP} is missing: make tests/apps/router/dist/index.html")
    for name in SNIPPET_FILES:
        if not (args.dist / name).is_file():
            raise SystemExit(f"{args.dist / name} is missing: make build")
    # Without and with the snippet, traced, then with empty callbacks in its place, then the
    # snippet's own time in a last pass (profiling slows the page, so it is not the pass
    # whose task time is compared).
    results = {}
    for with_snippet in (False, True):
        with serve(with_snippet, args.dist) as base:
            results[with_snippet] = run(base, args.n, profile=False)
    where = WHERE.copy()
    with serve(True, args.dist, floor=True) as base:
        floor = run(base, args.n, profile=False)
    with serve(True, args.dist) as base:
        profiled = run(base, args.n, profile=True)
    # What calling a wrapper through events takes, with one that only calls through.
    on_floor = [m for kind in ("click", "input", "route") for m in floor[kind]]
    through = (
        sum(m.trace.wrapped for m in on_floor) / 1000 / max(1, sum(m.trace.calls for m in on_floor))
    )
    print(f"main-thread ms per interaction, {args.n} of each (Chromium, {APP.name}, {args.dist})")
    print()
    print("thread time (trace: CPU time of the main thread; the goal is judged on 'snippet')")
    print(
        f"{'':8} {'snippet p50':>11} {'p95':>6} {'mean':>6} {'max':>6}"
        f" {'style+layout':>12} {'wrappers':>8} {'p95 send':>8} {'p95 none':>8}"
        f" {'page without':>12} {'with':>6} {'diff':>6} {'floor p50':>9} {'p95':>6}"
    )
    for kind in ("click", "input", "route"):
        full: list[Measured] = results[True][kind]
        ours = [snippet_thread_ms(m, through) for m in full]
        sending = [snippet_thread_ms(m, through) for m in full if m.trace.send]
        quiet = [snippet_thread_ms(m, through) for m in full if not m.trace.send]
        empty = [snippet_thread_ms(m, through) for m in floor[kind]]
        bare = statistics.fmean(m.trace.total for m in results[False][kind]) / 1000
        whole = statistics.fmean(m.trace.total for m in full) / 1000
        print(
            f"{kind:8} {pct(ours, 0.5):11.3f} {pct(ours, 0.95):6.3f} {statistics.fmean(ours):6.3f}"
            f" {max(ours):6.3f}"
            f" {statistics.fmean(m.trace.style_layout for m in full) / 1000:12.3f}"
            f" {statistics.fmean(wrappers_ms(m, through) for m in full):8.3f}"
            f" {pct(sending, 0.95) if sending else float('nan'):8.3f}"
            f" {pct(quiet, 0.95) if quiet else float('nan'):8.3f}"
            f" {bare:12.2f} {whole:6.2f} {whole - bare:6.2f}"
            f" {pct(empty, 0.5):9.3f} {pct(empty, 0.95):6.3f}"
        )
    print(
        "  (style+layout and wrappers: means, included in 'snippet'; p95 send/none: windows"
        " with or without a batch sent; page: the whole main thread's mean; floor: empty"
        " callbacks in the snippet's place, as many)"
    )
    print(
        f"  (calling a wrapper through events: {through * 1000:.1f} µs, taken off the"
        f" wrappers' time;"
        f" windows with a batch sent: {sum(m.trace.send for m in results[True]['click'])}"
        f" of {args.n} clicks, {sum(m.trace.send for m in floor['click'])} on the floor)"
    )
    print()
    print("wall time (task time per interaction; the snippet's own from a sampled CPU profile)")
    print(
        f"{'':8} {'without p50':>11} {'p95':>6} {'with p50':>9} {'p95':>6}"
        f" {'diff p50':>9} {'p95':>6} {'snippet p50':>12} {'p95':>6} {'mean':>6}"
        f" {'capped p95':>11}"
    )
    for kind in ("click", "input", "route"):
        alone = [m.task for m in results[False][kind]]
        full_task = [m.task for m in results[True][kind]]
        sampled = [m.profiled for m in profiled[kind]]
        capped = [m.capped for m in profiled[kind]]
        print(
            f"{kind:8} {pct(alone, 0.5):11.2f} {pct(alone, 0.95):6.2f}"
            f" {pct(full_task, 0.5):9.2f} {pct(full_task, 0.95):6.2f}"
            f" {pct(full_task, 0.5) - pct(alone, 0.5):9.2f}"
            f" {pct(full_task, 0.95) - pct(alone, 0.95):6.2f}"
            f" {pct(sampled, 0.5):12.3f} {pct(sampled, 0.95):6.3f}"
            f" {statistics.fmean(sampled):6.3f} {pct(capped, 0.95):11.3f}"
        )
    print(
        f"sampling: asked every 50 µs, taken every {statistics.median(INTERVALS):.0f} µs"
        f" (median), {pct(INTERVALS, 0.99):.0f} µs at p99"
    )
    print(f"long tasks: without {results[False]['long']}, with {results[True]['long']}")
    print(
        "longest run of the snippet's files in a long animation frame, start-up included:"
        f" {results[True]['ours']:.1f} ms (0: none in any long frame)"
    )
    print("where the snippet's thread time goes (file, what started it, function), ms in all:")
    for what, us in where.most_common(10):
        print(f"  {what:64} {us / 1000:7.2f}")
    print("the profile's hottest functions (minified build's file:line:column), ms in all:")
    for hot, us in HOT.most_common(5):
        print(f"  {hot:48} {us / 1000:7.2f}")
    if args.windows:
        print(
            "each click window: the snippet's µs, a batch sent, its calls"
            " (what started it, file:line:column, µs)"
        )
        for m in results[True]["click"]:
            sent = "sent" if m.trace.send else "-"
            print(f"  {m.trace.ours:6.0f} {sent:4} " + ", ".join(m.trace.parts))


if __name__ == "__main__":
    main()
