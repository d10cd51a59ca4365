"""Synthetic visitors of a shop, with friction injected where we say, as the snippet sends it.

Each visitor has one or more sessions; each session walks the shop (home, product, cart,
address form, payment, done) and produces the wire envelopes the snippet would send,
one per page. What is injected, and so what an analysis must recover, is in
:class:`Truth`:

- the "Add to basket" spinner is slow in variant A of the ``basket-spinner`` experiment
  (5 s) and fast in variant B (0.8 s, within budget);
- the reviews take 9 s to show for the visitors who open them (``long_wait_share``), and
  the size picker answers every visitor in 262 ms, a little over its 200 ms budget;
- the coupon button does nothing: every click on it is dead, and some visitors rage,
  some of them with a pointer that slides while they press (no burst by the snippet's
  rule);
- the phone field of the address form makes ``abandon_share`` of the visitors who reach
  it leave, most of them (``balk_share``) without typing a digit; ``focus_only_share`` of
  the visitors who reach the form focus its first field and leave without typing; some
  (``form_revisit_share``) go back to the cart from the e-mail field and return;
- ``hero-copy`` is a null experiment: its variants change nothing; in variant "new" of
  ``pay-button`` more visitors leave at the payment page (a cost in orders, none in
  friction); ``banner`` assigns its "on" variant to 44 % instead of half (a broken split);
  a visitor with an id keeps the variants of their first session (assignment by visitor);
- a visitor who met the slow spinner leaves at the cart more often, and comes back less;
- INP and CLS are reported when a page is hidden, stamped with the time of what they
  measure, or of the report as snippet 0.1.0 did (``vitals_at_report``).

:func:`regulars` is another site, an account page whose regulars both meet more friction
and come back more (:class:`Regulars`): the confounded case loyalty must see through.

What was injected, per session, is written into :class:`Facts` when one is passed: the
ground truth the analysis tests compare the views with. The same seed gives the same
visitors, ids included. The load tests send these envelopes
over HTTP; the analysis tests and the benchmark store them directly with
:func:`store_envelopes`, through the collector's own validation and enrichment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Iterator
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
FUNNEL_STEPS = ("basket", "address", "payment", "review", "done")
# The step a visitor may skip: the site lets a payer confirm without reviewing the order.
OPTIONAL_STEP = "review"
SDK_VERSION = "0.2.0"
# The release that stamped a vital with the time of its report.
REPORT_TIMED_SDK = "0.1.0"
Envelope = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Truth:
    """The friction injected, which the analysis must find."""

    spinner: str = "div.spinner @ /product"
    spinner_slow_ms: float = 5000.0
    spinner_fast_ms: float = 800.0
    spinner_experiment: str = "basket-spinner"
    null_experiment: str = "hero-copy"
    # A variant that changes no friction and costs orders: in "new" of this experiment,
    # pay_harm more of the visitors on the payment page leave without paying.
    harm_experiment: str = "pay-button"
    pay_exit: float = 0.15
    pay_harm: float = 0.3
    # An experiment whose assignment is broken: "on" is given to 44 % instead of half.
    srm_experiment: str = "banner"
    srm_share: float = 0.44
    # Of the visitors at the cart, those who leave there; more after the slow spinner.
    cart_exit: float = 0.1
    cart_exit_after_slow: float = 0.4
    # Every visitor picks a size; the picker answers a little late (262 ms, budget 200).
    slow_button: str = "button#size @ /product"
    slow_button_ms: float = 262.0
    # Some visitors open the reviews, which take 9 s to show.
    long_wait: str = "div.reviews @ /product"
    long_wait_ms: float = 9000.0
    long_wait_share: float = 0.15
    dead_button: str = "button#coupon @ /cart"
    dead_button_share: float = 0.3
    rage_share: float = 0.5
    # Of the visitors who rage, those whose pointer slides while they press (16 px a press):
    # within 30 px of the previous press, not of the first, so not one burst.
    rage_drift_share: float = 0.15
    abandon_field: str = "phone"
    abandon_share: float = 0.4
    balk_share: float = 0.6
    focus_only_share: float = 0.08
    form_revisit_share: float = 0.15
    # Of the visitors who pay, those who go straight to the confirmation.
    review_skip_share: float = 0.25
    # Vitals as snippet 0.1.0 sent them: stamped when reported, INP and CLS at page hide.
    vitals_at_report: bool = False
    return_after_friction: float = 0.3
    return_otherwise: float = 0.6
    max_sessions: int = 4
    # Customer signals: every visit views the item; those whose session id starts with a
    # hex digit below 8 (about half) come back to it after the basket spinner.
    item: str = "trail-runner"


@dataclasses.dataclass
class FormVisit:
    """One session's way through the address form."""

    typed: bool = False
    reached: set[str] = dataclasses.field(default_factory=set)
    # Times the visitor went back to the cart from the form and returned.
    revisits: int = 0
    # The field the visitor finally left the form at; None once submitted.
    stopped: str | None = None


