"""``usage_bucket`` and ``usage_bucket_home`` (vendor-apis.md §2.8 a): what the monthly buckets are computed
from, and their changed-only writes.

- Readings: a home's (ESIID's) consumption readings of quality actual or estimated, every meter of the
  ESIID summed; never the zero placeholders (``filled``).
- Days: a month's ``complete_days`` are its local days whose every consumption series is ``complete`` in
  ``daily_completeness``; ``expected_days`` is the whole calendar month, so a month the data starts or
  ends inside is not usable at the default threshold (it would price a part month as a whole one).
- Freshness: ``through_normalized_at`` is the latest ``raw_file.normalized_at`` of the home's interval
  files (``raw_file_coverage``) read before its readings; a later one, or another key set, recomputes it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.pgcopy import PG_EPOCH_US, read_fixed
from intelliwatt_pipelines.cdm.tables import (
    daily_completeness,
    raw_file,
    raw_file_coverage,
    usage_bucket,
    usage_bucket_home,
    usage_interval,
)

CONSUMPTION = "consumption"
REAL_QUALITIES = ("actual", "estimated")
KWH_TOLERANCE = 1e-9  # a recomputed value this close to the stored one is the same value
B, H = usage_bucket.c, usage_bucket_home.c
VALUES = ("kwh", "intervals", "complete_days", "expected_days")
READINGS_SQL = ("SELECT ts_utc, interval_minutes, kwh FROM usage_interval WHERE esiid = %s AND channel = "
                f"'{CONSUMPTION}' AND quality IN ({', '.join(repr(q) for q in REAL_QUALITIES)}) ORDER BY ts_utc")
READING_FIELDS = [("ts", "timestamptz"), ("minutes", "int2"), ("kwh", "float8")]


@dataclass(frozen=True)
class MonthBuckets:
    """One month of a home: bucket key → kWh (and readings counted), and how complete its days are."""

    kwh: dict[str, float]
    complete_days: int
    expected_days: int
    intervals: dict[str, int] = field(default_factory=dict)

    @property
    def completeness(self) -> float:
        return self.complete_days / self.expected_days if self.expected_days else 0.0


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted


def keys_sha256(keys) -> str:
    """SHA-256 of the sorted distinct keys joined by commas."""
    return hashlib.sha256(",".join(sorted(set(keys))).encode()).hexdigest()


def real_readings(conn: sa.Connection, esiid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(naive UTC starts datetime64[us], minutes, kWh) of the home's real consumption readings, by time.
    On PostgreSQL one binary COPY read by numpy (a home-year in milliseconds, not 35,040 row objects)."""
    if conn.dialect.name == "postgresql":
        with conn.connection.dbapi_connection.cursor() as cursor:
            rows = read_fixed(cursor, READINGS_SQL, (esiid,), READING_FIELDS)
        ts = (rows["ts"].astype(np.int64) + PG_EPOCH_US).astype("datetime64[us]")
        return ts, rows["minutes"].astype(np.int64), rows["kwh"].astype(np.float64)
    u = usage_interval.c
    rows = conn.execute(sa.select(u.ts_utc, u.interval_minutes, u.kwh).where(
        u.esiid == esiid, u.channel == CONSUMPTION, u.quality.in_(REAL_QUALITIES)).order_by(u.ts_utc)).all()
    frame = pd.DataFrame(rows, columns=["ts", "minutes", "kwh"])
    ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    return ts, frame["minutes"].to_numpy(np.int64), frame["kwh"].to_numpy(np.float64)


def days_in_month(year_month: str) -> int:
    return calendar.monthrange(int(year_month[:4]), int(year_month[5:7]))[1]


def complete_days(conn: sa.Connection, esiid: str) -> dict[str, int]:
    """YYYY-MM → local days whose every consumption series is ``complete``."""
    c = daily_completeness.c
    rows = conn.execute(sa.select(c.local_date, c.status).where(c.esiid == esiid, c.channel == CONSUMPTION)).all()
    whole: dict[dt.date, bool] = {}
    for day, status in rows:
        whole[day] = whole.get(day, True) and status == "complete"
    out: dict[str, int] = defaultdict(int)
    for day, ok in whole.items():
        out[f"{day:%Y-%m}"] += ok
    return dict(out)


def latest_normalized(conn: sa.Connection, esiid: str) -> dt.datetime | None:
    """The latest ``normalized_at`` of the raw files holding the home's consumption readings."""
    cov = raw_file_coverage.c
    return conn.execute(sa.select(sa.func.max(raw_file.c.normalized_at))
                        .join(raw_file_coverage, cov.raw_file_id == raw_file.c.id)
                        .where(cov.esiid == esiid, cov.channel == CONSUMPTION)).scalar()


def _stored(conn: sa.Connection, esiid: str) -> dict[tuple[str, str], tuple]:
    rows = conn.execute(sa.select(B.year_month, B.bucket_key, *[B[v] for v in VALUES]).where(B.esiid == esiid))
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _same(old: tuple, new: tuple) -> bool:
    return abs(old[0] - new[0]) <= KWH_TOLERANCE and tuple(old[1:]) == tuple(new[1:])


