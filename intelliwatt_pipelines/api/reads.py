"""Queries behind the read routes. Canonical tables only; every query is an index range scan.

Intervals are read one series (meter, channel) at a time, so each query is a range on the primary
key (esiid, meter, channel, ts_utc) however long the ESIID's history is. Pages are ordered by
(meter, channel, ts_utc) and continue from an opaque keyset cursor (``cursors``). Daily completeness pages the
same way, by (meter, channel, local_date). Billing reads are in ``billing``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import sqlalchemy as sa

from intelliwatt_pipelines.api.cursors import Cursor, DayCursor
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.render import CSV_HEADER, SeriesColumns, series_csv
from intelliwatt_pipelines.cdm.meter_roles import roles_of
from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, raw_file_coverage, upload, usage_interval

dc, ui = daily_completeness.c, usage_interval.c


def series(conn: sa.Connection, esiid: str, meter: str | None = None, channel: str | None = None) -> list[tuple[str, str]]:
    """The ESIID's (meter, channel) series, optionally filtered; 404 when the ESIID is unknown."""
    # raw_file_coverage has a few rows per ESIID (one per file and series), daily_completeness one
    # per day: listing series from it keeps this lookup small however long the history.
    cov = raw_file_coverage.c
    rows = conn.execute(sa.select(cov.meter, cov.channel).distinct().where(cov.esiid == esiid)).all()
    if not rows:
        raise ApiError(404, "not_found", "no usage is stored for this ESIID")
    # Sorted here, not by the database: the cursor compares series in Python, and a database
    # collation (en_US: 'a7' < 'B7') may order them differently.
    return sorted((m, c) for m, c in rows if (meter is None or m == meter) and (channel is None or c == channel))


# One query per series returns its page as arrays: far fewer objects to build than rows.
_PG_PAGE = ("SELECT array_agg(t), array_agg(m), array_agg(k), array_agg(q), array_agg(s), array_agg(r), array_agg(v) "
            "FROM (SELECT date_part('epoch', ts_utc)::int8 AS t, interval_minutes AS m, kwh AS k, "
            "quality AS q, source AS s, raw_file_id AS r, floor(date_part('epoch', revised_at))::int8 AS v "
            "FROM usage_interval WHERE esiid = %s AND meter = %s AND channel = %s AND ts_utc >= %s AND ts_utc < %s "
            "ORDER BY ts_utc LIMIT %s) AS page")
_ALL_TIME = (dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2300, 1, 1, tzinfo=dt.timezone.utc))


def _series_columns(conn: sa.Connection, esiid: str, meter: str, channel: str, lo: dt.datetime, hi: dt.datetime,
                    limit: int) -> SeriesColumns:
    """One series' intervals in [lo, hi), oldest first, at most ``limit``."""
    if conn.dialect.name == "postgresql":
        # The driver's binary protocol on the same connection (and transaction).
        with conn.connection.driver_connection.cursor(binary=True) as cursor:
            cursor.execute(_PG_PAGE, (esiid, meter, channel, lo, hi, limit))
            columns = [c or [] for c in cursor.fetchone()]
        return SeriesColumns(meter, channel, *columns)
    rows = conn.execute(sa.select(ui.ts_utc, ui.interval_minutes, ui.kwh, ui.quality, ui.source, ui.raw_file_id,
                                  ui.revised_at)
                        .where(ui.esiid == esiid, ui.meter == meter, ui.channel == channel, ui.ts_utc >= lo,
                               ui.ts_utc < hi).order_by(ui.ts_utc).limit(limit)).all()
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(7)]
    columns[0], columns[6] = [epoch(v) for v in columns[0]], [epoch(v) for v in columns[6]]
    return SeriesColumns(meter, channel, *columns)