@dataclasses.dataclass
class Facts:
    """What the generator injected, per session id."""

    forms: dict[str, FormVisit] = dataclasses.field(default_factory=dict)
    # The moment the visitor lived last in the session.
    ends: dict[str, str] = dataclasses.field(default_factory=dict)
    # The experiment variants each session ran under, and how long its spinner showed.
    variants: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # Each session's visitor id (None: the visitor kept none).
    visitors: dict[str, str | None] = dataclasses.field(default_factory=dict)
    spinner_waits: dict[str, float] = dataclasses.field(default_factory=dict)
    # Whether the visitor came back after the session (within a day of its end).
    returned: dict[str, bool] = dataclasses.field(default_factory=dict)
    # The funnel steps each session took, in order.
    steps: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    # Presses on the dead coupon button, and whether the pointer slid while pressing.
    coupon_presses: dict[str, tuple[int, bool]] = dataclasses.field(default_factory=dict)


# The snippet's rage rule and defaults (sdk_js/src/clicks.ts): a click joins the burst
# under way on the same element within RAGE_MS of its last click and RAGE_PX of its first.
RAGE_COUNT = 3
RAGE_MS = 1000
RAGE_PX = 30


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Session:
    """Builds one session's envelopes page by page, as the snippet batches them."""

    def __init__(
        self,
        rng: random.Random,
        site: str,
        sid: str,
        vid: str | None,
        start_ms: int,
        vitals_at_report: bool = False,
    ) -> None:
        self.rng = rng
        self.vitals_at_report = vitals_at_report
        self.site = site
        self.sid = sid
        self.vid = vid
        self.now = start_ms
        self.variants: dict[str, str] = {}
        # The variants each visitor was given, shared by their sessions (``visitors``).
        self.assigned: dict[str, dict[str, str]] = {}
        self.envelopes: list[Envelope] = []
        self._page: list[dict[str, Any]] = []
        self._path = "/"
        self._seq = 0
        self._started = start_ms
        self._load_ms = 0.0
        self.steps: list[str] = []
        # The page's clicks: when, and how long their feedback took (0: none).
        self._clicks: list[tuple[int, float]] = []
        # Ids of events added after the original journey (signals) come from here, so
        # the main random sequence, and every fact injected with it, is unchanged; so do
        # the choices of cases added since.
        self.aside = random.Random(sid)

    def page(self, path: str, load_ms: float) -> None:
        self.flush()
        self._path = path
        self._seq = 0
        self.now += int(self.rng.uniform(2_000, 20_000))
        self._started = self.now
        self._load_ms = load_ms
        self._clicks = []
        # Reported when the page has loaded; its largest paint came before.
        self.event("page", load_ms, d=round(load_ms, 1), p={"nav": "navigate"})
        lcp = round(load_ms * 0.8)
        at = self._started + lcp if not self.vitals_at_report else None
        self.event("vital", at=at, n="LCP", val=lcp, p={"rating": "good"})

    def event(
        self,
        t: str,
        gap_ms: float | None = None,
        at: int | None = None,
        aside: bool = False,
        **fields: Any,
    ) -> None:
        """An event ``gap_ms`` after the previous one, or stamped ``at`` a time of its own
        (a signal derived from a click carries the click's time)."""
        if at is None:
            self.now += int(self.rng.uniform(50, 1500) if gap_ms is None else gap_ms)
        rng = self.aside if t == "signal" or aside else self.rng
        ts = self.now if at is None else at
        e: dict[str, Any] = {"id": _uuid(rng), "t": t, "ts": ts, "q": self._seq}
        e.update({k: v for k, v in fields.items() if v is not None})
        if self.variants:
            e["x"] = dict(self.variants)
        self._seq += 1
        self._page.append(e)

    def step(self, step: str, d: float | None = None) -> None:
        """A checkout step, numbered as the snippet numbers a funnel's steps in a visit."""
        self.steps.append(step)
        self.event("step", n=FUNNEL, tg=step, d=d, p={"i": len(self.steps)})

    def click(
        self,
        target: str,
        label: str,
        feedback_ms: float | None,
        gap_ms: float | None = None,
        aside: bool = False,
        **props: Any,
    ) -> None:
        p = {"x": 400, "y": 300, "btn": 0, "det": 1, "fb": "dom" if feedback_ms else "none"}
        p.update(props)
        d = round(feedback_ms, 1) if feedback_ms else None
        self.event("click", gap_ms, aside=aside, tg=target, l=label, d=d, p=p)
        self._clicks.append((self.now, feedback_ms or 0.0))

    def _hidden(self) -> None:
        """What web-vitals reports when the page is hidden: INP (when the visitor
        interacted) and CLS, stamped with the time of what they measure (the slowest
        interaction, the largest shift, or the page's start when nothing shifted), or with
        the time of the report, as snippet 0.1.0 did."""
        rng = self.aside
        if self._clicks:
            when, slowest = max(self._clicks, key=lambda c: c[1])
            inp = round(max(slowest, rng.uniform(40, 120)))
            self.event("vital", at=self._hidden_at(when), aside=True, n="INP", val=inp)
        shifted = rng.random() < 0.3
        cls = round(rng.uniform(0.01, 0.08), 4) if shifted else 0.0
        # Pages here shift while they load (a late image), before the load event.
        when = (
            self._started + int(rng.uniform(0.2, 0.9) * self._load_ms) if shifted else self._started
        )
        self.event("vital", at=self._hidden_at(when), aside=True, n="CLS", val=cls)

    def _hidden_at(self, measured: int) -> int:
        return self.now + 5 if self.vitals_at_report else measured

    def flush(self) -> None:
        if not self._page:
            return
        self._hidden()
        sdk = REPORT_TIMED_SDK if self.vitals_at_report else SDK_VERSION
        context: dict[str, Any] = {"sdk": sdk, "vw": 1280, "vh": 800, "lang": "en-US"}
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