def write_buckets(conn: sa.Connection, esiid: str, rows: dict[tuple[str, str], tuple], now: dt.datetime) -> WriteCounts:
    """Make the home's ``usage_bucket`` rows exactly ``rows`` ((year_month, key) → (kwh, intervals,
    complete_days, expected_days)), writing only what differs; ``computed_at`` only on written rows."""
    stored = _stored(conn, esiid)
    counts = WriteCounts()
    new, changed = [], []
    for (ym, key), values in rows.items():
        old = stored.get((ym, key))
        if old is not None and _same(old, values):
            counts.unchanged += 1
            continue
        (new if old is None else changed).append({"esiid": esiid, "year_month": ym, "bucket_key": key,
                                                   **dict(zip(VALUES, values, strict=True)), "computed_at": now})
    gone = [{"b_ym": ym, "b_key": key} for ym, key in stored if (ym, key) not in rows]
    if new:
        insert = dialect_insert(conn, usage_bucket)
        # A concurrent run that inserted the same row first: take this run's values (they are as fresh).
        conn.execute(insert.on_conflict_do_update(index_elements=["esiid", "year_month", "bucket_key"],
                                                  set_={c: insert.excluded[c] for c in (*VALUES, "computed_at")}),
                     new)
    if changed:
        where = (B.esiid == esiid, B.year_month == sa.bindparam("b_ym"), B.bucket_key == sa.bindparam("b_key"))
        conn.execute(sa.update(usage_bucket).where(*where).values({c: sa.bindparam(f"v_{c}") for c in
                                                                    (*VALUES, "computed_at")}),
                     [{"b_ym": r["year_month"], "b_key": r["bucket_key"],
                       **{f"v_{c}": r[c] for c in (*VALUES, "computed_at")}} for r in changed])
    if gone:
        conn.execute(sa.delete(usage_bucket).where(B.esiid == esiid, B.year_month == sa.bindparam("b_ym"),
                                                   B.bucket_key == sa.bindparam("b_key")), gone)
    counts.inserted, counts.updated, counts.deleted = len(new), len(changed), len(gone)
    return counts


def write_home(conn: sa.Connection, row: dict, *, changed: bool) -> None:
    """Record what the home's buckets were computed from (``row``: keys_sha256, through_normalized_at,
    months, usable_months, computed_at). ``computed_at`` moves only when the buckets ``changed`` (or on the
    first computation), so the estimates that follow buckets re-run only for homes whose buckets moved."""
    values = {k: v for k, v in row.items() if k != "esiid"}
    keep = {k: v for k, v in values.items() if k != "computed_at"}
    insert = dialect_insert(conn, usage_bucket_home).values(esiid=row["esiid"], **values)
    conn.execute(insert.on_conflict_do_update(index_elements=["esiid"], set_=values if changed else keep))


def invalidate_homes(conn: sa.Connection, esiids) -> int:
    """Mark these homes' buckets stale (a rebuild rewrote their intervals without normalizing a file
    again): ``homes_to_compute`` then picks them up. How many homes had buckets."""
    return conn.execute(sa.update(usage_bucket_home).where(H.esiid.in_(sorted(set(esiids))))
                        .values(through_normalized_at=None)).rowcount


def homes_to_compute(conn: sa.Connection, keys_sha: str) -> list[str]:
    """Homes with consumption readings whose buckets are missing, were computed for another key set, or
    predate the latest normalization of one of their interval files; sorted."""
    cov, r = raw_file_coverage.c, raw_file.c
    latest = (sa.select(cov.esiid.label("esiid"), sa.func.max(r.normalized_at).label("latest"))
              .join(raw_file, cov.raw_file_id == r.id).where(cov.channel == CONSUMPTION)
              .group_by(cov.esiid).subquery())
    stale = sa.or_(H.esiid.is_(None), H.keys_sha256 != keys_sha,
                   sa.and_(latest.c.latest.is_not(None), sa.or_(H.through_normalized_at.is_(None),
                                                               latest.c.latest > H.through_normalized_at)))
    query = (sa.select(latest.c.esiid).outerjoin(usage_bucket_home, H.esiid == latest.c.esiid).where(stale)
             .order_by(latest.c.esiid))
    return list(conn.execute(query).scalars())


def home_months(conn: sa.Connection, esiid: str) -> dict[str, MonthBuckets]:
    """The home's stored buckets by month (YYYY-MM, in order)."""
    rows = conn.execute(sa.select(B.year_month, B.bucket_key, *[B[v] for v in VALUES])
                        .where(B.esiid == esiid).order_by(B.year_month, B.bucket_key)).all()
    kwh: dict[str, dict[str, float]] = defaultdict(dict)
    intervals: dict[str, dict[str, int]] = defaultdict(dict)
    days: dict[str, tuple[int, int]] = {}
    for ym, key, value, count, complete, expected in rows:
        kwh[ym][key] = value
        intervals[ym][key] = count
        days[ym] = (complete, expected)
    return {ym: MonthBuckets(kwh[ym], *days[ym], intervals=intervals[ym]) for ym in kwh}


def home_row(conn: sa.Connection, esiid: str):
    """The home's ``usage_bucket_home`` row, or None."""
    return conn.execute(sa.select(usage_bucket_home).where(H.esiid == esiid)).first()
