"""The friction report as one self-contained HTML file: plotly charts and the tables behind
them. plotly.js is inlined once, so the file opens anywhere, offline included."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from collector.read.analysis import (
    NEWS,
    RETURN_DAYS,
    SEGMENT_KEYS,
    VISITS,
    Analysis,
    GoalResult,
    Table,
    segment_pairs,
    summary,
)

LOADING_BUDGET_MS = 1000.0
# Ranked moments the served report links to example sessions of.
TOP_EXAMPLES = 10
_KIND_COLOURS = {
    "loading": "#d62728",
    "click": "#ff7f0e",
    "form": "#9467bd",
    "page": "#1f77b4",
    "vital": "#17becf",
    "step": "#2ca02c",
    "moment": "#8c564b",
    "error": "#7f7f7f",
}
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
  color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
pre.summary { background: #f6f6f6; padding: 1rem; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: 12px; margin: .5rem 0 1rem; }
td, th { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; } p.empty { color: #888; }
th { font-weight: 600; vertical-align: bottom; } div.scroll { overflow-x: auto; }
form.window { margin: 1rem 0; } form.window input { width: 11rem; }
form.window label { display: inline-block; margin: 0 .5rem .3rem 0; }
table.journey tr.peak td, table.journey tr.end td { background: #fff4e5; }
"""


def _plain(text: object) -> str:
    """A label as plotly shows it: as text. Plotly reads tags in labels, titles and hover
    text as its own markup (`<a href>` becomes a link, `<br>` a line break), and names,
    targets and steps come from pages; escaped, plotly shows the characters themselves."""
    return html.escape(str(text), quote=False)


def _chart(fig: go.Figure, chart_id: str) -> str:
    # The template is set on the figure's plain form, not through the figure: plotly copies
    # and validates every property of a template each time one is set by name, which took
    # most of the page's time (0.3 CPU-s of a report). Same keys, same order, same page.
    figure = fig.to_dict()
    figure["layout"] = {**figure["layout"], "template": _template(), **_LAYOUT}
    body: str = pio.to_html(
        figure, full_html=False, include_plotlyjs=False, div_id=chart_id, validate=False
    )
    return f'<div class="chart" data-chart="{chart_id}">{body}</div>'


# In the order plotly lays them out when it sets them itself.
_LAYOUT = {"margin": {"l": 40, "r": 20, "t": 50, "b": 40}, "height": 420}


@functools.cache
def _template() -> dict[str, Any]:
    # As plotly writes it into a figure (its own form of the template orders keys otherwise).
    template: dict[str, Any] = go.Figure(layout={"template": "plotly_white"}).to_dict()["layout"][
        "template"
    ]
    return template