def _fill_address(s: _Session, truth: Truth, visit: FormVisit) -> bool:
    """The address form as the snippet reports it; True if submitted. A visitor who leaves
    is reported at the field focused last, typed into or not."""
    rng = s.rng
    first = FORM_FIELDS[0]
    visit.reached.add(first)
    if rng.random() < truth.focus_only_share:
        # Focused the first field, typed nothing, left: abandoned without a start.
        s.event("form_abandon", n=FORM, tg=first, p={"how": "page", "fields": ""})
        visit.stopped = first
        return False
    s.event("form_start", n=FORM, tg=first)
    visit.typed = True
    done: list[str] = []
    for field in FORM_FIELDS:
        visit.reached.add(field)
        hesitation = rng.uniform(200, 900) * (4 if field == truth.abandon_field else 1)
        if field == truth.abandon_field and rng.random() < truth.abandon_share:
            if rng.random() < truth.balk_share:
                # Looked at the field and left: its visit ends when the page is hidden.
                focused = {"edits": 0, "dels": 0, "amends": 0, "filled": False}
                s.event("form_field", n=FORM, tg=field, d=round(hesitation * 2), p=focused)
            else:
                typed = {
                    "edits": 3,
                    "dels": 1,
                    "amends": 0,
                    "filled": True,
                    "hes": round(hesitation),
                }
                s.event("form_field", n=FORM, tg=field, d=round(hesitation + 1500), p=typed)
                done.append(field)
            s.event(
                "form_abandon",
                n=FORM,
                tg=field,
                d=rng.uniform(10_000, 40_000),
                p={"how": "page", "fields": ",".join(done)},
            )
            visit.stopped = field
            return False
        s.event(
            "form_field",
            n=FORM,
            tg=field,
            d=round(hesitation + rng.uniform(1000, 4000)),
            p={"edits": 8, "dels": 0, "amends": 0, "filled": True, "hes": round(hesitation)},
        )
        done.append(field)
    s.event("form_submit", n=FORM, d=rng.uniform(10_000, 40_000))
    visit.stopped = None
    return True


