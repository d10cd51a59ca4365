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
from collections.abc import Callable
from typing import Any

from collector.read.goals import GOAL_PARAMS, Goal, default_goals

Rows = tuple[list[str], list[tuple[Any, ...]]]
Query = Callable[[str, dict[str, Any]], Rows]

WINDOW = "site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')}"
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
    goals: list[GoalResult] = dataclasses.field(default_factory=list)

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
    return _table(query, f"SELECT * FROM microx.{view}({WINDOW}{binds}) {tail}", {**params, **more})


def _goal(query: Query, goal: Goal, params: dict[str, Any]) -> GoalResult:
    p = {**params, **goal.params()}
    _, ((judged, met),) = query(
        f"SELECT countIf(judged), countIf(judged AND met)"
        f" FROM microx.session_goals({WINDOW}, {GOAL_PARAMS})",
        p,
    )
    impact = _table(query, f"SELECT * FROM microx.goal_impact({WINDOW}, {GOAL_PARAMS})", p)
    return GoalResult(goal, int(judged), int(met), impact)


def analyse(
    query: Query,
    site: str,
    since: dt.datetime,
    until: dt.datetime,
    goals: tuple[Goal, ...] = (),
) -> Analysis:
    """Run every section of the report for one site and time window, judging its visits on
    ``goals`` (when none, each funnel's last step and a return within a week)."""
    params: dict[str, Any] = {
        "site": site,
        "since": since.astimezone(dt.UTC).replace(tzinfo=None),
        "until": until.astimezone(dt.UTC).replace(tzinfo=None),
    }
    _, ((sessions, events),) = query(
        "SELECT uniq(session_id), count() FROM microx.events WHERE site = {site:String}"
        " AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}",
        params,
    )
    steps = _view(query, "funnel_steps", params)
    funnels: dict[str, Table] = {}
    for name in dict.fromkeys(r["funnel"] for r in steps.dicts()):
        order = [r["step"] for r in steps.dicts() if r["funnel"] == name][:FUNNEL_MAX_STEPS]
        funnels[name] = _table(
            query,
            f"SELECT * FROM microx.funnel({WINDOW}, funnel = {{funnel:String}},"
            " steps = {steps:Array(String)}, window_s = {window:UInt32})",
            {**params, "funnel": name, "steps": order, "window": FUNNEL_WINDOW_S},
        )
    before = params["since"] - (params["until"] - params["since"])
    changes = _table(
        query,
        f"SELECT * FROM microx.moment_changes({WINDOW}, before = {{before:DateTime('UTC')}})",
        {**params, "before": before},
    )
    moments = _view(query, "friction_by_moment", params)
    followed = [r["moment"] for r in changes.dicts() if r["verdict"] in NEWS]
    followed += [m["moment"] for m in moments.dicts() if m["score"] > 0][:TREND_TOP]
    trend = _table(
        query,
        "SELECT * FROM microx.moment_trend(site = {site:String},"
        " since = {before:DateTime('UTC')}, until = {until:DateTime('UTC')}, bucket = 'day')"
        " WHERE moment IN {followed:Array(String)}",
        {**params, "before": before, "followed": list(dict.fromkeys(followed))},
    )
    # Experiments are judged on the first goal, the site's primary one.
    judged = goals or default_goals({n: [r["step"] for r in t.dicts()] for n, t in funnels.items()})
    return Analysis(
        site=site,
        since=since,
        until=until,
        sessions=int(sessions),
        events=int(events),
        moments=moments,
        loading=_view(query, "slowest_loading_cues", params),
        loading_samples=_table(
            query,
            "SELECT concat(if(name IN ('', 'busy', 'progressbar'), target, name), ' @ ', path)"
            " AS cue, duration_ms FROM microx.events WHERE site = {site:String}"
            " AND type = 'loading' AND event_time >= {since:DateTime('UTC')}"
            " AND event_time < {until:DateTime('UTC')} AND isNotNull(duration_ms)"
            f" ORDER BY cityHash64(event_id) LIMIT {LOADING_SAMPLE} BY cue",
            params,
        ),
        clicks=_view(query, "click_targets", params, f"LIMIT {TOP}"),
        forms=_view(query, "form_abandonment", params),
        funnel_steps=steps,
        funnels=funnels,
        peak_end=_table(
            query,
            f"SELECT round(peak_end, 1) AS peak_end, count() AS sessions"
            f" FROM microx.session_peak_end({WINDOW}) GROUP BY peak_end ORDER BY peak_end",
            params,
        ),
        peak_moments=_table(
            query,
            f"SELECT peak_moment, count() AS sessions, round(avg(peak), 3) AS avg_peak"
            f" FROM microx.session_peak_end({WINDOW}) WHERE peak > 0"
            f" GROUP BY peak_moment ORDER BY sessions DESC LIMIT {TOP}",
            params,
        ),
        loyalty=_view(query, "loyalty_impact", params, days=RETURN_DAYS),
        experiments=_table(
            query,
            f"SELECT * FROM microx.experiment_results({WINDOW}, {GOAL_PARAMS})",
            {**params, **judged[0].params()},
        ),
        changes=changes,
        trend=trend,
        goals=[_goal(query, goal, params) for goal in judged],
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _points(x: float) -> str:
    """A difference of two rates, in percentage points."""
    return f"{100 * x:+.1f} pts"


def _changed(a: Analysis) -> list[str]:
    """What changed since the period before, regressions first."""
    before = f"{a.before:%Y-%m-%d %H:%M} to {a.since:%Y-%m-%d %H:%M}"
    lines = ["", f"What changed since the period before ({before}):"]
    if not any(r["sessions_before"] for r in a.changes.dicts()):
        return [*lines, "  nothing to compare: no visits in the period before"]
    rows = [r for r in a.changes.dicts() if r["verdict"] in ("regression", "improvement")]
    for r in rows[:TOP]:
        lines.append(
            f"  {r['verdict'].upper() if r['verdict'] == 'regression' else r['verdict']}:"
            f" [{r['kind']}] {r['moment']} hurt {_pct(r['hurt_rate'])} of "
            f"{r['sessions']} sessions, before {_pct(r['hurt_rate_before'])} of "
            f"{r['sessions_before']} ({_points(r['change'])}, 95 % CI "
            f"{_points(r['ci_low'])} to {_points(r['ci_high'])})"
        )
    new = [r for r in a.changes.dicts() if r["verdict"] == "new" and r["hurt_sessions"] > 0]
    for r in new[:TOP]:
        lines.append(
            f"  new: [{r['kind']}] {r['moment']} (not reached before) hurt "
            f"{_pct(r['hurt_rate'])} of {r['sessions']} sessions"
        )
    if not rows and not new:
        lines.append("  nothing: no moment got significantly better or worse")
    return lines


def summary(a: Analysis) -> str:
    """The report's findings as text, most important first."""
    when = f"{a.since:%Y-%m-%d %H:%M} to {a.until:%Y-%m-%d %H:%M} UTC"
    lines = [f"microx report for {a.site!r}, {when}: {a.sessions} sessions, {a.events} events"]
    if not a.events:
        return lines[0] + "\nNo events in this window."
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
                f"sample ratio mismatch ({any_row['variant_sessions']} against "
                f"{any_row['control_sessions']} sessions, p = {any_row['srm_p']:.2g}): "
                "the split is broken, nothing is judged"
            ]
        lines.append(f"  {key[0]!r}: {key[2]} vs {key[1]}: " + "; ".join(parts))
    return "\n".join(lines)