def interval_page(conn: sa.Connection, esiid: str, wanted: list[tuple[str, str]], start: dt.datetime | None,
                  end: dt.datetime | None, limit: int, after: Cursor | None) -> tuple[list[SeriesColumns], Cursor | None]:
    """Up to ``limit`` intervals in [start, end) after the cursor, and the cursor for the next page."""
    page: list[SeriesColumns] = []
    room = limit
    lo, hi = start or _ALL_TIME[0], end or _ALL_TIME[1]
    for meter, channel in wanted:
        if after and (meter, channel) < (after.meter, after.channel):
            continue
        first = lo
        if after and (meter, channel) == (after.meter, after.channel):
            first = max(lo, after.ts_utc + dt.timedelta(seconds=1))  # intervals start on whole seconds
        series = _series_columns(conn, esiid, meter, channel, first, hi, room + 1)  # one more: a next page?
        if len(series) > room:
            if room:
                page.append(series.head(room))
            last = page[-1]  # room < limit here, so a series is on the page
            return page, Cursor(last.meter, last.channel, from_epoch(last.ts[-1]))
        if len(series):
            page.append(series)
        room -= len(series)
    return page, None


def stream_interval_csv(engine: sa.Engine, esiid: str, wanted: list[tuple[str, str]], start, end,
                        page_size: int = 5000) -> Iterator[str]:
    """The whole window as CSV, a page at a time (bounded memory for any length)."""
    yield CSV_HEADER
    after = None
    while True:
        with engine.connect() as conn:
            page, after = interval_page(conn, esiid, wanted, start, end, page_size, after)
        if page:
            yield "".join(series_csv(series) for series in page)
        if after is None:
            return


