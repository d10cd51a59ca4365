"""Goals: what a site's visits are for, as the views take them (``microx.session_goals``).

A site declares them in ``MICROX_GOALS``::

    shop=purchase:step:checkout/done,returned:return:7,happy:rating:checkout>=4;blog=...

one ``name:kind:what`` each: ``step:FUNNEL/STEP`` (the session took that step),
``moment:NAME`` (it recorded that named moment), ``return:DAYS`` (the visitor came back
within DAYS days), ``rating:NAME>=N`` (it rated NAME at least N; judged where it rated).
A site that declares none is judged on each funnel's last step and a return within 7 days.
"""

from __future__ import annotations

import dataclasses
import re

KINDS = ("step", "moment", "return", "rating")
DEFAULT_RETURN_DAYS = 7
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_RATING = re.compile(r"^(.+?)\s*>=\s*(-?\d+(?:\.\d+)?)$")


@dataclasses.dataclass(frozen=True)
class Goal:
    name: str
    kind: str
    # The views' parameters: what it is about, its step, its horizon, its least rating.
    subject: str = ""
    target: str = ""
    days: int = 0
    rating: float = 0.0

    def params(self) -> dict[str, str | int | float]:
        return {
            "goal": self.kind,
            "goal_name": self.subject,
            "goal_target": self.target,
            "goal_days": self.days,
            "goal_rating": self.rating,
        }

    def spec(self) -> tuple[str, str, str, int, float]:
        """The goal as the ``_each`` views take it, one of their ``goals``."""
        return (self.kind, self.subject, self.target, self.days, self.rating)

    def describe(self) -> str:
        return {
            "step": f"took step {self.target!r} of {self.subject!r}",
            "moment": f"recorded the moment {self.subject!r}",
            "return": f"came back within {self.days} days",
            "rating": f"rated {self.subject!r} at least {self.rating:g}",
        }[self.kind]


# How a view takes a goal's parameters (bound as values, never written into the SQL).
GOAL_PARAMS = (
    "goal = {goal:String}, name = {goal_name:String}, target = {goal_target:String},"
    " days = {goal_days:UInt32}, rating = {goal_rating:Float64}"
)


def parse_goal(text: str) -> Goal:
    name, _, rest = text.strip().partition(":")
    kind, _, what = rest.partition(":")
    if not _NAME.match(name):
        raise ValueError(f"goal name {name!r}: letters, digits, '.', '_' or '-', at most 64")
    if kind not in KINDS:
        raise ValueError(f"goal {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    what = what.strip()
    if kind == "step":
        funnel, _, step = what.partition("/")
        if not funnel or not step:
            raise ValueError(f"goal {name!r}: step:FUNNEL/STEP, got {what!r}")
        return Goal(name, kind, funnel, step)
    if kind == "moment":
        if not what:
            raise ValueError(f"goal {name!r}: moment:NAME")
        return Goal(name, kind, what)
    if kind == "return":
        if not what.isdigit() or not 0 < int(what) <= 365:
            raise ValueError(f"goal {name!r}: return:DAYS with 1-365 days, got {what!r}")
        return Goal(name, kind, days=int(what))
    match = _RATING.match(what)
    if not match:
        raise ValueError(f"goal {name!r}: rating:NAME>=N, got {what!r}")
    return Goal(name, kind, match[1], rating=float(match[2]))


def parse_goals(text: str) -> dict[str, tuple[Goal, ...]]:
    """``site=goal,goal;site=goal`` into each site's goals."""
    goals: dict[str, tuple[Goal, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        site, sep, rest = part.partition("=")
        if not sep or not site.strip():
            raise ValueError(f"expected SITE=GOAL,GOAL, got {part!r}")
        parsed = tuple(parse_goal(g) for g in rest.split(",") if g.strip())
        names = [g.name for g in parsed]
        if len(set(names)) != len(names):
            raise ValueError(f"site {site.strip()!r} names a goal twice")
        goals[site.strip()] = parsed
    return goals


def default_goals(funnels: dict[str, list[str]]) -> tuple[Goal, ...]:
    """Each funnel's last step, and coming back within DEFAULT_RETURN_DAYS."""
    found = [Goal(f"{f} completed", "step", f, steps[-1]) for f, steps in funnels.items() if steps]
    return (*found, Goal("returned", "return", days=DEFAULT_RETURN_DAYS))
