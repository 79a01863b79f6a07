"""Times in: ISO-8601 with an offset, or without one meaning the market's local time (America/Chicago
in Texas). Times out: UTC with ``Z`` plus the local time with its offset, so a DST day reads
unambiguously."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.api.errors import ApiError

UTC = dt.timezone.utc


def local_zone() -> ZoneInfo:
    """The zone local days and offset-less times are read in (the deployment's market)."""
    return ZoneInfo(markets.local_tz())


def _example() -> str:
    clock = "Central time" if markets.local_tz() == "America/Chicago" else f"{markets.local_tz()} time"
    return f"e.g. 2025-11-02, 2025-11-02T01:30 ({clock}) or 2025-11-02T07:30:00Z"


def _bad(name: str, why: str) -> ApiError:
    return ApiError(422, "invalid_parameter", f"{name}: {why} ({_example()})")


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(UTC)


def _localize(value: dt.datetime, name: str) -> dt.datetime:
    """A wall-clock time in local time. The repeated hour of a fall-back day means its first
    occurrence (give an offset for the second); a time skipped by spring-forward is rejected."""
    zone = local_zone()
    aware = value.replace(tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != value:
        raise _bad(name, f"{value.isoformat()} does not exist in {zone.key} (skipped by daylight saving)")
    return aware.astimezone(UTC)


YEARS = (1970, 2200)  # far wider than any meter data; keeps arithmetic and databases in range


def parse_instant(value: str | None, name: str, *, end: bool = False) -> dt.datetime | None:
    """An instant from a query value. A bare date is that local day's midnight; as an ``end`` it
    means the whole day is included (the next local midnight)."""
    if value is None or value == "":
        return None
    instant = _parse_instant(value, name, end)
    if not YEARS[0] <= instant.year <= YEARS[1]:
        raise _bad(name, f"years {YEARS[0]}..{YEARS[1]} only")
    return instant


def _parse_instant(value: str, name: str, end: bool) -> dt.datetime:
    text = value.strip()
    if len(text) <= 10:
        try:
            day = dt.date.fromisoformat(text)
            if not YEARS[0] <= day.year <= YEARS[1]:
                raise _bad(name, f"years {YEARS[0]}..{YEARS[1]} only")
        except ValueError:
            raise _bad(name, "not a date or time") from None
        return local_midnight(day + dt.timedelta(days=1) if end else day)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
        if not YEARS[0] <= parsed.year <= YEARS[1]:
            raise _bad(name, f"years {YEARS[0]}..{YEARS[1]} only")
    except ValueError:
        raise _bad(name, "not an ISO-8601 date or time") from None
    if parsed.tzinfo is None:
        return _localize(parsed, name)
    return parsed.astimezone(UTC)


def parse_day(value: str | None, name: str) -> dt.date | None:
    """A local day from a query value: a date, or the local day an instant falls on."""
    instant = parse_instant(value, name)
    return None if instant is None else instant.astimezone(local_zone()).date()


def check_window(start: dt.datetime | None, end: dt.datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "invalid_parameter", "end must be after start")