def epoch(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def from_epoch(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def completeness_page(conn: sa.Connection, esiid: str, wanted: list[tuple[str, str]], first: dt.date | None,
                      last: dt.date | None, limit: int, after: DayCursor | None) -> tuple[list[dict], DayCursor | None]:
    """Up to ``limit`` days in [first, last] after the cursor, ordered by (meter, channel, local_date)
    like intervals (a primary-key range per series), and the cursor for the next page."""
    page: list[dict] = []
    for meter, channel in wanted:
        if after and (meter, channel) < (after.meter, after.channel):
            continue
        where = [dc.esiid == esiid, dc.meter == meter, dc.channel == channel]
        if after and (meter, channel) == (after.meter, after.channel):
            where.append(dc.local_date > after.local_date)
        where += [dc.local_date >= first] if first else []
        where += [dc.local_date <= last] if last else []
        room = limit - len(page)
        rows = conn.execute(sa.select(daily_completeness).where(*where).order_by(dc.local_date)
                            .limit(room + 1)).all()  # one more: a next page?
        page += [_day(r) for r in rows[:room]]
        if len(rows) > room:
            end = page[-1]  # not empty: limit >= 1, so a page fills before it overflows
            return page, DayCursor(end["meter"], end["channel"], end["date"])
    return page, None


def _day(r) -> dict:
    return {"date": r.local_date, "meter": r.meter, "channel": r.channel, "interval_minutes": r.interval_minutes,
            "expected": r.expected_intervals, "found": r.actual_intervals, "estimated": r.estimated_intervals,
            "filled": r.filled_intervals, "kwh_real": r.kwh_real, "kwh_filled": r.kwh_filled,
            "completeness": r.completeness, "status": r.status}


def summary(conn: sa.Connection, esiid: str) -> dict:
    """Per series and in total: first/last interval, interval counts, kWh, days by status."""
    out = []
    for meter, channel in series(conn, esiid):
        key = [dc.esiid == esiid, dc.meter == meter, dc.channel == channel]
        days = conn.execute(sa.select(
            dc.status, sa.func.count(), sa.func.sum(dc.actual_intervals), sa.func.sum(dc.estimated_intervals),
            sa.func.sum(dc.filled_intervals), sa.func.sum(dc.kwh_real)).where(*key).group_by(dc.status)).all()
        ikey = [ui.esiid == esiid, ui.meter == meter, ui.channel == channel]
        first = conn.execute(sa.select(ui.ts_utc).where(*ikey).order_by(ui.ts_utc).limit(1)).scalar()
        last = conn.execute(sa.select(ui.ts_utc).where(*ikey).order_by(ui.ts_utc.desc()).limit(1)).scalar()
        by_status = {status: n for status, n, *_ in days}
        out.append({
            "meter": meter, "channel": channel, "first_interval": first, "last_interval": last,
            "intervals_real": int(sum(d[2] or 0 for d in days)), "intervals_estimated": int(sum(d[3] or 0 for d in days)),
            "intervals_filled": int(sum(d[4] or 0 for d in days)), "kwh": float(sum(d[5] or 0 for d in days)),
            "days": int(sum(by_status.values())), "days_complete": by_status.get("complete", 0),
            "days_incomplete": by_status.get("partial", 0) + by_status.get("gaps", 0),
            "days_partial": by_status.get("partial", 0), "days_gaps": by_status.get("gaps", 0),
        })
    firsts = [s["first_interval"] for s in out if s["first_interval"]]
    lasts = [s["last_interval"] for s in out if s["last_interval"]]
    roles = {r["meter"]: r["role"] for r in roles_of(conn, esiid)}
    for s in out:
        if roles:  # 1PWR accounts with registered meters; a Texas home's series are as they always were
            s["role"] = roles.get(s["meter"])
    # check and backup meters (1PWR) are reported per series but are not what the customer used
    counted = [s for s in out if s.get("role") in (None, "primary")]
    consumption = [s for s in counted if s["channel"] == "consumption"]
    return {
        "first_interval": min(firsts) if firsts else None,
        "last_interval": max(lasts) if lasts else None,
        "kwh_consumption": sum(s["kwh"] for s in consumption),
        "kwh_generation": sum(s["kwh"] for s in counted if s["channel"] == "generation"),
        "intervals_real": sum(s["intervals_real"] for s in counted),
        "days_complete": sum(s["days_complete"] for s in consumption or counted),
        "days_incomplete": sum(s["days_incomplete"] for s in consumption or counted),
        "series": out,
    }


def as_dict(row) -> dict:
    # Column names come back as a str subclass, which orjson does not take as keys.
    return {str(k): v for k, v in row._mapping.items()}


def raw_files(conn: sa.Connection, status: str | None, limit: int, before_id: int | None) -> list[dict]:
    where = []
    if status:
        where.append(raw_file.c.status == status)
    if before_id is not None:
        where.append(raw_file.c.id < before_id)
    rows = conn.execute(sa.select(raw_file).where(*where).order_by(raw_file.c.id.desc()).limit(limit)).all()
    return [as_dict(r) for r in rows]


def raw_file_detail(conn: sa.Connection, raw_file_id: int) -> dict:
    row = conn.execute(sa.select(raw_file).where(raw_file.c.id == raw_file_id)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no raw file with id {raw_file_id}")
    cov = raw_file_coverage.c
    coverage = conn.execute(sa.select(cov.esiid, cov.meter, cov.channel, cov.first_local_date, cov.last_local_date,
                                      cov.intervals).where(cov.raw_file_id == raw_file_id)
                            .order_by(cov.esiid, cov.meter, cov.channel)).all()
    children = conn.execute(sa.select(raw_file.c.id, raw_file.c.filename, raw_file.c.status)
                            .where(raw_file.c.parent_id == raw_file_id).order_by(raw_file.c.id)).all()
    up = upload.c
    uploads = conn.execute(sa.select(up.id, up.role, up.via, up.filename, up.esiid, up.meter, up.received_at,
                                     up.correlation_id).where(up.raw_file_id == raw_file_id).order_by(up.id)).all()
    return {**as_dict(row), "coverage": [as_dict(c) for c in coverage],
            "children": [as_dict(c) for c in children], "uploads": [as_dict(u) for u in uploads]}
