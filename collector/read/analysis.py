"""From stored micro-interactions to "fix this moment first": the report's queries.

Every number here comes from the views in ``schema/views`` (see docs/analysis.md);
this module only picks the time window, runs them and summarises the answers. It takes
any function that runs a query, so the same analysis runs on the embedded store, on a
ClickHouse server, or inside the collector on its read-only connection.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from collector.read.goals import GOAL_PARAMS, Goal, default_goals
from collector.read.journey import Phase
from collector.sink.migrations import without_segment

Rows = tuple[list[str], list[tuple[Any, ...]]]
Query = Callable[[str, dict[str, Any]], Rows]

# Every view is read over the report's segment (docs/analysis.md, "Segments"): the `_in`
# form of each, with segment = '' for every visitor.
WINDOW = (
    "site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
    " segment = {segment:String}"
)
_SPAN = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FUNNEL_MAX_STEPS = 10
# What microx_frustration_s() returns (schema/views/functions.sql), for the summary's legend.
FRUSTRATION_S = 10.0
FUNNEL_WINDOW_S = 86_400
# The follow-up horizon of loyalty: another session within this many days.
RETURN_DAYS = 7
TOP = 10
# The verdicts of microx.moment_changes a review opens with, and how many ranked moments
# the trend follows besides.
NEWS = ("regression", "improvement", "new")
TREND_TOP = 5
PATHS_TOP = 5
# The feedback a site asks "how likely are you to recommend us" with, on a 0-10 scale.
RECOMMEND = "recommend"
# Each side of an annotated change the report compares.
ANNOTATION_SPAN = dt.timedelta(days=7)
LOADING_SAMPLE = 2_000


@dataclasses.dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


@dataclasses.dataclass(frozen=True)
class GoalResult:
    goal: Goal
    judged: int
    met: int
    # microx.goal_impact: per moment, the goal rate with and without its friction.
    impact: Table
    # microx.goal_changes: this period against the one before (one row), and
    # microx.goal_trend per day over both (the goal rate and its repeats).
    change: dict[str, Any]
    trend: Table


@dataclasses.dataclass(frozen=True)
class KeyMoment:
    """One key moment of the journey map, with what the report knows of it."""

    phase: str
    moment: str
    sessions: int
    hurt_rate: float | None
    cost_per_session_s: float | None
    # The primary goal's rate with friction here minus without (microx.goal_impact).
    goal_difference: float | None
    goal_significant: bool
    rating: float | None
    # Against the period before (microx.moment_changes).
    change: float | None
    verdict: str
    # Shares of the window's sessions whose peak, and whose end, was this moment.
    peak_share: float
    end_share: float


@dataclasses.dataclass(frozen=True)
class Annotated:
    """A change recorded in the window, and its moments before it against after it."""

    at: dt.datetime
    text: str
    moment: str
    # How long each side of it is: up to a week, no further than the window's end.
    span: dt.timedelta
    # microx.moment_changes of [at, at + span) against [at - span, at), for the moment it
    # names or else the costliest ones.
    changes: Table


@dataclasses.dataclass(frozen=True)
class Analysis:
    site: str
    since: dt.datetime
    until: dt.datetime
    sessions: int
    events: int
    moments: Table
    loading: Table
    loading_samples: Table
    clicks: Table
    forms: Table
    funnel_steps: Table
    funnels: dict[str, Table]
    peak_end: Table
    peak_moments: Table
    loyalty: Table
    experiments: Table
    # microx.moment_changes against the period of the same length before ``since``, and
    # microx.moment_trend per day over both, for the moments that changed or rank first.
    changes: Table
    trend: Table
    # microx.paths: the actions around each abandonment and frustrated click; per funnel,
    # microx.funnel_exit_paths: where the sessions that never finished it went last.
    paths: Table
    funnel_exits: dict[str, Table]
    # Per day over this period and the one before: microx.return_trend, and
    # microx.recommendation_trend of the feedback named RECOMMEND (0-10).
    returns: Table
    recommendation: Table
    goals: list[GoalResult] = dataclasses.field(default_factory=list)
    annotations: list[Annotated] = dataclasses.field(default_factory=list)
    # The site's journey map (collector.read.journey), phase by phase.
    journey: list[KeyMoment] = dataclasses.field(default_factory=list)
    # The commonest last moments of sessions (session_peak_end's end_moment).
    end_moments: Table = Table([], [])
    # The visitors the report is over ('' for all): microx.segment_sessions's segment.
    segment: str = ""

    @property
    def before(self) -> dt.datetime:
        """Where the period compared with this one starts (it ends at ``since``)."""
        return self.since - (self.until - self.since)


def parse_since(text: str, now: dt.datetime | None = None, option: str = "--since") -> dt.datetime:
    """``7d``, ``24h``, ``30m``, ``2w`` before now, or an ISO date or time (UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    match = _SPAN.match(text.strip().lower())
    if match:
        return now - dt.timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{option}: expected a span like 7d, 24h or 30m, or an ISO date, got {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# What a segment can name (microx_segment_known, schema/views/functions.sql), in the
# order the report names them.
SEGMENT_KEYS = ("device", "browser", "os", "route", "visit", "variant", "source")
VISITS = ("new", "returning")


def segment_of(given: Mapping[str, str]) -> str:
    """The segment of the given keys' non-empty values (``key=value&...``, as the views take
    it); raises ValueError, saying what is known, on any other key or a malformed value."""
    unknown = sorted(set(given) - set(SEGMENT_KEYS))
    if unknown:
        raise ValueError(f"unknown segment key {unknown[0]!r}: known are {', '.join(SEGMENT_KEYS)}")
    pairs = []
    for key in SEGMENT_KEYS:
        value = given.get(key, "").strip()
        if not value:
            continue
        if "&" in value or "=" in value:
            raise ValueError(f"a segment's {key} holds neither '&' nor '=': {value!r}")
        if key == "visit" and value not in VISITS:
            raise ValueError(f"visit is new or returning, not {value!r}")
        if key == "variant" and "/" not in value.strip("/"):
            raise ValueError(f"variant is EXPERIMENT/VARIANT, not {value!r}")
        pairs.append(f"{key}={value}")
    return "&".join(pairs)


def segment_pairs(segment: str) -> dict[str, str]:
    """A checked segment's keys and values (``segment_of``'s answer read back)."""
    return dict(pair.split("=", 1) for pair in segment.split("&") if pair)


def parse_segment(text: str) -> str:
    """``text`` (``device=mobile&visit=new``) as a checked segment; '' is everyone."""
    given: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split("&"))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"a segment is key=value pairs joined by '&', not {pair!r}")
        if key.strip() in given:
            raise ValueError(f"segment key {key.strip()!r} given twice")
        given[key.strip()] = value
    return segment_of(given)


