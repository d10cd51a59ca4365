"""Synthetic visitors of a shop, with friction injected where we say, as the snippet sends it.

Each visitor has one or more sessions; each session walks the shop (home, product, cart,
address form, payment, done) and produces the wire envelopes the snippet would send,
one per page. What is injected, and so what an analysis must recover, is in
:class:`Truth`:

- the "Add to basket" spinner is slow in variant A of the ``basket-spinner`` experiment
  (5 s) and fast in variant B (0.8 s, within budget), so it is the worst moment;
- the coupon button does nothing: every click on it is dead, and some visitors rage;
- the phone field of the address form makes ``abandon_share`` of the visitors who reach
  it leave;
- ``hero-copy`` is a null experiment: its variants change nothing;
- a visitor whose session met the slow spinner comes back less often.

The same seed gives the same visitors, ids included. The load tests send these envelopes
over HTTP; the analysis tests and the benchmark store them directly with
:func:`store_envelopes`, through the collector's own validation and enrichment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

from collector.ingest.validate import judge
from collector.rows.columns import EVENT_COLUMNS, Row
from collector.rows.enrich import enrich
from collector.sink.blocks import insert_rows
from collector.sink.store import Store

SITE = "shop"
ORIGIN = "https://shop.example"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
FORM = "checkout-address"
FORM_FIELDS = ("name", "email", "street", "phone", "postcode")
FUNNEL = "checkout"
FUNNEL_STEPS = ("basket", "address", "payment", "done")
Envelope = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Truth:
    """The friction injected, which the analysis must find."""

    spinner: str = "div.spinner @ /product"
    spinner_slow_ms: float = 5000.0
    spinner_fast_ms: float = 800.0
    spinner_experiment: str = "basket-spinner"
    null_experiment: str = "hero-copy"
    dead_button: str = "button#coupon @ /cart"
    dead_button_share: float = 0.3
    rage_share: float = 0.5
    abandon_field: str = "phone"
    abandon_share: float = 0.4
    return_after_friction: float = 0.3
    return_otherwise: float = 0.6
    max_sessions: int = 4
    # Customer signals: every visit views the item; those whose session id starts with a
    # hex digit below 8 (about half) come back to it after the basket spinner.
    item: str = "trail-runner"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Session:
    """Builds one session's envelopes page by page, as the snippet batches them."""

    def __init__(
        self, rng: random.Random, site: str, sid: str, vid: str | None, start_ms: int
    ) -> None:
        self.rng = rng
        self.site = site
        self.sid = sid
        self.vid = vid
        self.now = start_ms
        self.variants: dict[str, str] = {}
        self.envelopes: list[Envelope] = []
        self._page: list[dict[str, Any]] = []
        self._path = "/"
        self._seq = 0
        # Ids of events added after the original journey (signals) come from here, so
        # the main random sequence, and every fact injected with it, is unchanged.
        self._aside = random.Random(sid)

    def page(self, path: str, load_ms: float) -> None:
        self.flush()
        self._path = path
        self._seq = 0
        self.now += int(self.rng.uniform(2_000, 20_000))
        self.event("page", d=round(load_ms, 1), p={"nav": "navigate"})
        self.event("vital", n="LCP", val=round(load_ms * 0.8), p={"rating": "good"})

    def event(self, t: str, gap_ms: float | None = None, **fields: Any) -> None:
        self.now += int(self.rng.uniform(50, 1500) if gap_ms is None else gap_ms)
        rng = self._aside if t == "signal" else self.rng
        e: dict[str, Any] = {"id": _uuid(rng), "t": t, "ts": self.now, "q": self._seq}
        e.update({k: v for k, v in fields.items() if v is not None})
        if self.variants:
            e["x"] = dict(self.variants)
        self._seq += 1
        self._page.append(e)

    def click(
        self,
        target: str,
        label: str,
        feedback_ms: float | None,
        gap_ms: float | None = None,
        **props: Any,
    ) -> None:
        p = {"x": 400, "y": 300, "btn": 0, "det": 1, "fb": "dom" if feedback_ms else "none"}
        p.update(props)
        d = round(feedback_ms, 1) if feedback_ms else None
        self.event("click", gap_ms, tg=target, l=label, d=d, p=p)

    def flush(self) -> None:
        if not self._page:
            return
        context: dict[str, Any] = {"sdk": "0.1.0", "vw": 1280, "vh": 800, "lang": "en-US"}
        context["cs"] = ["measure", "visitor", "signals"] if self.vid else ["measure", "signals"]
        envelope: Envelope = {
            "v": 1,
            "s": self.site,
            "sid": self.sid,
            "at": self.now + 100,
            "u": f"{ORIGIN}{self._path}",
            "c": context,
            "e": self._page,
        }
        if self.vid:
            envelope["vid"] = self.vid
        self.envelopes.append(envelope)
        self._page = []


