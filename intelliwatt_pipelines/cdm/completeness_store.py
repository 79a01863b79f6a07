"""Daily completeness in the warehouse: recompute and store the ``daily_completeness`` rows of the
series-days a write touched (the rules themselves are in ``cdm.completeness``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm.completeness import AGGREGATES, COLUMNS, day_aggregates
from intelliwatt_pipelines.cdm.completeness import daily_completeness as compute_completeness
from intelliwatt_pipelines.cdm.coverage import series_bounds
from intelliwatt_pipelines.cdm.intervals import read_intervals
from intelliwatt_pipelines.cdm.merge import dialect_insert, fill_stage, stage_table
from intelliwatt_pipelines.cdm.normalize import SERIES, day_bounds_utc
from intelliwatt_pipelines.cdm.tables import daily_completeness, usage_interval


def read_day_aggregates(conn: sa.Connection, esiid: str, meter: str, channel: str,
                        start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """``completeness.day_aggregates`` of one series' intervals in [start, end). PostgreSQL groups
    by Central day itself (a few hundred rows back instead of a year of intervals); SQLite has no
    time zones, so there the intervals are read and grouped in pandas."""
    if conn.dialect.name != "postgresql":
        return day_aggregates(read_intervals(conn, esiid, meter, channel, start, end))
    u = usage_interval.c
    day = sa.cast(sa.func.timezone(markets.local_tz(), u.ts_utc), sa.Date).label("local_date")
    rows = conn.execute(
        sa.select(day, u.interval_minutes, u.quality, sa.func.count().label("n"), sa.func.sum(u.kwh).label("kwh"))
        .where(u.esiid == esiid, u.meter == meter, u.channel == channel,
               u.ts_utc >= start.to_pydatetime(), u.ts_utc < end.to_pydatetime())
        .group_by(day, u.interval_minutes, u.quality)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=AGGREGATES).astype(
        {"interval_minutes": "int64", "n": "int64", "kwh": "float64"})


def refresh_completeness(conn: sa.Connection, days: pd.DataFrame,
                         previous: dict[tuple, tuple[dt.date, dt.date]] | None = None) -> pd.DataFrame:
    """Recompute ``daily_completeness`` for the given series-days from the stored intervals.

    ``previous`` gives each series' delivered day span before this write. The days between that
    span and the new days are recomputed too: the old edge day may stop being ``partial`` and the
    days in between become ``gaps``. A day left with no interval outside the delivered range loses
    its row. Returns the rows now stored for the recomputed days.
    """
    out = []
    for key, group in days.groupby(SERIES, sort=False):
        lo, hi = min(group["local_date"]), max(group["local_date"])
        if previous and previous.get(key):
            first, last = previous[key]
            lo, hi = min(lo, last), max(hi, first)
        dates = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
        start, _ = day_bounds_utc(lo)
        _, end = day_bounds_utc(hi)
        rows = compute_completeness(key, read_day_aggregates(conn, *key, start, end), dates, series_bounds(conn, *key))
        _delete_completeness(conn, key, set(dates) - set(rows["local_date"]))
        _upsert_completeness(conn, rows)
        out.append(rows)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)


def stored_completeness(conn: sa.Connection, days: pd.DataFrame) -> pd.DataFrame:
    """The ``daily_completeness`` rows stored for these series-days (what ``refresh_completeness``
    would return when no interval changed: every interval write keeps them up to date)."""
    c = daily_completeness.c
    out = []
    for key, group in days.groupby(SERIES, sort=False):
        wanted = set(group["local_date"])
        rows = conn.execute(sa.select(*[c[name] for name in COLUMNS]).where(
            c.esiid == key[0], c.meter == key[1], c.channel == key[2],
            c.local_date >= min(wanted), c.local_date <= max(wanted))).all()
        out += [tuple(r) for r in rows if r.local_date in wanted]
    return pd.DataFrame(out, columns=COLUMNS)


def _upsert_completeness(conn: sa.Connection, rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    values = [c for c in COLUMNS if c not in SERIES + ["local_date"]]
    if conn.dialect.name == "postgresql":  # a year of days: one COPY and one statement
        stage = stage_table(conn, daily_completeness)
        fill_stage(conn, stage, rows[[c.name for c in daily_completeness.columns]])
        stmt = dialect_insert(conn, daily_completeness).from_select(
            [c.name for c in daily_completeness.columns], sa.select(*stage.c).where(sa.true()))
        params = None
    else:
        stmt = dialect_insert(conn, daily_completeness)
        params = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                  for r in rows.to_dict("records")]
    stmt = stmt.on_conflict_do_update(
        index_elements=SERIES + ["local_date"],
        set_={c: getattr(stmt.excluded, c) for c in values},
        where=sa.or_(*[getattr(stmt.excluded, c).is_distinct_from(daily_completeness.c[c]) for c in values]),
    )
    conn.execute(stmt, params)  # SQLite: executemany, compiled once and cached


def _delete_completeness(conn: sa.Connection, key: tuple, dates: Iterable[dt.date]) -> None:
    dates = list(dates)
    if dates:
        c = daily_completeness.c
        conn.execute(daily_completeness.delete().where(
            c.esiid == key[0], c.meter == key[1], c.channel == key[2], c.local_date.in_(dates)))
