"""What is covered: the series and local days each raw file holds (``raw_file_coverage``, for
rebuilding from raw), and each series' delivered range over everything stored."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.normalize import SERIES, local_dates, touched_days
from intelliwatt_pipelines.cdm.tables import raw_file_coverage, usage_interval


def coverage_of(frame: pd.DataFrame, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per series in a frame: first and last local day and the number of intervals (``days``: the
    frame's ``touched_days`` when already known)."""
    days = touched_days(frame) if days is None else days
    cov = days.groupby(SERIES, sort=False).agg(first_local_date=("local_date", "min"),
                                               last_local_date=("local_date", "max"))
    cov["intervals"] = frame.groupby(SERIES, sort=False).size()
    return cov.reset_index()


def write_coverage(conn: sa.Connection, raw_file_id: int, frame: pd.DataFrame | None = None, *,
                   coverage: pd.DataFrame | None = None) -> None:
    """Record which series and local days a raw file holds (for rebuilding from raw): from its
    frame, or from ``coverage_of`` of its parts (summed here) when it was written in chunks."""
    cov = coverage_of(frame) if frame is not None and not frame.empty else coverage
    if cov is None or cov.empty:
        return
    cov = cov.groupby(SERIES, sort=False).agg(first_local_date=("first_local_date", "min"),
                                              last_local_date=("last_local_date", "max"),
                                              intervals=("intervals", "sum")).reset_index()
    rows = [dict(r, raw_file_id=raw_file_id, intervals=int(r["intervals"])) for r in cov.to_dict("records")]
    stmt = dialect_insert(conn, raw_file_coverage).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["raw_file_id"] + SERIES,
        set_={c: getattr(stmt.excluded, c) for c in ("first_local_date", "last_local_date", "intervals")},
    )
    conn.execute(stmt)


def series_bounds(conn: sa.Connection, esiid: str, meter: str, channel: str) -> tuple | None:
    """(first real interval start, last real interval end) of a series over everything stored."""
    t = usage_interval.c
    where = sa.and_(t.esiid == esiid, t.meter == meter, t.channel == channel, t.quality != "filled")
    # ORDER BY ... LIMIT 1 walks the primary key from either end whatever the planner's statistics
    # say; min()/max() were planned as a scan of the whole series right after a bulk load.
    first = conn.execute(sa.select(t.ts_utc).where(where).order_by(t.ts_utc).limit(1)).scalar_one_or_none()
    if first is None:
        return None
    last, step = conn.execute(sa.select(t.ts_utc, t.interval_minutes).where(where)
                              .order_by(t.ts_utc.desc()).limit(1)).one()
    return pd.Timestamp(_utc(first)), pd.Timestamp(_utc(last)) + pd.Timedelta(minutes=step)


def _utc(value) -> dt.datetime:
    # Aggregates bypass the column type on SQLite and come back as text.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def day_span(bound: tuple | None) -> tuple[dt.date, dt.date] | None:
    """First and last local day of a series' delivered range."""
    if bound is None:
        return None
    return local_dates(pd.Series([bound[0]])).iloc[0], local_dates(pd.Series([bound[1] - pd.Timedelta(seconds=1)])).iloc[0]


def previous_spans(conn: sa.Connection, frame: pd.DataFrame) -> dict[tuple, tuple[dt.date, dt.date]]:
    """Each series' delivered day span as stored now (before a write)."""
    keys = frame[SERIES].drop_duplicates().itertuples(index=False, name=None)
    return {key: day_span(series_bounds(conn, *key)) for key in keys}