def _press_dead_button(s: _Session, presses: int, slides: bool) -> None:
    """Presses about 200 ms apart on the coupon button, which never answers, reported as
    the snippet reports them: each press a click, dead once its second of waiting has
    passed, and each burst of at least RAGE_COUNT presses (by the snippet's rule) a rage
    click; a derived signal carries the time of its click (a burst, of its first)."""
    target, label = "button#coupon", "Apply coupon"
    pressed: list[int] = []
    bursts: list[list[tuple[int, int, int]]] = []
    for i in range(presses):
        gap = s.rng.uniform(150, 250) if i else s.rng.uniform(50, 1500)
        at = s.now + int(gap)
        x = 600 + (16 * i if slides else s.aside.randint(-6, 6))
        y = 420 + s.aside.randint(-4, 4)
        last = bursts[-1] if bursts else None
        if (
            last is not None
            and at - last[-1][0] <= RAGE_MS
            and math.hypot(x - last[0][1], y - last[0][2]) <= RAGE_PX
        ):
            last.append((at, x, y))
            more: dict[str, Any] = {"burst": len(last)}
        else:
            bursts.append([(at, x, y)])
            more = {}
        s.click(target, label, None, gap, x=x, y=y, **more)
        pressed.append(s.now)
    for at in pressed:
        s.event("dead_click", at=at, tg=target, l=label, df="dead@1:1000ms")
    s.now += RAGE_MS
    for burst in bursts:
        if len(burst) >= RAGE_COUNT:
            (first, fx, fy), end = burst[0], burst[-1][0]
            s.event(
                "rage_click",
                at=first,
                tg=target,
                l=label,
                val=len(burst),
                d=end - first,
                df=f"rage@1:{RAGE_COUNT}/{RAGE_MS}ms/{RAGE_PX}px",
                p={"x": fx, "y": fy},
            )


def _walk(s: _Session, truth: Truth, facts: Facts | None = None) -> bool:
    """One visit through the shop; True if it met the slow spinner."""
    rng = s.rng

    def ended(moment: str) -> None:
        if facts is not None:
            facts.ends[s.sid] = moment
            facts.steps[s.sid] = s.steps

    drawn = {
        truth.spinner_experiment: rng.choice(("A", "B")),
        truth.null_experiment: rng.choice(("control", "new")),
        truth.harm_experiment: s.aside.choice(("old", "new")),
        truth.srm_experiment: "on" if s.aside.random() < truth.srm_share else "off",
    }
    # A site assigns by visitor where it knows one (a flag tool hashes the visitor id), so
    # a visitor keeps the variants of their first session; they are drawn every session
    # all the same, so the random sequence stays as it was.
    s.variants = dict(s.assigned.setdefault(s.vid, drawn) if s.vid else drawn)
    if facts is not None:
        facts.variants[s.sid] = dict(s.variants)
        facts.visitors[s.sid] = s.vid
    s.page("/", rng.lognormvariate(7.2, 0.3))
    s.click("a.product-card", "Trail runner", rng.uniform(40, 120))

    s.page("/product", rng.lognormvariate(7.2, 0.3))
    # Signals take fixed gaps and ids of their own: the random sequence, and so every
    # other injected fact, stays as it was without them; so do the moments added since.
    s.event("signal", 5, n="view", tg=truth.item)
    aside = s.aside
    size = truth.slow_button.split(" @ ")[0]
    s.click(size, "Size 42", aside.gauss(truth.slow_button_ms, 15), 2500, aside=True)
    if aside.random() < truth.long_wait_share:
        s.click("button#reviews", "Reviews", aside.uniform(40, 90), 1500, aside=True)
        wait = aside.gauss(truth.long_wait_ms, 500)
        cue = truth.long_wait.split(" @ ")[0]
        s.event(
            "loading",
            30,
            aside=True,
            n="busy",
            tg=cue,
            d=round(wait, 1),
            p={"by": "button#reviews"},
        )
        s.now += int(wait)
    s.click("button#add", "Add to basket", rng.uniform(30, 90))
    slow = s.variants[truth.spinner_experiment] == "A"
    mean = truth.spinner_slow_ms if slow else truth.spinner_fast_ms
    wait = max(50.0, rng.gauss(mean, mean * 0.1))
    if facts is not None:
        facts.spinner_waits[s.sid] = round(wait, 1)
    s.event("loading", n="busy", tg="div.spinner", d=round(wait, 1), p={"by": "button#add"})
    s.event("signal", 5, n="basket", tg=truth.item, val=1, p={"qty": 1})
    if int(s.sid[0], 16) < 8:
        s.event("signal", 5, n="view", tg=truth.item)
    s.step("basket")

    s.page("/cart", rng.lognormvariate(7.0, 0.3))
    if rng.random() < truth.dead_button_share:
        presses = 4 if rng.random() < truth.rage_share else 1
        slides = presses > 1 and s.aside.random() < truth.rage_drift_share
        if facts is not None:
            facts.coupon_presses[s.sid] = (presses, slides)
        _press_dead_button(s, presses, slides)
        cart_end = truth.dead_button
    else:
        cart_end = "/cart"
    if rng.random() < (truth.cart_exit_after_slow if slow else truth.cart_exit):
        s.flush()
        ended(cart_end)
        return slow
    s.click("button#checkout", "Checkout", rng.uniform(40, 120))

    s.page("/checkout/address", rng.lognormvariate(7.0, 0.3))
    s.step("address", rng.uniform(5_000, 30_000))
    visit = FormVisit()
    if facts is not None:
        facts.forms[s.sid] = visit
    revisits = 0
    while s.aside.random() < (truth.form_revisit_share if revisits == 0 else 0.3):
        # Typed a name and an e-mail address, went back to the cart, came back (some twice).
        revisits += 1
        visit.revisits = revisits
        s.event("form_start", n=FORM, tg=FORM_FIELDS[0])
        for field in FORM_FIELDS[:2]:
            filled = {"edits": 8, "dels": 0, "amends": 0, "filled": True, "hes": 300}
            s.event("form_field", n=FORM, tg=field, d=2500, p=filled)
        left = {"how": "page", "fields": ",".join(FORM_FIELDS[:2])}
        s.event("form_abandon", n=FORM, tg=FORM_FIELDS[1], d=6000, p=left)
        visit.typed = True
        visit.reached.update(FORM_FIELDS[:2])
        s.page("/cart", 900)
        s.click("button#checkout", "Checkout", 80, gap_ms=3000)
        s.page("/checkout/address", 1100)
    if not _fill_address(s, truth, visit):
        s.flush()
        ended(FORM)
        return slow

    s.page("/checkout/payment", rng.lognormvariate(7.0, 0.3))
    s.step("payment", rng.uniform(20_000, 60_000))
    harmed = s.variants[truth.harm_experiment] == "new"
    if rng.random() < truth.pay_exit + (truth.pay_harm if harmed else 0.0):
        s.flush()
        ended(f"{FUNNEL} / payment")
        return slow
    s.click("button#pay", "Pay now", rng.uniform(40, 150))
    if s.aside.random() >= truth.review_skip_share:
        s.page("/checkout/review", 900)
        s.step(OPTIONAL_STEP, 4_000)
        s.click("button#confirm", "Confirm order", 90, gap_ms=3000, aside=True)
    s.page("/checkout/done", rng.lognormvariate(6.8, 0.3))
    s.step("done", rng.uniform(2_000, 8_000))
    s.event("feedback", n="checkout", val=rng.choice((3, 4, 4, 5, 5)))
    s.flush()
    ended("checkout")
    return slow