# What a column is called in the report, where its name alone does not say it well.
_HEADERS = {
    "hurt_sessions": "sessions hurt",
    "hurt_sessions_before": "sessions hurt before",
    "hurt_rate": "share hurt",
    "hurt_rate_before": "share hurt before",
    "change": "change",
    "ci_low": "95 % CI from",
    "ci_high": "95 % CI to",
    "p_holm": "p (Holm)",
    "p_value": "p",
    "p_always_valid": "p (always valid)",
    "srm_p": "p (sample ratio)",
    "score": "cost (s)",
    "score_before": "cost before (s)",
    "cost_per_session_s": "cost per session (s)",
    "cost_per_session_s_before": "cost per session before (s)",
    "seconds_lost": "time lost (s)",
    "frustrated_sessions": "sessions frustrated",
    "avg_rating": "rating",
    "sessions_met": "sessions with friction",
    "sessions_not_met": "sessions without",
    "return_rate_met": "came back, with friction",
    "return_rate_not_met": "came back, without",
    "goal_rate_met": "goal met, with friction",
    "goal_rate_not_met": "goal met, without",
    "crude_difference": "crude difference",
    "feedback_p75_ms": "feedback p75 (ms)",
    "median_time_ms": "median time (ms)",
    "median_hesitation_ms": "median hesitation (ms)",
    "median_ms": "median since previous (ms)",
    "p75_ms": "p75 since previous (ms)",
    "last_share": "left after it",
    "share_of_abandons": "share of abandons",
    "focus_only": "left without typing",
    "form_focus_only": "form focused only",
    "avg_peak": "mean peak pain",
    "peak_end": "peak-end score",
    "worst_pain": "worst pain",
    "returning_share": "returning",
    "nps": "NPS",
    "nps_low": "NPS 95 % CI from",
    "nps_high": "NPS 95 % CI to",
    "times": "times",
    "share": "share",
}
# Shares of sessions (0-1), shown as percentages; differences of them, in points.
_RATES = {
    "hurt_rate",
    "hurt_rate_before",
    "return_rate_met",
    "return_rate_not_met",
    "goal_rate_met",
    "goal_rate_not_met",
    "goal_rate",
    "goal_rate_before",
    "repeat_share",
    "repeat_share_before",
    "frustration_rate",
    "abandon_rate",
    "conversion",
    "strict_conversion",
    "last_share",
    "share_of_abandons",
    "leave_rate",
}
_POINTS = {"change", "difference", "crude_difference", "ci_low", "ci_high", "repeat_change"}
_P_VALUES = {"p_value", "p_holm", "p_always_valid", "srm_p", "repeat_p_value"}
_MS = {
    "p50",
    "p75",
    "p95",
    "p75_before",
    "feedback_p75_ms",
    "median_time_ms",
    "median_hesitation_ms",
    "median_ms",
    "p75_ms",
    "duration_ms",
}
_SECONDS = {"score", "score_before", "seconds_lost"}
_YES_NO = {"significant", "confounded"}
# What each section's table shows (every column stays in the view, for SQL).
_SHOWN = {
    "moments": (
        "kind",
        "moment",
        "sessions",
        "hurt_sessions",
        "p75",
        "seconds_lost",
        "frustrated_sessions",
        "rage_clicks",
        "dead_clicks",
        "abandon_rate",
        "avg_rating",
        "score",
        "cost_per_session_s",
    ),
    "loading": ("cue", "sessions", "p50", "p75", "p95", "slow", "seconds_lost", "started_by"),
    "forms": (
        "form",
        "field",
        "abandons",
        "focus_only",
        "share_of_abandons",
        "reached",
        "leave_rate",
        "median_time_ms",
        "median_hesitation_ms",
        "invalid",
    ),
    "loyalty": (
        "moment",
        "sessions_met",
        "return_rate_met",
        "sessions_not_met",
        "return_rate_not_met",
        "difference",
        "ci_low",
        "ci_high",
        "crude_difference",
        "confounded",
        "p_holm",
        "significant",
    ),
    "goal": (
        "moment",
        "sessions_met",
        "goal_rate_met",
        "sessions_not_met",
        "goal_rate_not_met",
        "difference",
        "ci_low",
        "ci_high",
        "p_holm",
        "significant",
    ),
    "experiments": (
        "experiment",
        "variant",
        "control",
        "metric",
        "variant_units",
        "control_units",
        "mixed_units",
        "control_value",
        "variant_value",
        "difference",
        "ci_low",
        "ci_high",
        "p_always_valid",
        "p_holm",
        "srm_p",
        "verdict",
    ),
    "goal_changes": (
        "goal",
        "judged_sessions",
        "goal_rate_before",
        "goal_rate",
        "change",
        "ci_low",
        "ci_high",
        "p_value",
        "repeat_share_before",
        "repeat_share",
        "verdict",
    ),
    "changes": (
        "kind",
        "moment",
        "sessions",
        "hurt_rate_before",
        "hurt_rate",
        "change",
        "ci_low",
        "ci_high",
        "p_holm",
        "p75_before",
        "p75",
        "verdict",
    ),
}


def _header(column: str) -> str:
    return _HEADERS.get(column, column.replace("_", " "))


