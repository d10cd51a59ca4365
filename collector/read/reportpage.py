"""``GET /report``: the friction report of a running collector, behind the query token.

``?site=shop&since=7d&until=…`` (each optional: the busiest site, the last 7 days, until
now), and a segment's keys (``&device=mobile&visit=new``, docs/analysis.md "Segments"). A
browser asks for the token with its own password prompt (any user name).
``/report/examples?site=&moment=&since=&until=`` lists the sessions a moment hurt, and
``/report/session?site=&session=`` shows one session's timeline.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from collector.ingest.sites import DEMO_SITE
from collector.read.analysis import SEGMENT_KEYS, Table, analyse, parse_window, segment_of
from collector.read.goals import Goal
from collector.read.journey import Phase
from collector.read.query import QueriesBusy, QueryService
from collector.read.report import render_examples, render_html, render_session

DEFAULT_SINCE = "7d"
NO_STORE = {"cache-control": "no-store"}


def _segment(given: Mapping[str, str]) -> str:
    """The segment a request's own parameters name (``?device=mobile&visit=new``)."""
    return segment_of({k: given[k] for k in SEGMENT_KEYS if k in given})


class ReportPage:
    def __init__(
        self,
        queries: QueryService,
        goals: dict[str, tuple[Goal, ...]] | None = None,
        journeys: dict[str, tuple[Phase, ...]] | None = None,
    ) -> None:
        self._queries = queries
        self._goals = goals or {}
        self._journeys = journeys or {}

    async def serve(self, request: Request) -> Response:
        refused = self._queries.door(request)
        if refused is not None:
            return refused
        given = request.query_params
        try:
            since, until = parse_window(given.get("since", DEFAULT_SINCE), given.get("until", ""))
            # The segment's keys are parameters of their own (?device=mobile&visit=new).
            segment = _segment(given)
        except ValueError as exc:
            return PlainTextResponse(str(exc), 400)
        site = request.query_params.get("site", "")
        try:
            page = await self._render(site, since, until, segment)
        except QueriesBusy:
            return PlainTextResponse(
                "too many analysts' queries at once; retry", 429, headers={"retry-after": "2"}
            )
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    async def _render(
        self, site: str, since: dt.datetime, until: dt.datetime, segment: str = ""
    ) -> str:
        if not site:
            _, rows = await self._queries.query(
                "SELECT site FROM microx.events WHERE event_time >= {since:DateTime64(3, 'UTC')}"
                " GROUP BY site ORDER BY count() DESC LIMIT 1",
                {"since": since},
            )
            # No events yet: the report of the demo site says so, rather than an error page.
            site = str(rows[0][0]) if rows else DEMO_SITE
        goals, journey = self._goals.get(site, ()), self._journeys.get(site, ())
        return await self._queries.call(
            lambda: render_html(
                analyse(self._queries.open().query, site, since, until, goals, journey, segment),
                served=True,
            )
        )

    async def examples(self, request: Request) -> Response:
        refused = self._queries.door(request)
        if refused is not None:
            return refused
        given = request.query_params
        site, moment = given.get("site", ""), given.get("moment", "")
        try:
            since, until = parse_window(given.get("since", DEFAULT_SINCE), given.get("until", ""))
            segment = _segment(given)
        except ValueError as exc:
            return PlainTextResponse(str(exc), 400)
        if not site or not moment:
            return PlainTextResponse("give the site and the moment: ?site=…&moment=…", 400)
        params = {
            "site": site,
            "moment": moment,
            "since": since.astimezone(dt.UTC).replace(tzinfo=None),
            "until": until.astimezone(dt.UTC).replace(tzinfo=None),
            "segment": segment,
        }
        found = await self._answer(
            "SELECT * FROM microx.moment_examples_in(site = {site:String},"
            " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
            " moment = {moment:String}, segment = {segment:String})",
            params,
        )
        if isinstance(found, Response):
            return found
        window = (f"{since:%Y-%m-%d %H:%M}", f"{until:%Y-%m-%d %H:%M}")
        return HTMLResponse(render_examples(site, moment, *window, found), headers=NO_STORE)

    async def session(self, request: Request) -> Response:
        refused = self._queries.door(request)
        if refused is not None:
            return refused
        site, session = (
            request.query_params.get("site", ""),
            request.query_params.get("session", ""),
        )
        try:
            session = str(uuid.UUID(session))
        except ValueError:
            return PlainTextResponse("session: expected a session id (a UUID)", 400)
        timeline = await self._answer(
            "SELECT * FROM microx.session_timeline(site = {site:String},"
            " session = {session:String})",
            {"site": site, "session": session},
        )
        if isinstance(timeline, Response):
            return timeline
        return HTMLResponse(render_session(site, session, timeline), headers=NO_STORE)

    async def _answer(self, sql: str, params: dict[str, object]) -> Table | Response:
        try:
            columns, rows = await self._queries.query(sql, params)
        except QueriesBusy:
            return PlainTextResponse(
                "too many analysts' queries at once; retry", 429, headers={"retry-after": "2"}
            )
        return Table(columns, rows)