def _walk(s: _Session, truth: Truth) -> bool:
    """One visit through the shop; True if it met the slow spinner."""
    rng = s.rng
    s.variants = {
        truth.spinner_experiment: rng.choice(("A", "B")),
        truth.null_experiment: rng.choice(("control", "new")),
    }
    s.page("/", rng.lognormvariate(7.2, 0.3))
    s.click("a.product-card", "Trail runner", rng.uniform(40, 120))

    s.page("/product", rng.lognormvariate(7.2, 0.3))
    # Signals take fixed gaps and ids of their own: the random sequence, and so every
    # other injected fact, stays as it was without them.
    s.event("signal", 5, n="view", tg=truth.item)
    s.click("button#add", "Add to basket", rng.uniform(30, 90))
    slow = s.variants[truth.spinner_experiment] == "A"
    mean = truth.spinner_slow_ms if slow else truth.spinner_fast_ms
    wait = max(50.0, rng.gauss(mean, mean * 0.1))
    s.event("loading", n="busy", tg="div.spinner", d=round(wait, 1), p={"by": "button#add"})
    s.event("signal", 5, n="basket", tg=truth.item, val=1, p={"qty": 1})
    if int(s.sid[0], 16) < 8:
        s.event("signal", 5, n="view", tg=truth.item)
    s.event("step", n=FUNNEL, tg="basket", p={"i": 1})

    s.page("/cart", rng.lognormvariate(7.0, 0.3))
    if rng.random() < truth.dead_button_share:
        presses = 4 if rng.random() < truth.rage_share else 1
        # A rage burst is pressed about 200 ms apart; the snippet reports each press as a
        # click, and as dead once its second of waiting for feedback has passed.
        for i in range(presses):
            s.click(
                "button#coupon",
                "Apply coupon",
                None,
                rng.uniform(150, 250) if i else None,
                burst=i + 1,
                x=600 + i,
                y=420,
            )
        for _ in range(presses):
            s.event("dead_click", 5, tg="button#coupon", l="Apply coupon", df="dead@1:1000ms")
        if presses >= 3:
            s.event(
                "rage_click",
                tg="button#coupon",
                l="Apply coupon",
                val=presses,
                df="rage@1:3/1000ms/30px",
                p={"x": 600, "y": 420},
            )
    if rng.random() < 0.1:
        s.flush()
        return slow
    s.click("button#checkout", "Checkout", rng.uniform(40, 120))

    s.page("/checkout/address", rng.lognormvariate(7.0, 0.3))
    s.event("step", n=FUNNEL, tg="address", d=rng.uniform(5_000, 30_000), p={"i": 2})
    s.event("form_start", n=FORM, tg=FORM_FIELDS[0])
    done: list[str] = []
    for field in FORM_FIELDS:
        hesitation = rng.uniform(200, 900) * (4 if field == truth.abandon_field else 1)
        s.event(
            "form_field",
            n=FORM,
            tg=field,
            d=round(hesitation + rng.uniform(1000, 4000)),
            p={"edits": 8, "dels": 0, "amends": 0, "filled": True, "hes": round(hesitation)},
        )
        if field == truth.abandon_field and rng.random() < truth.abandon_share:
            s.event(
                "form_abandon",
                n=FORM,
                tg=field,
                d=rng.uniform(10_000, 40_000),
                p={"how": "page", "fields": ",".join(done)},
            )
            s.flush()
            return slow
        done.append(field)
    s.event("form_submit", n=FORM, d=rng.uniform(10_000, 40_000))

    s.page("/checkout/payment", rng.lognormvariate(7.0, 0.3))
    s.event("step", n=FUNNEL, tg="payment", d=rng.uniform(20_000, 60_000), p={"i": 3})
    if rng.random() < 0.15:
        s.flush()
        return slow
    s.click("button#pay", "Pay now", rng.uniform(40, 150))
    s.page("/checkout/done", rng.lognormvariate(6.8, 0.3))
    s.event("step", n=FUNNEL, tg="done", d=rng.uniform(2_000, 8_000), p={"i": 4})
    s.event("feedback", n="checkout", val=rng.choice((3, 4, 4, 5, 5)))
    s.flush()
    return slow


def visitors(
    count: int,
    *,
    seed: int = 1,
    start: dt.datetime | None = None,
    truth: Truth | None = None,
    site: str = SITE,
) -> Iterator[list[Envelope]]:
    """Each visitor's envelopes, sessions in order, starting at ``start`` (default 6 days ago)."""
    truth = truth or Truth()
    rng = random.Random(seed)
    begin = start or dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
    begin_ms = int(begin.timestamp() * 1000)
    for _ in range(count):
        vid = _uuid(rng) if rng.random() < 0.9 else None
        at = begin_ms + int(rng.uniform(0, 2 * 86_400_000))
        sessions: list[Envelope] = []
        for _ in range(truth.max_sessions):
            s = _Session(rng, site, _uuid(rng), vid, at)
            met = _walk(s, truth)
            sessions.extend(s.envelopes)
            back = truth.return_after_friction if met else truth.return_otherwise
            if vid is None or rng.random() >= back:
                break
            at = s.now + int(rng.uniform(0.2, 1.0) * 86_400_000)
        yield sessions


def envelopes(count: int, **kwargs: Any) -> Iterator[Envelope]:
    for visitor in visitors(count, **kwargs):
        yield from visitor


def retimed(envelope: Envelope, sent_ms: int) -> Envelope:
    """The envelope as if sent at ``sent_ms``: its events keep their spacing."""
    shift = sent_ms - envelope["at"]
    events = [{**e, "ts": e["ts"] + shift} for e in envelope["e"]]
    return {**envelope, "at": sent_ms, "e": events}


def rows(envelope: Envelope, received_ms: int | None = None) -> list[Row]:
    """The ``microx.events`` rows the collector makes of one envelope (validated first)."""
    verdict = judge(envelope)
    if verdict.rejected:
        raise ValueError(f"generated an invalid event: {verdict.rejected[0]}")
    received = envelope["at"] + 40 if received_ms is None else received_ms
    return enrich(verdict.envelope, verdict.accepted, received, USER_AGENT)


def store_envelopes(store: Store, batch: Iterator[Envelope] | list[Envelope]) -> int:
    """Insert envelopes' rows in large columnar batches; return the number of rows."""
    pending: list[Row] = []
    total = 0

    def insert() -> None:
        nonlocal pending, total
        insert_rows(store, "events", EVENT_COLUMNS, pending)
        total += len(pending)
        pending = []

    for envelope in batch:
        pending.extend(rows(envelope))
        if len(pending) >= 50_000:
            insert()
    if pending:
        insert()
    return total