def _number(x: float) -> str:
    """A number without exponent or trailing zeros: 24,920, 0.512, 3.5."""
    text = f"{x:,.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _value(column: str, value: Any, row: dict[str, Any]) -> str:
    """One cell as a reader takes it: units, percentages, no nan or None."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if column in _YES_NO:
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return (" → " if column == "path" else ", ").join(map(str, value)) or "—"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    # An experiment's friction is a sum of pain, its goal a rate.
    rate_like = row.get("metric", "goal") == "goal"
    if column in _RATES or (
        column in ("control_value", "variant_value") and row.get("metric") == "goal"
    ):
        return f"{100 * value:.1f} %"
    if column in _POINTS and rate_like:
        return f"{100 * value:+.1f} pts"
    if column in _P_VALUES:
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if column in _MS:
        # A layout shift is a score, not a wait.
        return (
            f"{value:.3f}" if str(row.get("moment", "")).startswith("CLS") else f"{value:,.0f} ms"
        )
    if column in _SECONDS:
        return f"{value:,.1f} s"
    if column.startswith("cost_per_session_s"):
        return f"{value:,.2f} s"
    return f"{value:,}" if isinstance(value, int) else _number(value)


def _table(t: Table, limit: int = 15, shown: str = "") -> str:
    if not t.rows:
        return '<p class="empty">No data in this window.</p>'
    columns = [c for c in _SHOWN[shown] if c in t.columns] if shown else t.columns
    head = "".join(f"<th>{html.escape(_header(c))}</th>" for c in columns)
    body = []
    for row in t.dicts()[:limit]:
        cells = "".join(f"<td>{html.escape(_value(c, row[c], row))}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _trend(a: Analysis) -> go.Figure:
    """Each followed moment's share of sessions hurt, per day, over both periods."""
    fig = go.Figure(
        layout={
            "title": "Share of sessions hurt per day, this period and the one before",
            "yaxis_title": "sessions hurt",
            "yaxis_tickformat": ".0%",
        }
    )
    rows = a.trend.dicts()
    for moment in dict.fromkeys(r["moment"] for r in rows):
        mine = [r for r in rows if r["moment"] == moment]
        fig.add_trace(
            go.Scatter(
                x=[r["bucket"] for r in mine],
                y=[r["hurt_rate"] for r in mine],
                mode="lines+markers",
                name=_plain(moment),
            )
        )
    fig.add_vline(x=a.since.timestamp() * 1000, line_dash="dot")
    for note in a.annotations:
        fig.add_vline(
            x=note.at.timestamp() * 1000,
            line_color="#9467bd",
            annotation_text=_plain(note.text[:60]),
            annotation_textangle=-90,
        )
    return fig


def _changes(a: Analysis) -> str:
    verdict = a.changes.columns.index("verdict")
    news = Table(a.changes.columns, [r for r in a.changes.rows if r[verdict] in NEWS])
    parts = [_chart(_trend(a), "trend"), _table(news, limit=len(news), shown="changes")]
    goals = [g for g in a.goals if g.change["compared"]]
    if goals:
        columns = ["goal", *goals[0].change.keys()]
        rows = [(g.goal.name, *g.change.values()) for g in goals]
        parts.append("<h3>Goals</h3>" + _table(Table(columns, rows), shown="goal_changes"))
    for note in a.annotations:
        days = note.span.total_seconds() / 86_400
        parts.append(
            f"<h3>Change recorded {note.at:%Y-%m-%d %H:%M} UTC: {html.escape(note.text)}</h3>"
            f"<p>{days:.1f} days before it against {days:.1f} days after it"
            + (f", for {html.escape(note.moment)}" if note.moment else ", the costliest moments")
            + "</p>"
            + _table(note.changes, limit=len(note.changes), shown="changes")
        )
    return "".join(parts)


def _paths(a: Analysis) -> str:
    parts = []
    for trigger, title in (
        ("form_abandon", "Before leaving a form"),
        ("dead_click", "After a dead click"),
        ("rage_click", "After a rage click"),
    ):
        rows = [r for r in a.paths.rows if r[0] == trigger]
        if rows:
            parts.append(f"<h3>{title}</h3>" + _table(Table(a.paths.columns, rows), limit=10))
    for name, exits in a.funnel_exits.items():
        if exits.rows:
            parts.append(
                f"<h3>Last actions of sessions that did not finish {html.escape(name)}</h3>"
                + _table(exits)
            )
    return "".join(parts)


