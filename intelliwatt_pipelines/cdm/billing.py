"""Billing reads in the warehouse, and their reconciliation against the stored intervals.

A billing read is merged by the same revision rules as an interval (newer revision wins; at the
same revision actual beats estimated; at a full tie the later delivery wins; identical data
writes nothing). Reconciliation compares a read's kWh with the real intervals (actual or
estimated; never zero placeholders) of the same channel over the same UTC window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert, merge_rows
from intelliwatt_pipelines.cdm.normalize import QUALITY_RANK, day_bounds_utc, local_dates
from intelliwatt_pipelines.cdm.tables import (
    billing_read,
    billing_read_coverage,
    billing_reconciliation,
    usage_interval,
)
from intelliwatt_pipelines.model import BILLING_COLUMNS, BILLING_KEY

# Bump on a change to read precedence and reconciliation: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
RULES_VERSION = "1"

READ_KEY = BILLING_KEY + ["source"]
READ_VALUES = ["bill_date", "kwh_total", "kwh_billed", "start_reading", "end_reading", "tdsp_code", "tdsp_name",
               "quality", "revised_at", "raw_file_id"]
RECONCILIATION_VALUES = ["local_date", "billing_kwh", "interval_kwh", "difference_kwh", "tolerance_kwh",
                         "interval_meters", "intervals_found", "minutes_covered", "minutes_expected", "status"]


@dataclass(frozen=True)
class Tolerance:
    """A read matches when |interval kWh - billing kWh| <= max(kwh, pct % of the billing kWh)."""

    kwh: float = 0.1
    pct: float = 0.2

    def allowed(self, billing_kwh: float) -> float:
        return max(self.kwh, abs(billing_kwh) * self.pct / 100.0)


def end_dates(read_end: pd.Series) -> pd.Series:
    """The Central day a read period ends on (its last day): the partition date of the read."""
    return local_dates(pd.to_datetime(read_end, utc=True) - pd.Timedelta(microseconds=1))


def newest_read_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per read key: the later revision, then actual over estimated, then the later row."""
    ranked = frame.assign(_q=frame["quality"].map(QUALITY_RANK).astype("int8"), _pos=np.arange(len(frame)))
    ranked = ranked.sort_values(BILLING_KEY + ["revised_at", "_q", "_pos"], na_position="first", kind="mergesort")
    return ranked.drop_duplicates(BILLING_KEY, keep="last")[frame.columns].reset_index(drop=True)


def upsert_billing_reads(conn: sa.Connection, frame: pd.DataFrame, *, source: str, raw_file_id: int) -> int:
    """Merge parsed reads into ``billing_read``. Returns the number of rows inserted or changed."""
    if frame.empty:
        return 0
    batch = newest_read_per_key(frame[BILLING_COLUMNS]).assign(source=source, raw_file_id=raw_file_id)
    batch = batch[[c.name for c in billing_read.columns]]
    compared = tuple(c for c in READ_VALUES if c != "raw_file_id")
    return merge_rows(conn, billing_read, batch, values=READ_VALUES, compared=compared)


def write_billing_coverage(conn: sa.Connection, raw_file_id: int, frame: pd.DataFrame) -> None:
    """Record which ESIIDs and read-end days a raw file holds (for rebuilding from raw)."""
    if frame.empty:
        return
    cov = (frame.assign(local_date=end_dates(frame["read_end"])).groupby("esiid")
           .agg(first_local_date=("local_date", "min"), last_local_date=("local_date", "max"),
                reads=("local_date", "size")).reset_index())
    rows = [dict(r, raw_file_id=raw_file_id, reads=int(r["reads"])) for r in cov.to_dict("records")]
    stmt = dialect_insert(conn, billing_read_coverage).values(rows)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["raw_file_id", "esiid"],
        set_={c: getattr(stmt.excluded, c) for c in ("first_local_date", "last_local_date", "reads")}))


