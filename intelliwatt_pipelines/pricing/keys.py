"""Bucket keys: ``kwh.m.<all|weekday|weekend>.<HHMM-HHMM|total>[.<SUMMER|WINTER|SHOULDER>]``.

A window holds the readings whose local (America/Chicago) start falls in [start, end); an overnight
window (start > end) wraps midnight. Day types: ``weekend`` is local Saturday and Sunday. A day-typed
overnight window counts a reading by the day type of the date the window *started* (START_DAY: Friday
20:00-Saturday 07:00 is a weekday night), so a TOU period's ``daysOfWeek`` are the days it starts on;
``all`` windows need no attribution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DAY_TYPES = ("all", "weekday", "weekend")
SEASONS = ("SUMMER", "WINTER", "SHOULDER")
MINUTES_PER_DAY = 1440
KEY_RE = re.compile(r"kwh\.m\.(all|weekday|weekend)\.(total|(\d{4})-(\d{4}))(?:\.(SUMMER|WINTER|SHOULDER))?")


@dataclass(frozen=True)
class BucketKey:
    """A parsed key. ``start``/``end`` are minutes after local midnight (end 1440 = 24:00); None for a total."""

    day_type: str = "all"
    start: int | None = None
    end: int | None = None
    season: str | None = None

    @property
    def is_total(self) -> bool:
        return self.start is None

    @property
    def overnight(self) -> bool:
        return self.start is not None and self.start > self.end

    def __str__(self) -> str:
        window = "total" if self.is_total else f"{hhmm(self.start)}-{hhmm(self.end)}"
        return f"kwh.m.{self.day_type}.{window}" + (f".{self.season}" if self.season else "")


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}{minutes % 60:02d}"


def minutes_of(text: str, *, end: bool) -> int:
    hours, minutes = int(text[:2]), int(text[2:])
    value = hours * 60 + minutes
    if minutes >= 60 or value > MINUTES_PER_DAY or (value == MINUTES_PER_DAY and not end):
        raise ValueError(f"bad time {text!r} in a bucket key (0000..2400, 2400 only as an end)")
    return value


def parse_key(key: str) -> BucketKey:
    """The key's parts; ValueError when it does not follow the grammar."""
    match = KEY_RE.fullmatch(key)
    if not match:
        raise ValueError(f"not a bucket key: {key!r}")
    day_type, _, start, end, season = match.groups()
    if start is None:
        return BucketKey(day_type, season=season)
    first, last = minutes_of(start, end=False), minutes_of(end, end=True)
    if first == last or (first == 0 and last == MINUTES_PER_DAY):
        raise ValueError(f"bucket key {key!r}: a whole day is `total`, an empty window is none")
    return BucketKey(day_type, first, last, season)


def window_key(day_type: str, start: int, end: int) -> str:
    """The key of a window given in minutes (a whole day is the ``total`` key)."""
    if (start, end) in ((0, MINUTES_PER_DAY), (0, 0)):
        return str(BucketKey(day_type))
    return str(BucketKey(day_type, start, end if end else MINUTES_PER_DAY))


TOTAL = "kwh.m.all.total"
CORE_MONTHLY_BUCKETS = (
    TOTAL, "kwh.m.weekday.total", "kwh.m.weekend.total",
    "kwh.m.all.2000-0700", "kwh.m.all.0700-2000",
    "kwh.m.weekday.2000-0700", "kwh.m.weekday.0700-2000",
    "kwh.m.weekend.2000-0700", "kwh.m.weekend.0700-2000",
)