def _returns(a: Analysis) -> go.Figure:
    """Returning visitors' share per day and, where a site asks it, the net promoter score."""
    fig = go.Figure(
        layout={
            "title": "Returning visitors per day, and the net promoter score (95 % CI)",
            "yaxis": {"title": "returning visitors", "tickformat": ".0%"},
            "yaxis2": {"title": "NPS", "overlaying": "y", "side": "right", "range": [-100, 100]},
        }
    )
    days = a.returns.dicts()
    fig.add_trace(
        go.Scatter(
            x=[d["bucket"] for d in days],
            y=[d["returning_share"] for d in days],
            mode="lines+markers",
            name="returning visitors",
        )
    )
    answers = a.recommendation.dicts()
    if answers:
        fig.add_trace(
            go.Scatter(
                x=[d["bucket"] for d in answers],
                y=[d["nps"] for d in answers],
                error_y={
                    "type": "data",
                    "array": [d["nps_high"] - d["nps"] for d in answers],
                    "arrayminus": [d["nps"] - d["nps_low"] for d in answers],
                },
                mode="markers",
                name="net promoter score",
                yaxis="y2",
            )
        )
    return fig


def _journey_map(a: Analysis) -> str:
    """The key moments phase by phase, how each felt and what it costs; the moments most
    often a session's peak and its end are marked."""
    peak = max(a.journey, key=lambda k: k.peak_share)
    end = max(a.journey, key=lambda k: k.end_share)
    head = (
        "<tr><th>phase</th><th>key moment</th><th>sessions</th><th>share hurt</th>"
        "<th>cost per session (s)</th><th>goal with friction</th><th>rating</th>"
        "<th>since the period before</th><th>peak of</th><th>end of</th></tr>"
    )
    rows = []
    for k in a.journey:
        goal = (
            _value("difference", k.goal_difference, {})
            + (" (significant)" if k.goal_significant else "")
            if k.goal_difference is not None
            else "—"
        )
        moved = f"{k.verdict} {_value('change', k.change, {})}" if k.verdict in NEWS else k.verdict
        marks = [
            ("peak" if k is peak and k.peak_share else ""),
            ("end" if k is end and k.end_share else ""),
        ]
        cls = f' class="{" ".join(m for m in marks if m)}"' if any(marks) else ""
        cells = [
            k.phase,
            k.moment,
            f"{k.sessions:,}",
            _value("hurt_rate", k.hurt_rate, {}),
            _value("cost_per_session_s", k.cost_per_session_s, {}),
            goal,
            _value("avg_rating", k.rating, {}),
            moved or "—",
            _value("share", k.peak_share, {}),
            _value("share", k.end_share, {}),
        ]
        rows.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="journey"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _ranked(a: Analysis) -> go.Figure:
    top = [m for m in a.moments.dicts() if m["score"] > 0][:10][::-1]
    return go.Figure(
        go.Bar(
            x=[m["score"] for m in top],
            y=[_plain(f"{m['moment']} ({m['kind']})") for m in top],
            orientation="h",
            marker_color=[_KIND_COLOURS.get(m["kind"], "#999") for m in top],
            customdata=[
                [m["seconds_lost"], m["frustrated_sessions"], m["hurt_sessions"], m["sessions"]]
                for m in top
            ],
            hovertemplate="cost %{x} s<br>%{customdata[0]} s lost beyond budget"
            "<br>%{customdata[1]} sessions frustrated"
            "<br>%{customdata[2]} of %{customdata[3]} sessions hurt<extra></extra>",
        ),
        layout={
            "title": "Moments ranked by cost (s lost beyond budget + 10 s per frustrated session)",
            "xaxis_title": "seconds",
        },
    )


def _funnel(name: str, levels: Table) -> go.Figure:
    rows = levels.dicts()
    return go.Figure(
        go.Funnel(
            y=[_plain(r["step"]) for r in rows],
            x=[r["sessions"] for r in rows],
            textinfo="value+percent initial",
        ),
        layout={"title": _plain(f"Funnel {name!r} (steps reached by any path within a day)")},
    )