def _reads(conn: sa.Connection, where) -> pd.DataFrame:
    b = billing_read.c
    rows = conn.execute(sa.select(*[b[c] for c in READ_KEY + ["kwh_total"]]).where(where)).all()
    frame = pd.DataFrame(rows, columns=READ_KEY + ["kwh_total"])
    for col in ("read_start", "read_end"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def reads_overlapping(conn: sa.Connection, esiid: str, lo: pd.Timestamp, hi: pd.Timestamp,
                      channel: str | None = None) -> pd.DataFrame:
    """Stored reads of an ESIID whose period overlaps [lo, hi)."""
    b = billing_read.c
    where = sa.and_(b.esiid == esiid, b.read_start < hi.to_pydatetime(), b.read_end > lo.to_pydatetime(),
                    *([b.channel == channel] if channel else []))
    return _reads(conn, where)


def reads_ending(conn: sa.Connection, esiid: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Stored reads of an ESIID whose last day is within local days [start, end]."""
    return _reads(conn, sa.and_(*_ending(billing_read, esiid, start, end)))


def _intervals(conn: sa.Connection, esiid: str, channel: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    u = usage_interval.c
    rows = conn.execute(sa.select(u.meter, u.ts_utc, u.interval_minutes, u.kwh).where(
        u.esiid == esiid, u.channel == channel, u.quality != "filled",
        u.ts_utc >= lo.to_pydatetime(), u.ts_utc < hi.to_pydatetime())).all()
    frame = pd.DataFrame(rows, columns=["meter", "ts_utc", "interval_minutes", "kwh"])
    frame["ts_utc"] = pd.to_datetime(frame["ts_utc"], utc=True)
    return frame


def reconcile(conn: sa.Connection, reads: pd.DataFrame, tolerance: Tolerance) -> pd.DataFrame:
    """Reconciliation rows for ``reads`` (READ_KEY + kwh_total) against the stored intervals."""
    out = []
    for (esiid, channel), group in reads.groupby(["esiid", "channel"], sort=False):
        intervals = _intervals(conn, esiid, channel, group["read_start"].min(), group["read_end"].max())
        meters = set(intervals["meter"])
        for read in group.itertuples(index=False):
            # SMT interval files name no meter: then the ESIID's intervals stand for the read's meter
            use = intervals[intervals["meter"] == read.meter] if read.meter in meters else intervals
            inside = use[(use["ts_utc"] >= read.read_start) & (use["ts_utc"] < read.read_end)]
            expected = int((read.read_end - read.read_start) / pd.Timedelta(minutes=1))
            covered = int(inside["interval_minutes"].sum())
            interval_kwh = round(float(inside["kwh"].sum()), 6)
            difference = round(interval_kwh - read.kwh_total, 6)
            allowed = round(tolerance.allowed(read.kwh_total), 6)
            status = ("insufficient_intervals" if covered < expected
                      else "match" if abs(difference) <= allowed else "mismatch")
            out.append({**{k: getattr(read, k) for k in READ_KEY},
                        "local_date": end_dates(pd.Series([read.read_end])).iloc[0],
                        "billing_kwh": float(read.kwh_total), "interval_kwh": interval_kwh,
                        "difference_kwh": difference, "tolerance_kwh": allowed,
                        "interval_meters": ",".join(sorted(set(inside["meter"]))), "intervals_found": len(inside),
                        "minutes_covered": covered, "minutes_expected": expected, "status": status})
    return pd.DataFrame(out, columns=READ_KEY + RECONCILIATION_VALUES)


def refresh_reconciliation(conn: sa.Connection, reads: pd.DataFrame, tolerance: Tolerance) -> pd.DataFrame:
    """Recompute and store the reconciliation of ``reads``; a row changes only when its values do."""
    rows = reconcile(conn, reads, tolerance)
    if rows.empty:
        return rows
    now = dt.datetime.now(dt.timezone.utc)
    records = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} | {"checked_at": now}
               for r in rows.to_dict("records")]
    stmt = dialect_insert(conn, billing_reconciliation).values(records)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=READ_KEY,
        set_={c: getattr(stmt.excluded, c) for c in RECONCILIATION_VALUES + ["checked_at"]},
        where=sa.or_(*[getattr(stmt.excluded, c).is_distinct_from(billing_reconciliation.c[c])
                       for c in RECONCILIATION_VALUES])))
    return rows


def reconcile_days(conn: sa.Connection, days: pd.DataFrame, tolerance: Tolerance) -> pd.DataFrame:
    """Re-reconcile the reads overlapping these (esiid, channel, local_date) rows: intervals changed there."""
    out = []
    for (esiid, channel), group in days.groupby(["esiid", "channel"], sort=False):
        lo, _ = day_bounds_utc(min(group["local_date"]))
        _, hi = day_bounds_utc(max(group["local_date"]))
        reads = reads_overlapping(conn, esiid, lo, hi, channel)
        if len(reads):
            out.append(refresh_reconciliation(conn, reads, tolerance))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=READ_KEY + RECONCILIATION_VALUES)


def reconcile_file_reads(conn: sa.Connection, frame: pd.DataFrame, tolerance: Tolerance) -> pd.DataFrame:
    """Re-reconcile the stored reads over the periods a billing file holds (the stored winners)."""
    out = []
    for esiid, group in frame.groupby("esiid", sort=False):
        reads = reads_overlapping(conn, esiid, group["read_start"].min(), group["read_end"].max())
        if len(reads):
            out.append(refresh_reconciliation(conn, reads, tolerance))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=READ_KEY + RECONCILIATION_VALUES)


def _ending(table: sa.Table, esiid: str, start: dt.date, end: dt.date) -> list:
    t = table.c
    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    return [t.esiid == esiid, t.read_end > lo.to_pydatetime(), t.read_end <= hi.to_pydatetime()]


def delete_reads_ending(conn: sa.Connection, esiid: str, start: dt.date, end: dt.date) -> int:
    """Delete an ESIID's reads whose last day is in [start, end] (their reconciliation rows stay
    until ``drop_orphan_reconciliation``, so a rebuild that restores a read changes nothing)."""
    return conn.execute(billing_read.delete().where(*_ending(billing_read, esiid, start, end))).rowcount


def drop_orphan_reconciliation(conn: sa.Connection, esiid: str, start: dt.date, end: dt.date) -> int:
    """Delete reconciliation rows in the range whose billing read no longer exists."""
    r, b = billing_reconciliation.c, billing_read.c
    exists = sa.exists().where(*[getattr(b, k) == getattr(r, k) for k in READ_KEY])
    return conn.execute(billing_reconciliation.delete().where(
        *_ending(billing_reconciliation, esiid, start, end), ~exists)).rowcount
