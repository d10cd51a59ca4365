"""Sites: a public site id (the snippet's write key) and the origins allowed to use it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from collector.ops.secrets import is_secret

DEMO_SITE = "demo"
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def parse_server_keys(spec: str) -> dict[str, str]:
    """Parse ``shop=mxsk_...,mxsk_...;blog=mxsk_...`` into a key -> site map."""
    keys: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        site_id, sep, values = part.partition("=")
        site_id = site_id.strip()
        if not sep or not _SITE_ID.match(site_id):
            raise ValueError("an entry is not 'site=key[,key...]' with a lower-case site id")
        for key in filter(None, (v.strip() for v in values.split(","))):
            # Never echo the key itself: this message may reach a log.
            if not is_secret(key):
                raise ValueError(f"site {site_id!r}: a key is not mxsk_ and 24-64 letters/digits")
            if key in keys:
                raise ValueError(f"site {site_id!r}: a key is listed twice")
            keys[key] = site_id
    return keys


@dataclasses.dataclass(frozen=True)
class Site:
    id: str
    origins: frozenset[str]


def parse_sites(spec: str) -> tuple[Site, ...]:
    """Parse ``shop=https://shop.example,https://www.shop.example;blog=https://blog.example``."""
    sites: list[Site] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        site_id, sep, origins = part.partition("=")
        site_id = site_id.strip()
        if not sep or not _SITE_ID.match(site_id):
            raise ValueError(f"{part!r} is not 'site=origin[,origin...]' with a lower-case site id")
        allowed = frozenset(o.strip().rstrip("/") for o in origins.split(",") if o.strip())
        for origin in allowed:
            if not _ORIGIN.match(origin):
                raise ValueError(f"site {site_id!r}: {origin!r} is not an origin like https://host")
        if any(s.id == site_id for s in sites):
            raise ValueError(f"site {site_id!r} is listed twice")
        sites.append(Site(site_id, allowed))
    return tuple(sites)


class SiteRegistry:
    """Answers which origins may send for which site; the demo site allows the collector's own."""

    def __init__(self, sites: Iterable[Site], own_origins: Iterable[str]) -> None:
        self._sites = {s.id: s for s in sites}
        if DEMO_SITE not in self._sites:
            self._sites[DEMO_SITE] = Site(DEMO_SITE, frozenset(own_origins))
        self._all_origins = frozenset(o for s in self._sites.values() for o in s.origins)

    def __contains__(self, site_id: object) -> bool:
        return site_id in self._sites

    def origin_allowed(self, site_id: str, origin: str | None) -> bool:
        # No Origin header means no browser made the request (curl, a backend): the site id
        # still has to exist, but there is no page origin to check.
        site = self._sites.get(site_id)
        return site is not None and (origin is None or origin in site.origins)

    def known_origin(self, origin: str) -> bool:
        """Whether any site allows this origin (a preflight does not yet say which site)."""
        return origin in self._all_origins

    def site_of_origin(self, origin: str | None) -> str | None:
        """The first site allowing this page origin, if any."""
        return next((s.id for s in self._sites.values() if origin in s.origins), None)