def _forms(a: Analysis) -> go.Figure:
    rows = a.forms.dicts()
    return go.Figure(
        go.Bar(
            x=[_plain(f"{r['form']}: {r['field']}") for r in rows],
            y=[r["abandons"] for r in rows],
            marker_color="#9467bd",
        ),
        layout={
            "title": "Where visitors left each form (the field focused last)",
            "yaxis_title": "sessions",
        },
    )


def _loading(a: Analysis) -> go.Figure:
    fig = go.Figure(layout={"title": "Loading-cue durations", "yaxis_title": "ms visible"})
    by_cue: dict[str, list[float]] = {}
    for cue, ms in a.loading_samples.rows:
        by_cue.setdefault(cue, []).append(ms)
    for cue, values in by_cue.items():
        fig.add_trace(go.Box(y=values, name=_plain(cue), boxpoints=False))
    fig.add_hline(
        y=LOADING_BUDGET_MS, line_dash="dot", annotation_text="budget", line_color="#d62728"
    )
    return fig


def _peak_end(a: Analysis) -> go.Figure:
    return go.Figure(
        go.Bar(
            x=[r[0] for r in a.peak_end.rows],
            y=[r[1] for r in a.peak_end.rows],
            marker_color="#1f77b4",
        ),
        layout={
            "title": "Sessions by peak-end score (0 = smooth, 1 = worst peak and worst end)",
            "xaxis_title": "peak-end score",
            "yaxis_title": "sessions",
        },
    )


def _loyalty(a: Analysis) -> go.Figure:
    rows = [r for r in a.loyalty.dicts() if r["difference"] is not None][:8]
    if not rows:
        fig = go.Figure(layout={"title": "Return rate after friction minus without"})
        fig.add_annotation(
            text=f"No session's {RETURN_DAYS}-day follow-up has ended in this window yet",
            showarrow=False,
        )
        return fig
    return go.Figure(
        go.Bar(
            x=[_plain(r["moment"]) for r in rows],
            y=[r["difference"] for r in rows],
            error_y={
                "type": "data",
                "array": [r["ci_high"] - r["difference"] for r in rows],
                "arrayminus": [r["difference"] - r["ci_low"] for r in rows],
            },
            marker_color=["#d62728" if r["significant"] else "#bbb" for r in rows],
        ),
        layout={
            "title": "Return rate after friction minus without, by prior visits (95 % CI;"
            " red: significant after Holm)",
            "yaxis_title": "difference in return rate",
        },
    )


def _goal_trend(g: GoalResult) -> go.Figure:
    """A goal's rate per day and, of the goals met by known visitors, the share of repeats."""
    days = g.trend.dicts()
    fig = go.Figure(
        layout={
            "title": _plain(f"{g.goal.name}: per day, this period and the one before"),
            "yaxis": {"title": "share", "tickformat": ".0%", "rangemode": "tozero"},
        }
    )
    for column, name in (("goal_rate", "goal rate"), ("repeat_share", "repeats")):
        fig.add_trace(
            go.Scatter(
                x=[d["bucket"] for d in days],
                y=[d[column] for d in days],
                mode="lines+markers",
                name=name,
            )
        )
    return fig


def _goals(a: Analysis) -> str:
    parts = []
    for i, g in enumerate(a.goals):
        rate = f"{100 * g.met / g.judged:.1f} %" if g.judged else "no session judged"
        c = g.change
        before = (
            f"; before {100 * c['goal_rate_before']:.1f} % ({c['verdict']})"
            if c["compared"]
            else ""
        )
        parts.append(
            f"<h3>{html.escape(g.goal.name)}: {html.escape(g.goal.describe())} — {rate}"
            f" of {g.judged} sessions{html.escape(before)}</h3>"
            + (_chart(_goal_trend(g), f"goal-{i}") if g.trend.rows else "")
            + _table(g.impact, shown="goal")
        )
    return "".join(parts) or '<p class="empty">No goal.</p>'


_VERDICT_COLOURS = {"better": "#2ca02c", "harm": "#d62728", "sample ratio mismatch": "#7f7f7f"}


