"""``GET /report``: the friction report of a running collector, behind the query token.

``?site=shop&since=7d`` (both optional: the busiest site, the last 7 days). A browser
asks for the token with its own password prompt (any user name).
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from collector.ingest.sites import DEMO_SITE
from collector.read.analysis import analyse, parse_window
from collector.read.goals import Goal
from collector.read.query import QueriesBusy, QueryService
from collector.read.report import render_html

DEFAULT_SINCE = "7d"


class ReportPage:
    def __init__(
        self, queries: QueryService, goals: dict[str, tuple[Goal, ...]] | None = None
    ) -> None:
        self._queries = queries
        self._goals = goals or {}

    async def serve(self, request: Request) -> Response:
        refused = self._queries.door(request)
        if refused is not None:
            return refused
        given = request.query_params
        try:
            since, until = parse_window(given.get("since", DEFAULT_SINCE), given.get("until", ""))
        except ValueError as exc:
            return PlainTextResponse(str(exc), 400)
        site = request.query_params.get("site", "")
        try:
            page = await self._render(site, since, until)
        except QueriesBusy:
            return PlainTextResponse(
                "too many analysts' queries at once; retry", 429, headers={"retry-after": "2"}
            )
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    async def _render(self, site: str, since: dt.datetime, until: dt.datetime) -> str:
        if not site:
            _, rows = await self._queries.query(
                "SELECT site FROM microx.events WHERE event_time >= {since:DateTime64(3, 'UTC')}"
                " GROUP BY site ORDER BY count() DESC LIMIT 1",
                {"since": since},
            )
            # No events yet: the report of the demo site says so, rather than an error page.
            site = str(rows[0][0]) if rows else DEMO_SITE
        goals = self._goals.get(site, ())
        return await self._queries.call(
            lambda: render_html(analyse(self._queries.open().query, site, since, until, goals))
        )