def parse_window(
    since: str, until: str = "", now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The window [since, until): ``until`` is now when empty, else as ``since`` reads
    (a span before now or an ISO date), and ``since`` a span before ``until``."""
    now = now or dt.datetime.now(dt.UTC)
    end = parse_since(until, now, "--until") if until.strip() else now
    start = parse_since(since, end)
    if start >= end:
        raise ValueError(
            f"--since ({start:%Y-%m-%d %H:%M}) must come before --until ({end:%Y-%m-%d %H:%M})"
        )
    return start, end


def _everyone(query: Query) -> Query:
    return lambda sql, params: query(without_segment(sql), params)


def _table(query: Query, sql: str, params: dict[str, Any]) -> Table:
    columns, rows = query(sql, params)
    return Table(columns, rows)


def _view(
    query: Query, view: str, params: dict[str, Any], tail: str = "", **more: int | str
) -> Table:
    """``view`` over the window; ``more`` are its other parameters, bound as values."""
    binds = "".join(
        f", {k} = {{{k}:{'UInt32' if isinstance(v, int) else 'String'}}}" for k, v in more.items()
    )
    return _table(
        query, f"SELECT * FROM microx.{view}_in({WINDOW}{binds}) {tail}", {**params, **more}
    )


# Every goal judged in one reading of the sessions per view (the `_each` views): each
# reading merges every session of the window again, and the engine analyses the views again.
_GOALS = "goals = {goals:Array(Tuple(String, String, String, UInt32, Float64))}"


def _goals(query: Query, goals: tuple[Goal, ...], params: dict[str, Any]) -> list[GoalResult]:
    """``params`` hold the window and ``before``, where the period compared with it starts."""
    if not goals:
        return []
    p = {**params, "goals": [goal.spec() for goal in goals]}
    changes = _table(
        query,
        f"SELECT * FROM microx.goal_changes_each_in({WINDOW}, before = {{before:DateTime('UTC')}},"
        f" {_GOALS})",
        p,
    )
    impacts = _table(query, f"SELECT * FROM microx.goal_impact_each_in({WINDOW}, {_GOALS})", p)
    trends = _table(
        query,
        "SELECT * FROM microx.goal_trend_each_in(site = {site:String},"
        " segment = {segment:String},"
        f" since = {{before:DateTime('UTC')}}, until = {{until:DateTime('UTC')}}, bucket = 'day',"
        f" {_GOALS})",
        p,
    )
    found = []
    for index, goal in enumerate(goals, 1):
        (change,) = _of_goal(changes, index).dicts()
        found.append(
            GoalResult(
                goal,
                int(change["judged_sessions"]),
                int(change["met_sessions"]),
                _of_goal(impacts, index),
                change,
                _of_goal(trends, index),
            )
        )
    return found


def _of_goal(table: Table, index: int) -> Table:
    """Goal ``index``'s rows of an ``_each`` view, as the view for it alone gives them."""
    rows = [r[1:] for r in table.rows if r[0] == index]
    # An empty answer carries no column names (as the store gives one).
    return Table(table.columns[1:] if rows else [], rows)


def _annotated(query: Query, params: dict[str, Any], costliest: list[str]) -> list[Annotated]:
    _, notes = query(
        "SELECT at, text, moment FROM microx.annotations FINAL WHERE site = {site:String}"
        " AND at >= {since:DateTime('UTC')} AND at < {until:DateTime('UTC')} ORDER BY at, id",
        params,
    )
    until: dt.datetime = params["until"]
    found = []
    for at, text, moment in notes:
        # The views take whole seconds.
        at = at.replace(tzinfo=None, microsecond=0)
        span = min(ANNOTATION_SPAN, until - at)
        changes = _table(
            query,
            "SELECT * FROM microx.moment_changes_in(site = {site:String},"
            " segment = {segment:String},"
            " since = {at:DateTime('UTC')}, until = {after:DateTime('UTC')},"
            " before = {before:DateTime('UTC')}) WHERE moment IN {moments:Array(String)}",
            {
                "site": params["site"],
                "segment": params["segment"],
                "at": at,
                "after": at + span,
                "before": at - span,
                "moments": [moment] if moment else costliest,
            },
        )
        found.append(Annotated(at.replace(tzinfo=dt.UTC), text, moment, span, changes))
    return found


# The peak-end distribution, the commonest peaks (of sessions with any pain) and the
# commonest ends, from one reading of microx.session_peak_end: each reading merges every
# session of the window again, and the engine analyses the view again.
_PEAK_END = f"""
SELECT
    arraySort(groupArrayIf((key_score, sessions), set = 0)),
    arraySlice(arraySort(r -> (-r.2, r.1),
        groupArrayIf((key_moment, sessions, avg_peak), set = 1 AND sessions > 0)), 1, {TOP}),
    arraySlice(arraySort(r -> (-r.2, r.1), groupArrayIf((key_moment, sessions), set = 2)), 1, {TOP})
FROM
(
    SELECT
        multiIf(grouping(score) = 0, 0, grouping(peak_moment) = 0, 1, 2) AS set,
        any(score) AS key_score,
        if(set = 1, any(peak_moment), any(end_moment)) AS key_moment,
        if(set = 1, countIf(peak > 0), count()) AS sessions,
        round(avgIf(peak, peak > 0), 3) AS avg_peak
    FROM
    (
        SELECT round(peak_end, 1) AS score, peak_moment, end_moment, peak
        FROM microx.session_peak_end_in({WINDOW})
    )
    GROUP BY GROUPING SETS ((score), (peak_moment), (end_moment))
)
"""


def _peak_end(query: Query, params: dict[str, Any]) -> tuple[Table, Table, Table]:
    _, ((scores, peaks, ends),) = query(_PEAK_END, params)
    # An empty answer carries no column names (as the store gives one).
    return (
        Table(["peak_end", "sessions"] if scores else [], list(scores)),
        Table(["peak_moment", "sessions", "avg_peak"] if peaks else [], list(peaks)),
        Table(["end_moment", "sessions"] if ends else [], list(ends)),
    )


def _journey(
    phases: tuple[Phase, ...],
    moments: Table,
    changes: Table,
    impact: Table,
    peaks: dict[str, int],
    ends: dict[str, int],
    sessions: int,
) -> list[KeyMoment]:
    ranked = {m["moment"]: m for m in moments.dicts()}
    moved = {c["moment"]: c for c in changes.dicts()}
    costs = {g["moment"]: g for g in impact.dicts()}
    found = []
    for phase, names in phases:
        for name in names:
            m, c, g = ranked.get(name, {}), moved.get(name, {}), costs.get(name, {})
            reached = int(m.get("sessions", 0))
            found.append(
                KeyMoment(
                    phase=phase,
                    moment=name,
                    sessions=reached,
                    hurt_rate=m["hurt_sessions"] / reached if reached else None,
                    cost_per_session_s=m.get("cost_per_session_s"),
                    goal_difference=g.get("difference"),
                    goal_significant=bool(g.get("significant")),
                    rating=m.get("avg_rating"),
                    change=c.get("change"),
                    verdict=str(c.get("verdict", "")),
                    peak_share=peaks.get(name, 0) / sessions if sessions else 0.0,
                    end_share=ends.get(name, 0) / sessions if sessions else 0.0,
                )
            )
    return found


def analyse(
    query: Query,
    site: str,
    since: dt.datetime,
    until: dt.datetime,
    goals: tuple[Goal, ...] = (),
    journey: tuple[Phase, ...] = (),
    segment: str = "",
) -> Analysis:
    """Run every section of the report for one site and time window, judging its visits on
    ``goals`` (when none, each funnel's last step and a return within a week); over the
    visitors of ``segment`` only (``key=value&...``, see ``microx.segment_sessions``)."""
    params: dict[str, Any] = {
        "site": site,
        "since": since.astimezone(dt.UTC).replace(tzinfo=None),
        "until": until.astimezone(dt.UTC).replace(tzinfo=None),
        "segment": segment,
    }
    if not segment:
        # Every visitor: the views' twins without the segment (collector.sink.migrations),
        # whose look-ups of the segment's sessions the engine would analyse on every query.
        query = _everyone(query)
    # In a segment: its sessions, and all their events in the window.
    _, ((sessions, events),) = query(
        "SELECT uniq(session_id), count() FROM microx.events WHERE site = {site:String}"
        " AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}"
        " AND ({segment:String} = '' OR session_id IN (SELECT session_id FROM"
        " microx.segment_sessions(site = {site:String}, since = {since:DateTime('UTC')},"
        " until = {until:DateTime('UTC')}, segment = {segment:String}, whole = 1)))",
        params,
    )
    steps = _view(query, "funnel_steps", params)
    funnels: dict[str, Table] = {}
    for name in dict.fromkeys(r["funnel"] for r in steps.dicts()):
        order = [r["step"] for r in steps.dicts() if r["funnel"] == name][:FUNNEL_MAX_STEPS]
        funnels[name] = _table(
            query,
            f"SELECT * FROM microx.funnel_in({WINDOW}, funnel = {{funnel:String}},"
            " steps = {steps:Array(String)}, window_s = {window:UInt32})",
            {**params, "funnel": name, "steps": order, "window": FUNNEL_WINDOW_S},
        )
    before = params["since"] - (params["until"] - params["since"])
    changes = _table(
        query,
        f"SELECT * FROM microx.moment_changes_in({WINDOW}, before = {{before:DateTime('UTC')}})",
        {**params, "before": before},
    )
    moments = _view(query, "friction_by_moment", params)
    followed = [r["moment"] for r in changes.dicts() if r["verdict"] in NEWS]
    followed += [m["moment"] for m in moments.dicts() if m["score"] > 0][:TREND_TOP]
    trend = _table(
        query,
        "SELECT * FROM microx.moment_trend_in(site = {site:String},"
        " segment = {segment:String},"
        " since = {before:DateTime('UTC')}, until = {until:DateTime('UTC')}, bucket = 'day')"
        " WHERE moment IN {followed:Array(String)}",
        {**params, "before": before, "followed": list(dict.fromkeys(followed))},
    )
    # Experiments are judged on the first goal, the site's primary one.
    judged = goals or default_goals({n: [r["step"] for r in t.dicts()] for n, t in funnels.items()})
    goal_results = _goals(query, judged, {**params, "before": before})
    peak_end, peak_moments, end_moments = _peak_end(query, params)
    key_moments = _journey(
        journey,
        moments,
        changes,
        goal_results[0].impact if goal_results else Table([], []),
        {str(r[0]): int(r[1]) for r in peak_moments.rows},
        {str(r[0]): int(r[1]) for r in end_moments.rows},
        int(sessions),
    )
    return Analysis(
        site=site,
        since=since,
        until=until,
        sessions=int(sessions),
        events=int(events),
        moments=moments,
        loading=_view(query, "slowest_loading_cues", params),
        loading_samples=_view(query, "loading_samples", params, per=LOADING_SAMPLE),
        clicks=_view(query, "click_targets", params, f"LIMIT {TOP}"),
        forms=_view(query, "form_abandonment", params),
        funnel_steps=steps,
        funnels=funnels,
        peak_end=peak_end,
        peak_moments=peak_moments,
        loyalty=_view(query, "loyalty_impact", params, days=RETURN_DAYS),
        experiments=_table(
            query,
            f"SELECT * FROM microx.experiment_results_in({WINDOW}, {GOAL_PARAMS})",
            {**params, **judged[0].params()},
        ),
        changes=changes,
        trend=trend,
        paths=_view(query, "paths", params),
        returns=_table(
            query,
            "SELECT * FROM microx.return_trend_in(site = {site:String},"
            " segment = {segment:String},"
            " since = {before:DateTime('UTC')}, until = {until:DateTime('UTC')}, bucket = 'day')",
            {**params, "before": before},
        ),
        recommendation=_table(
            query,
            "SELECT * FROM microx.recommendation_trend_in(site = {site:String},"
            " segment = {segment:String},"
            " since = {before:DateTime('UTC')}, until = {until:DateTime('UTC')}, bucket = 'day',"
            " name = {name:String})",
            {**params, "before": before, "name": RECOMMEND},
        ),
        funnel_exits={
            name: _table(
                query,
                f"SELECT * FROM microx.funnel_exit_paths_in({WINDOW}, funnel = {{funnel:String}},"
                f" last_step = {{last:String}}) LIMIT {PATHS_TOP}",
                {**params, "funnel": name, "last": table.dicts()[-1]["step"]},
            )
            for name, table in funnels.items()
            if table.rows
        },
        goals=goal_results,
        annotations=_annotated(
            query, params, [m["moment"] for m in moments.dicts() if m["score"] > 0][:TREND_TOP]
        ),
        journey=key_moments,
        end_moments=end_moments,
        segment=segment,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _points(x: float) -> str:
    """A difference of two rates, in percentage points."""
    return f"{100 * x:+.1f} pts"


def _map(a: Analysis) -> list[str]:
    """The journey map, phase by phase: how each key moment felt and what it costs."""
    if not a.journey:
        return []
    peak = max(a.journey, key=lambda k: k.peak_share)
    end = max(a.journey, key=lambda k: k.end_share)
    lines = ["", "Journey map (key moments in the visitor's order):"]
    phase = ""
    for k in a.journey:
        if k.phase != phase:
            phase = k.phase
            lines.append(f"  {phase}")
        if not k.sessions:
            lines.append(f"    {k.moment}: not reached in this window")
            continue
        parts = [f"{k.sessions} sessions", f"{_pct(k.hurt_rate or 0)} hurt"]
        if k.cost_per_session_s:
            parts.append(f"{k.cost_per_session_s:.2f} s per session")
        if k.goal_difference is not None and k.goal_significant:
            parts.append(f"goal {_points(k.goal_difference)} with friction")
        if k.rating is not None and k.rating == k.rating:
            parts.append(f"rated {k.rating:.2f}")
        if k.verdict in NEWS:
            parts.append(f"{k.verdict} {_points(k.change or 0)}")
        marks = [
            m
            for m, hit in (("PEAK", k is peak and k.peak_share), ("END", k is end and k.end_share))
            if hit
        ]
        lines.append(
            f"    {k.moment}: {', '.join(parts)}" + (f" [{' '.join(marks)}]" if marks else "")
        )
    return lines


def _changed(a: Analysis) -> list[str]:
    """What changed since the period before, regressions first."""
    before = f"{a.before:%Y-%m-%d %H:%M} to {a.since:%Y-%m-%d %H:%M}"
    lines = ["", f"What changed since the period before ({before}):"]
    compared = any(r["sessions_before"] for r in a.changes.dicts())
    if not compared:
        lines.append("  nothing to compare: no visits in the period before")
    rows = [r for r in a.changes.dicts() if compared and r["verdict"] in NEWS[:2]]
    for r in rows[:TOP]:
        lines.append(
            f"  {r['verdict'].upper() if r['verdict'] == 'regression' else r['verdict']}:"
            f" [{r['kind']}] {r['moment']} hurt {_pct(r['hurt_rate'])} of "
            f"{r['sessions']} sessions, before {_pct(r['hurt_rate_before'])} of "
            f"{r['sessions_before']} ({_points(r['change'])}, 95 % CI "
            f"{_points(r['ci_low'])} to {_points(r['ci_high'])})"
        )
    new = [
        r for r in a.changes.dicts() if compared and r["verdict"] == "new" and r["hurt_sessions"]
    ]
    for r in new[:TOP]:
        lines.append(
            f"  new: [{r['kind']}] {r['moment']} (not reached before) hurt "
            f"{_pct(r['hurt_rate'])} of {r['sessions']} sessions"
        )
    if compared and not rows and not new:
        lines.append("  nothing: no moment got significantly better or worse")
    for g in a.goals:
        c = g.change
        if not c["compared"]:
            continue
        verdict = c["verdict"]
        repeats = (
            f"; repeats {_pct(c['repeat_share'])} of goals met by known visitors, before"
            f" {_pct(c['repeat_share_before'])}"
            if c["met_by_visitors"] and c["met_by_visitors_before"]
            else ""
        )
        lines.append(
            f"  {verdict.upper() if verdict == 'regression' else verdict}: goal {g.goal.name!r}"
            f" {_pct(c['goal_rate'])} of {c['judged_sessions']} sessions, before"
            f" {_pct(c['goal_rate_before'])} of {c['judged_sessions_before']}"
            f" ({_points(c['change'])}, 95 % CI {_points(c['ci_low'])} to"
            f" {_points(c['ci_high'])}){repeats}"
        )
    for note in a.annotations:
        days = note.span.total_seconds() / 86_400
        lines.append(
            f"  change recorded {note.at:%Y-%m-%d %H:%M}: {note.text!r}"
            f" ({days:.1f} days before it against {days:.1f} days after)"
        )
        for r in note.changes.dicts():
            if r["sessions"] and r["sessions_before"]:
                lines.append(
                    f"    {r['moment']}: hurt {_pct(r['hurt_rate_before'])} before,"
                    f" {_pct(r['hurt_rate'])} after ({_points(r['change'])}, 95 % CI"
                    f" {_points(r['ci_low'])} to {_points(r['ci_high'])}): {r['verdict']}"
                )
            else:
                lines.append(f"    {r['moment']}: not reached on both sides")
        if not note.changes.rows:
            lines.append(f"    {note.moment or 'no moment'}: not reached on either side")
    return lines


def _paths(a: Analysis) -> list[str]:
    """What came of frustrated clicks, and where leavers were before they left."""
    lines: list[str] = []
    outcomes: dict[tuple[str, str], dict[str, int]] = {}
    for r in a.paths.dicts():
        if r["trigger"] in ("rage_click", "dead_click"):
            tally = outcomes.setdefault((r["trigger"], r["subject"]), {})
            tally[r["outcome"]] = tally.get(r["outcome"], 0) + r["times"]
    for (trigger, subject), tally in list(outcomes.items())[:PATHS_TOP]:
        total = sum(tally.values())
        parts = ", ".join(
            f"{_pct(n / total)} {outcome}"
            for outcome, n in sorted(tally.items(), key=lambda x: -x[1])
        )
        lines.append(f"  after a {trigger.replace('_', ' ')} on {subject}: {parts}")
    for name, exits in a.funnel_exits.items():
        if exits.rows:
            path, sessions, share = exits.rows[0]
            lines.append(
                f"  left funnel {name!r} most after {' > '.join(path)}"
                f" ({sessions} sessions, {_pct(share)} of those that did not finish)"
            )
    return ["", "Paths:", *lines] if lines else []


def summary(a: Analysis) -> str:
    """The report's findings as text, most important first."""
    when = f"{a.since:%Y-%m-%d %H:%M} to {a.until:%Y-%m-%d %H:%M} UTC"
    who = f", segment {a.segment.replace('&', ', ')}" if a.segment else ""
    lines = [f"microx report for {a.site!r}{who}, {when}: {a.sessions} sessions, {a.events} events"]
    if not a.events:
        return lines[0] + "\nNo events in this window."
    lines += _map(a)
    lines += _changed(a)
    lines += [
        "",
        "Moments to fix first (cost = seconds lost beyond budget"
        f" + {FRUSTRATION_S:g} s per frustrated session):",
    ]
    ranked = [m for m in a.moments.dicts() if m["score"] > 0][:5]
    for i, m in enumerate(ranked, 1):
        parts = []
        if m["seconds_lost"]:
            parts.append(f"{m['seconds_lost']:,.1f} s lost beyond budget")
        if m["frustrated_sessions"]:
            parts.append(f"{m['frustrated_sessions']} sessions frustrated")
        lines.append(
            f"  {i}. [{m['kind']}] {m['moment']}: cost {m['score']:,.1f} s "
            f"({', '.join(parts)}; {m['cost_per_session_s']:.2f} s per session reaching it, "
            f"{m['hurt_sessions']} of {m['sessions']} hurt)"
        )
    if not ranked:
        lines.append("  none: no moment met friction")
    forms = [f for f in a.forms.dicts() if f["abandons"] > 0]
    if forms:
        f = forms[0]
        lines += [
            "",
            f"Form abandonment: {f['form']!r} is left most at field {f['field']!r} "
            f"({f['abandons']} sessions stopped there: {_pct(f['share_of_abandons'])} of the "
            f"form's abandoned sessions, {_pct(f['leave_rate'])} of those that reached the "
            f"field, {f['focus_only']} without typing into the form)",
        ]
        if f["form_focus_only"]:
            lines.append(
                f"  {f['form_focus_only']} of its {f['form_sessions']} sessions focused it "
                "and never typed"
            )
    for name, levels in a.funnels.items():
        rows = levels.dicts()
        if rows:
            path = " > ".join(
                f"{r['step']} {_pct(r['conversion'])}"
                + (f" (skipped by {r['skipped']})" if r["skipped"] else "")
                for r in rows
            )
            last = rows[-1]
            lines += [
                "",
                f"Funnel {name!r} (reached by any path): {path}",
                f"  {last['step']} in strict order: {_pct(last['strict_conversion'])}",
            ]
    lines += _paths(a)
    for g in a.goals:
        if not g.judged:
            continue
        lines += [
            "",
            f"Goal {g.goal.name!r} ({g.goal.describe()}): {_pct(g.met / g.judged)} of "
            f"{g.judged} sessions",
        ]
        costly = [r for r in g.impact.dicts() if r["significant"] and r["difference"] < 0][:3]
        for r in costly:
            lines.append(
                f"  friction at {r['moment']}: {_pct(r['goal_rate_met'])} with it, "
                f"{_pct(r['goal_rate_not_met'])} without ({_points(r['difference'])}, 95 % CI "
                f"{_points(r['ci_low'])} to {_points(r['ci_high'])})"
            )
        if not costly:
            lines.append("  no friction significantly lowers it")
    returning = [r for r in a.loyalty.dicts() if r["significant"]][:3]
    if returning:
        lines += ["", f"Loyalty (another visit within {RETURN_DAYS} days, by prior visits):"]
        for r in returning:
            lines.append(
                f"  after friction at {r['moment']} {_pct(r['return_rate_met'])} came back, "
                f"otherwise {_pct(r['return_rate_not_met'])}; among visitors of the same "
                f"prior visits {_points(r['difference'])} (95 % CI {_points(r['ci_low'])} to "
                f"{_points(r['ci_high'])})"
                + (
                    f": the crude {_points(r['crude_difference'])} is who meets it, not what"
                    " it does"
                    if r["confounded"]
                    else ""
                )
            )
    results = a.experiments.dicts()
    if results:
        goal = a.goals[0].goal.name if a.goals else "goal"
        lines += ["", f"Experiments (on friction and on {goal!r}; always-valid, Holm-corrected):"]
    for key in dict.fromkeys((e["experiment"], e["control"], e["variant"]) for e in results):
        by_metric = {
            e["metric"]: e for e in results if (e["experiment"], e["control"], e["variant"]) == key
        }
        parts = []
        for metric, label in (("friction", "friction per session"), ("goal", goal)):
            e = by_metric.get(metric)
            if e is None:
                continue
            shown = _pct if metric == "goal" else "{:.3f}".format
            parts.append(
                f"{label} {shown(e['variant_value'])} vs {shown(e['control_value'])}: "
                f"{e['verdict'].upper() if e['verdict'] == 'harm' else e['verdict']}"
                + (f" (p = {e['p_holm']:.2g})" if e["p_holm"] is not None else "")
            )
        any_row = next(iter(by_metric.values()))
        if any_row["verdict"] == "sample ratio mismatch":
            parts = [
                f"sample ratio mismatch ({any_row['variant_units']} against "
                f"{any_row['control_units']} visitors, p = {any_row['srm_p']:.2g}): "
                "the split is broken, nothing is judged"
            ]
        if any_row["mixed_units"]:
            parts.append(f"{any_row['mixed_units']} visitors saw both and are left out")
        lines.append(f"  {key[0]!r}: {key[2]} vs {key[1]}: " + "; ".join(parts))
    return "\n".join(lines)