def _experiments(a: Analysis) -> go.Figure:
    """Every experiment, each metric's difference with its interval, coloured by verdict."""
    rows = a.experiments.dicts()
    return go.Figure(
        go.Bar(
            x=[
                _plain(f"{r['experiment']}: {r['variant']} vs {r['control']}, {r['metric']}")
                for r in rows
            ],
            y=[r["difference"] for r in rows],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(r["ci_high"] or 0) - (r["difference"] or 0) for r in rows],
                "arrayminus": [(r["difference"] or 0) - (r["ci_low"] or 0) for r in rows],
            },
            marker_color=[_VERDICT_COLOURS.get(r["verdict"], "#bbb") for r in rows],
            text=[_plain(r["verdict"]) for r in rows],
        ),
        layout={
            "title": "Experiments: variant minus control (friction: lower is better;"
            " goal: higher is better), 95 % CI",
        },
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang=en><head><meta charset=utf-8><link rel=icon href="data:,">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


# What the served report's form offers for a segment's keys; the others are typed.
_CHOICES = {"device": ("", "desktop", "mobile", "tablet"), "visit": ("", *VISITS)}
_HINTS = {
    "browser": "Chrome",
    "os": "Android",
    "route": "/product/:id",
    "variant": "experiment/variant",
    "source": "google.com",
}


def _window_form(a: Analysis) -> str:
    """The served report's own controls: another site, window or segment is another GET."""
    fields = (
        ("site", a.site),
        ("since", f"{a.since:%Y-%m-%dT%H:%M}"),
        ("until", f"{a.until:%Y-%m-%dT%H:%M}"),
    )
    inputs = "".join(
        f'<label>{name} <input name="{name}" value="{html.escape(value)}"></label> '
        for name, value in fields
    )
    chosen = segment_pairs(a.segment)
    for key in SEGMENT_KEYS:
        value = chosen.get(key, "")
        if key in _CHOICES:
            options = "".join(
                f'<option value="{o}"{" selected" if o == value else ""}>{o or "all"}</option>'
                for o in _CHOICES[key]
            )
            inputs += f'<label>{key} <select name="{key}">{options}</select></label> '
        else:
            inputs += (
                f'<label>{key} <input name="{key}" value="{html.escape(value)}"'
                f' placeholder="{html.escape(_HINTS[key])}"></label> '
            )
    return f'<form class="window" method="get" action="report">{inputs}<button>Show</button></form>'


def _examples_links(a: Analysis) -> str:
    items = []
    for m in [m for m in a.moments.dicts() if m["score"] > 0][:TOP_EXAMPLES]:
        query = urlencode(
            {
                "site": a.site,
                "moment": m["moment"],
                "since": f"{a.since:%Y-%m-%dT%H:%M:%S}",
                "until": f"{a.until:%Y-%m-%dT%H:%M:%S}",
                **segment_pairs(a.segment),
            }
        )
        items.append(
            f'<li><a class="examples" href="report/examples?{html.escape(query)}">'
            f"{html.escape(m['moment'])}</a> ({m['hurt_sessions']} sessions hurt)</li>"
        )
    return f"<h3>Example sessions</h3><ul>{''.join(items)}</ul>" if items else ""


def render_examples(site: str, moment: str, since: str, until: str, found: Table) -> str:
    """The sessions a moment hurt, each a link to its timeline."""
    rows = []
    for r in found.dicts():
        query = urlencode({"site": site, "session": str(r["session_id"])})
        rows.append(
            f'<tr><td><a class="session" href="session?{html.escape(query)}">'
            f"{html.escape(str(r['session_id']))}</a></td>"
            f"<td>{_value('first_at', r['first_at'], r)}</td>"
            f"<td>{_value('worst_pain', r['worst_pain'], r)}</td>"
            f"<td>{r['occurrences']:,}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>session</th><th>first at</th><th>worst pain</th>"
        f"<th>occurrences</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="empty">No session was hurt there in this window.</p>'
    )
    note = f"<p>{html.escape(since)} to {html.escape(until)} UTC, site {html.escape(site)}</p>"
    return _page(f"Sessions hurt at {moment}", note + table)


