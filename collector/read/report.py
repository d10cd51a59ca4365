"""The friction report as one self-contained HTML file: plotly charts and the tables behind
them. plotly.js is inlined once, so the file opens anywhere, offline included."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from collector.read.analysis import NEWS, RETURN_DAYS, Analysis, Table, summary

LOADING_BUDGET_MS = 1000.0
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
"""


def _plain(text: object) -> str:
    """A label as plotly shows it: as text. Plotly reads tags in labels, titles and hover
    text as its own markup (`<a href>` becomes a link, `<br>` a line break), and names,
    targets and steps come from pages; escaped, plotly shows the characters themselves."""
    return html.escape(str(text), quote=False)


def _chart(fig: go.Figure, chart_id: str) -> str:
    fig.update_layout(
        template="plotly_white", height=420, margin={"l": 40, "r": 20, "t": 50, "b": 40}
    )
    body: str = fig.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id)
    return f'<div class="chart" data-chart="{chart_id}">{body}</div>'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:,.4g}"
    if isinstance(value, list | tuple):
        return html.escape(", ".join(map(str, value)))
    return html.escape(str(value))


def _table(t: Table, limit: int = 15) -> str:
    if not t.rows:
        return '<p class="empty">No data in this window.</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in t.rows[:limit]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


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
    return fig


def _changes(a: Analysis) -> str:
    verdict = a.changes.columns.index("verdict")
    news = Table(a.changes.columns, [r for r in a.changes.rows if r[verdict] in NEWS])
    return _chart(_trend(a), "trend") + _table(news, limit=len(news))


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


def _goals(a: Analysis) -> str:
    parts = []
    for g in a.goals:
        rate = f"{100 * g.met / g.judged:.1f} %" if g.judged else "no session judged"
        parts.append(
            f"<h3>{html.escape(g.goal.name)}: {html.escape(g.goal.describe())} — {rate}"
            f" of {g.judged} sessions</h3>" + _table(g.impact)
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


def render_html(a: Analysis) -> str:
    """The whole report; charts are drawn by plotly.js in the browser."""
    sections: list[tuple[str, str]] = [
        ("What changed since the period before", _changes(a)),
        ("Moments to fix first", _chart(_ranked(a), "ranked") + _table(a.moments)),
        (
            "Checkout funnels",
            "".join(
                _chart(_funnel(n, t), f"funnel-{i}") for i, (n, t) in enumerate(a.funnels.items())
            )
            + _table(a.funnel_steps),
        ),
        ("Form abandonment by field", _chart(_forms(a), "forms") + _table(a.forms)),
        ("Loading cues", _chart(_loading(a), "loading") + _table(a.loading)),
        ("Rage, dead and error clicks", _table(a.clicks)),
        (
            "Peak-end",
            _chart(_peak_end(a), "peak-end")
            + "<h3>Moments that were a session's peak</h3>"
            + _table(a.peak_moments),
        ),
        ("Goals: what friction costs in them", _goals(a)),
        ("Loyalty impact", _chart(_loyalty(a), "loyalty") + _table(a.loyalty)),
        (
            "Experiments",
            _chart(_experiments(a), "experiments")
            + _table(a.experiments, limit=len(a.experiments)),
        ),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>{content}" for title, content in sections)
    title = f"microx friction report: {a.site}"
    return (
        '<!doctype html><html lang=en><head><meta charset=utf-8><link rel=icon href="data:,">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<pre class="summary">{html.escape(summary(a))}</pre>{body}</body></html>'
    )
