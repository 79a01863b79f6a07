"""Markets: what a deployment's service points are called and which clock their days follow.

Texas (ERCOT, SMT) is the default: 17/22-digit ESIIDs, America/Chicago with its 92/100-slot DST days.
1PWR's minigrids (vendor-apis.md §3) use ``NNNNSSS`` account numbers (four digits and a three-letter site
code, e.g. ``0005MAK``) and clocks without daylight saving, so every day has 96 quarter-hours (24 hours).
A deployment picks one with ``INTELLIWATT_MARKET``; validation is the market's own, never weakened.
Pure: importing this pulls in only ``esiid``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from intelliwatt_pipelines.esiid import ESIID_IN_TEXT, ESIID_RE

MARKET_ENV = "INTELLIWATT_MARKET"
DEFAULT_MARKET = "texas"


@dataclass(frozen=True)
class Market:
    key: str
    timezone: str
    identity: re.Pattern  # a whole service point id
    identity_in_text: re.Pattern  # one inside a file name (group 1)
    identity_rule: str  # the rule as a person reads it in an error
    identity_name: str  # what a service point id is called there

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """A local day as [midnight, next midnight) in UTC."""
        start = dt.datetime.combine(day, dt.time(), self.zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone)
        return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)

    def expected_intervals(self, day: dt.date, interval_minutes: int = 15) -> int:
        """Intervals of ``interval_minutes`` in a local day: 96 quarter-hours, 92 or 100 on a DST day."""
        start, end = self.day_bounds(day)
        return int((end - start).total_seconds()) // (60 * interval_minutes)

    def id_in_text(self, text: str) -> str | None:
        found = self.identity_in_text.search(text)
        return found.group(1) if found else None


_ACCOUNT = re.compile(r"^[0-9]{4}[A-Z]{3}$")
_ACCOUNT_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])([0-9]{4}[A-Z]{3})(?![0-9A-Za-z])")


def _onepwr(key: str, timezone: str) -> Market:
    return Market(key, timezone, _ACCOUNT, _ACCOUNT_IN_TEXT, "NNNNSSS (4 digits and a 3-letter site code, e.g. 0005MAK)",
                  "account number")


MARKETS: dict[str, Market] = {
    "texas": Market("texas", "America/Chicago", ESIID_RE, ESIID_IN_TEXT, "17 or 22 digits", "ESIID"),
    "lesotho": _onepwr("lesotho", "Africa/Maseru"),
    "benin": _onepwr("benin", "Africa/Porto-Novo"),
    "zambia": _onepwr("zambia", "Africa/Lusaka"),
}


def market(key: str | None) -> Market:
    """The market named ``key`` (blank: Texas); ValueError names the known ones otherwise."""
    name = (key or DEFAULT_MARKET).strip().lower() or DEFAULT_MARKET
    if name not in MARKETS:
        raise ValueError(f"{MARKET_ENV}={key!r} is not a market: use one of {', '.join(MARKETS)}")
    return MARKETS[name]


def local_tz() -> str:
    """The time zone local days follow in this deployment (America/Chicago for Texas)."""
    return active().timezone


def active() -> Market:
    """This deployment's market, from ``INTELLIWATT_MARKET`` (read on each call, so a process that
    changes its environment, as tests do, sees the change)."""
    return market(os.environ.get(MARKET_ENV))