def render_session(site: str, session: str, timeline: Table) -> str:
    """One session's moments in order, with their pain, as a chart and a table."""
    rows = timeline.dicts()
    fig = go.Figure(
        go.Scatter(
            x=[r["second"] for r in rows],
            y=[r["pain"] for r in rows],
            mode="markers",
            text=[_plain(f"{r['type']}: {r['moment']}") for r in rows],
            marker={"color": [_KIND_COLOURS.get(r["kind"], "#999") for r in rows], "size": 10},
            hovertemplate="%{text}<br>%{x} s, pain %{y}<extra></extra>",
        ),
        layout={
            "title": "The session's moments: seconds since its start, and how much each hurt",
            "xaxis_title": "seconds",
            "yaxis_title": "pain",
        },
    )
    shown = Table(timeline.columns[1:], [r[1:] for r in timeline.rows])
    body = (
        f"<p>site {html.escape(site)}, {len(rows)} moments</p>"
        + (_chart(fig, "timeline") if rows else "")
        + _table(shown, limit=len(shown))
    )
    return _page(f"Session {session}", body)


def render_html(a: Analysis, served: bool = False) -> str:
    """The whole report; charts are drawn by plotly.js in the browser. ``served``: the
    collector's page, with its window form and links to example sessions."""
    # A section with nothing in this window is left out; loyalty stays, saying why it is
    # empty (no follow-up has ended yet).
    sections: list[tuple[str, bool, Callable[[], str]]] = [
        ("Journey map", bool(a.journey), lambda: _journey_map(a)),
        ("What changed since the period before", bool(a.changes.rows), lambda: _changes(a)),
        (
            "Moments to fix first",
            bool(a.moments.rows),
            lambda: (
                _chart(_ranked(a), "ranked")
                + _table(a.moments, shown="moments")
                + (_examples_links(a) if served else "")
            ),
        ),
        (
            "Checkout funnels",
            bool(a.funnels),
            lambda: (
                "".join(
                    _chart(_funnel(n, t), f"funnel-{i}")
                    for i, (n, t) in enumerate(a.funnels.items())
                )
                + _table(a.funnel_steps)
            ),
        ),
        (
            "Form abandonment by field",
            bool(a.forms.rows),
            lambda: _chart(_forms(a), "forms") + _table(a.forms, shown="forms"),
        ),
        (
            "Loading cues",
            bool(a.loading.rows),
            lambda: _chart(_loading(a), "loading") + _table(a.loading, shown="loading"),
        ),
        ("Rage, dead and error clicks", bool(a.clicks.rows), lambda: _table(a.clicks)),
        (
            "Paths: before leaving, after a frustrated click",
            bool(a.paths.rows) or any(t.rows for t in a.funnel_exits.values()),
            lambda: _paths(a),
        ),
        (
            "Peak-end",
            bool(a.peak_end.rows),
            lambda: (
                _chart(_peak_end(a), "peak-end")
                + "<h3>Moments that were a session's peak</h3>"
                + _table(a.peak_moments)
            ),
        ),
        (
            "Goals: what friction costs in them",
            any(g.judged for g in a.goals),
            lambda: _goals(a),
        ),
        (
            "Loyalty impact",
            a.events > 0,
            lambda: _chart(_loyalty(a), "loyalty") + _table(a.loyalty, shown="loyalty"),
        ),
        (
            "Loyalty over time",
            bool(a.returns.rows) or bool(a.recommendation.rows),
            lambda: (
                _chart(_returns(a), "returns")
                + (_table(a.recommendation) if a.recommendation.rows else "")
            ),
        ),
        (
            "Experiments",
            bool(a.experiments.rows),
            lambda: (
                _chart(_experiments(a), "experiments")
                + _table(a.experiments, limit=len(a.experiments), shown="experiments")
            ),
        ),
    ]
    body = "".join(
        f"<h2>{html.escape(title)}</h2>{content()}" for title, shown, content in sections if shown
    )
    title = f"microx friction report: {a.site}" + (
        f" ({a.segment.replace('&', ', ')})" if a.segment else ""
    )
    form = _window_form(a) if served else ""
    return _page(title, f'{form}<pre class="summary">{html.escape(summary(a))}</pre>{body}')
