"""policy: who may send what, for each of the two ingest endpoints.

A browser names a public site id and must come from an origin that site allows; junk it
sends is kept in ``rejected_events`` only when a configured site vouches for it. A back
end proves its site with a secret server key, so everything it sends is its site's.
``receive`` asks the sender's policy at the two points where they differ: whether the
named site may be written, and whose refused input it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from collector.ingest.ratelimit import RateLimiter
from collector.ingest.sites import SiteRegistry


@dataclasses.dataclass(frozen=True)
class Denial:
    """The answer to a request its policy refuses: its reason code, status and message."""

    reason: str
    status: int
    message: str


class Browser:
    """A page's request to ``/v1/events``, from ``origin`` (None: no Origin header)."""

    def __init__(
        self,
        sites: SiteRegistry,
        per_site: RateLimiter,
        origin: str | None,
        not_stored: Callable[[str], None],
    ) -> None:
        self._sites = sites
        self._per_site = per_site
        self._origin = origin
        self._not_stored = not_stored

    def admit(self, site: str) -> Denial | None:
        if site not in self._sites:
            return Denial("unknown_site", 403, f"unknown site {site!r}")
        if not self._sites.origin_allowed(site, self._origin):
            return Denial("origin_not_allowed", 403, f"origin not allowed for site {site!r}")
        return None

    def owner(self, named: str | None) -> str | None:
        """The configured site an unusable request is kept for, or None.

        Anyone can send junk; it is stored only when a site vouches for it: the site it
        names, from an origin that site allows (or no Origin: not a browser), or for an
        unreadable body, the site of its page origin. What is kept is charged to that
        site's rate limit; the rest is only counted, under the reason it was not kept."""
        owner = named if named is not None else self._sites.site_of_origin(self._origin)
        if named is not None and named not in self._sites:
            reason = "unknown_site"
        elif named is not None and not self._sites.origin_allowed(named, self._origin):
            reason = "origin_not_allowed"
        elif owner is None:
            reason = "no_site"
        elif self._per_site.take(owner):
            reason = "rate_limited_site"
        else:
            return owner
        self._not_stored(reason)
        return None


class Server:
    """A back end's request to ``/v1/server-events``, authenticated as ``site``'s."""

    def __init__(self, site: str) -> None:
        self.site = site

    def admit(self, site: str) -> Denial | None:
        if site != self.site:
            return Denial("key_site_mismatch", 403, f"the key is not for site {site!r}")
        return None

    def owner(self, named: str | None) -> str:
        return self.site


Policy = Browser | Server
