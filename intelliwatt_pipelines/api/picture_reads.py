"""Queries behind the pictures and the status page: plain rows in, plain data out.

A home's day is as bad as its worst series (the same rule as the Dagster day metadata): the
calendar takes, per local day, the series with the worst status and then the lowest completeness.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.pictures import CalendarDay
from intelliwatt_pipelines.api.timeparams import local_midnight, local_zone
from intelliwatt_pipelines.cdm.meter_roles import excluded_meters
from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, usage_interval

dc, ui = daily_completeness.c, usage_interval.c
STATUS_RANK = {"complete": 0, "partial": 1, "gaps": 2}
MAX_DAYS = 400  # a picture covers at most this many days (about 10,000 heatmap cells)
FAILED = ("failed", "quarantined")


def data_range(conn: sa.Connection, esiid: str) -> tuple[dt.date, dt.date]:
    """First and last local day with a completeness row; 404 when the home has none."""
    first, last = conn.execute(sa.select(sa.func.min(dc.local_date), sa.func.max(dc.local_date))
                               .where(dc.esiid == esiid)).one()
    if first is None:
        raise ApiError(404, "not_found", "no usage is stored for this ESIID")
    return first, last


def window(data: tuple[dt.date, dt.date], start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The days to draw: [start, end] as given, else the home's data range, at most MAX_DAYS (the
    latest ones when the range is longer)."""
    span = dt.timedelta(days=MAX_DAYS - 1)
    if start and end:
        if end < start:
            raise ApiError(422, "invalid_parameter", "end must not be before start")
        if end - start > span:
            raise ApiError(422, "invalid_parameter", f"at most {MAX_DAYS} days per picture")
        return start, end
    if start:
        return start, max(start, min(data[1], start + span))
    last = end or data[1]
    return min(last, max(data[0], last - span)), last


def home_days(conn: sa.Connection, esiid: str, first: dt.date, last: dt.date) -> list[CalendarDay]:
    """Per local day in [first, last] that has rows: the worst series' status and intervals."""
    rows = conn.execute(sa.select(dc.local_date, dc.status, dc.completeness, dc.actual_intervals,
                                  dc.expected_intervals)
                        .where(dc.esiid == esiid, dc.local_date >= first, dc.local_date <= last)).all()
    worst: dict[dt.date, tuple] = {}
    count: dict[dt.date, int] = {}
    for row in rows:
        key = (STATUS_RANK.get(row.status, 2), -row.completeness)
        count[row.local_date] = count.get(row.local_date, 0) + 1
        if row.local_date not in worst or key > worst[row.local_date][0]:
            worst[row.local_date] = (key, row)
    return [CalendarDay(day, row.status, row.actual_intervals, row.expected_intervals, count[day])
            for day, (_, row) in sorted(worst.items())]


def _epoch_hour(dialect: str):
    if dialect == "postgresql":
        return sa.func.floor(sa.func.date_part("epoch", ui.ts_utc) / 3600)
    return sa.cast(sa.func.strftime("%s", ui.ts_utc), sa.Integer) // 3600  # SQLite: naive UTC text


def hourly_kwh(conn: sa.Connection, esiid: str, channel: str, first: dt.date,
               last: dt.date) -> dict[tuple[dt.date, int], float]:
    """kWh of real readings (actual, estimated) per (local day, local hour), summed over meters (not check
    or backup meters: they measure the same energy again)."""
    # Grouped by UTC hour in the database (at most 25 rows a day), then put on local clocks: the two 01:00
    # hours of a fall-back day land on the same key and add up.
    hour = _epoch_hour(conn.dialect.name).label("hour")
    others = excluded_meters(conn, esiid)
    rows = conn.execute(sa.select(hour, sa.func.sum(ui.kwh))
                        .where(ui.esiid == esiid, ui.channel == channel, ui.quality.in_(("actual", "estimated")),
                               ui.ts_utc >= local_midnight(first),
                               ui.ts_utc < local_midnight(last + dt.timedelta(days=1)),
                               *([ui.meter.not_in(sorted(others))] if others else []))
                        .group_by(hour)).all()
    out: dict[tuple[dt.date, int], float] = {}
    for epoch_hour, kwh in rows:
        local = dt.datetime.fromtimestamp(int(epoch_hour) * 3600, local_zone())
        key = (local.date(), local.hour)
        out[key] = out.get(key, 0.0) + float(kwh)
    return out


RAW_COLUMNS = (raw_file.c.id, raw_file.c.filename, raw_file.c.source, raw_file.c.kind, raw_file.c.status,
               raw_file.c.rows_read, raw_file.c.rows_valid, raw_file.c.rows_invalid, raw_file.c.rows_skipped,
               raw_file.c.received_at, raw_file.c.error)


def recent_raw_files(conn: sa.Connection, limit: int, failed_only: bool = False) -> list[dict]:
    where = [raw_file.c.status.in_(FAILED)] if failed_only else []
    rows = conn.execute(sa.select(*RAW_COLUMNS).where(*where).order_by(raw_file.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def raw_file_counts(conn: sa.Connection) -> dict[str, int]:
    return dict(conn.execute(sa.select(raw_file.c.status, sa.func.count()).group_by(raw_file.c.status)).all())


GAP_WINDOW_DAYS = 31  # the status page looks at the latest month that has gaps


def homes_with_gaps(conn: sa.Connection, limit: int) -> list[dict]:
    """Homes with days of missing intervals (status gaps) in the GAP_WINDOW_DAYS up to the latest
    gap day, latest gap first. Both queries read only the partial index of gap rows (migration
    0007), so the page costs the same at 100,000 homes."""
    newest = conn.scalar(sa.select(sa.func.max(dc.local_date)).where(dc.status == "gaps"))
    if newest is None:
        return []
    newest = newest if isinstance(newest, dt.date) else dt.date.fromisoformat(newest)
    latest = sa.func.max(dc.local_date).label("last_gap_day")
    rows = conn.execute(sa.select(dc.esiid, sa.func.count(sa.distinct(dc.local_date)).label("gap_days"),
                                  sa.func.min(dc.local_date).label("first_gap_day"), latest)
                        .where(dc.status == "gaps", dc.local_date > newest - dt.timedelta(days=GAP_WINDOW_DAYS))
                        .group_by(dc.esiid).order_by(latest.desc(), dc.esiid).limit(limit)).all()
    return [dict(r._mapping) for r in rows]