def visitors(
    count: int,
    *,
    seed: int = 1,
    start: dt.datetime | None = None,
    truth: Truth | None = None,
    site: str = SITE,
    facts: Facts | None = None,
) -> Iterator[list[Envelope]]:
    """Each visitor's envelopes, sessions in order, starting at ``start`` (default 6 days
    ago); what was injected goes into ``facts``."""
    truth = truth or Truth()
    rng = random.Random(seed)
    begin = start or dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
    begin_ms = int(begin.timestamp() * 1000)
    assigned: dict[str, dict[str, str]] = {}
    for _ in range(count):
        vid = _uuid(rng) if rng.random() < 0.9 else None
        at = begin_ms + int(rng.uniform(0, 2 * 86_400_000))
        sessions: list[Envelope] = []
        for n in range(truth.max_sessions):
            s = _Session(rng, site, _uuid(rng), vid, at, truth.vitals_at_report)
            s.assigned = assigned
            met = _walk(s, truth, facts)
            sessions.extend(s.envelopes)
            back = truth.return_after_friction if met else truth.return_otherwise
            leaves = vid is None or rng.random() >= back
            if facts is not None:
                facts.returned[s.sid] = not leaves and n + 1 < truth.max_sessions
            if leaves:
                break
            at = s.now + int(rng.uniform(0.2, 1.0) * 86_400_000)
        yield sessions


@dataclasses.dataclass(frozen=True)
class Regulars:
    """An account page whose regulars both meet more friction and come back more.

    A visitor comes back within a day or two with a chance that grows with the visits made
    before (0.35, then 0.2 more a visit up to 0.9), and each visit is more likely to meet
    the slow order history and the slow wishlist (0.02, then 0.3 more a visit up to 0.9): a crude
    comparison credits friction with the regulars' loyalty. The order history costs no
    return; the wishlist truly costs ``wishlist_cost`` of them. The search box is slow only
    in the last ``recent_days`` before ``until`` and costs nothing, but those visits have
    had little time to be followed. One visit met the slow gift finder.
    """

    orders: str = "div.orders @ /account"
    wishlist: str = "div.wishlist @ /account"
    wishlist_cost: float = 0.15
    search: str = "div.search @ /account"
    recent_days: float = 3.0
    gift: str = "div.gift @ /account"
    max_sessions: int = 30


@dataclasses.dataclass
class RegularVisit:
    visitor: str
    prior: int
    met: set[str]
    returned: bool
    start_ms: int


def regulars(
    count: int,
    *,
    seed: int = 1,
    until: dt.datetime,
    days: float = 14.0,
    site: str = "account",
    truth: Regulars | None = None,
    facts: dict[str, RegularVisit] | None = None,
) -> Iterator[Envelope]:
    """The envelopes of ``count`` visitors of :class:`Regulars` over the ``days`` before
    ``until``; each session's facts go into ``facts`` by session id."""
    truth = truth or Regulars()
    rng = random.Random(seed)
    end_ms = int(until.timestamp() * 1000)
    begin_ms = end_ms - int(days * 86_400_000)
    recent_ms = end_ms - int(truth.recent_days * 86_400_000)
    gift_given = False
    for _ in range(count):
        vid = _uuid(rng)
        at = begin_ms + int(rng.uniform(0, (days - 1) * 86_400_000))
        for prior in range(truth.max_sessions):
            if at >= end_ms:
                break
            s = _Session(rng, site, _uuid(rng), vid, at)
            s.page("/account", rng.lognormvariate(7.0, 0.3))
            exposure = min(0.9, 0.02 + 0.3 * prior)
            met: set[str] = set()
            cues = [(truth.orders, exposure), (truth.wishlist, exposure)]
            cues.append((truth.search, 0.5 if s.now >= recent_ms else 0.0))
            cues.append((truth.gift, 0.0 if gift_given else 1.0))
            for moment, chance in cues:
                slow = rng.random() < chance
                if slow:
                    met.add(moment)
                d = rng.uniform(3000, 6000) if slow else rng.uniform(150, 600)
                s.event("loading", n="busy", tg=moment.split(" @ ")[0], d=round(d, 1))
            gift_given = True
            s.flush()
            yield from s.envelopes
            back = min(0.9, 0.35 + 0.2 * prior)
            if truth.wishlist in met:
                back -= truth.wishlist_cost
            returned = rng.random() < back
            if facts is not None:
                came_back = returned and prior + 1 < truth.max_sessions
                facts[s.sid] = RegularVisit(vid, prior, met, came_back, s._started)
            if not returned:
                break
            at = s.now + int(rng.uniform(0.2, 1.8) * 86_400_000)


def envelopes(count: int, **kwargs: Any) -> Iterator[Envelope]:
    for visitor in visitors(count, **kwargs):
        yield from visitor


def retimed(envelope: Envelope, sent_ms: int) -> Envelope:
    """The envelope as if sent at ``sent_ms``: its events keep their spacing."""
    shift = sent_ms - envelope["at"]
    events = [{**e, "ts": e["ts"] + shift} for e in envelope["e"]]
    return {**envelope, "at": sent_ms, "e": events}


def rows(
    envelope: Envelope, received_ms: int | None = None, user_agent: str = USER_AGENT
) -> list[Row]:
    """The ``microx.events`` rows the collector makes of one envelope (validated first),
    sent by a browser that says ``user_agent``."""
    verdict = judge(envelope)
    if verdict.rejected:
        raise ValueError(f"generated an invalid event: {verdict.rejected[0]}")
    received = envelope["at"] + 40 if received_ms is None else received_ms
    return enrich(verdict.envelope, verdict.accepted, received, user_agent)


def store_envelopes(
    store: Store,
    batch: Iterator[Envelope] | list[Envelope],
    user_agent: Callable[[Envelope], str] = lambda _: USER_AGENT,
) -> int:
    """Insert envelopes' rows in large columnar batches, each sent by a browser that says
    ``user_agent(envelope)``; return the number of rows."""
    pending: list[Row] = []
    total = 0

    def insert() -> None:
        nonlocal pending, total
        insert_rows(store, "events", EVENT_COLUMNS, pending)
        total += len(pending)
        pending = []

    for envelope in batch:
        pending.extend(rows(envelope, user_agent=user_agent(envelope)))
        if len(pending) >= 50_000:
            insert()
    if pending:
        insert()
    return total
