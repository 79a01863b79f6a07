"""Cumulative register reads (1PWR markets): stored as read, and the reads an interval derivation needs.

A delta needs the read before it, which may have come in an earlier file (IoT batches per meter-hour,
ThunderCloud snapshots every 15 minutes), and a late file may land between two stored reads. So the
reads are kept (``register_read``) and a file's intervals are derived from its reads together with the
stored reads next to them: the last one before its first read and the first one after its last.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.billing import drop_orphan_reconciliation
from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.normalize import local_dates
from intelliwatt_pipelines.cdm.tables import billing_read, register_read, usage_interval

READ_COLUMNS = ["esiid", "meter", "ts_utc", "register_kwh"]
CHUNK_ROWS = 1_000


def store_register_reads(conn: sa.Connection, frame: pd.DataFrame, *, source: str, raw_file_id: int) -> int:
    """Upsert reads; a read of the same instant with another value (a corrected delivery) replaces the
    stored one, an identical one writes nothing. Returns the rows inserted or changed."""
    if frame.empty:
        return 0
    rows = frame[READ_COLUMNS].drop_duplicates(["esiid", "meter", "ts_utc"], keep="last")
    records = [{"esiid": e, "meter": m, "ts_utc": t.to_pydatetime(), "register_kwh": float(k), "source": source,
                "raw_file_id": raw_file_id} for e, m, t, k in rows.itertuples(index=False)]
    written = 0
    for at in range(0, len(records), CHUNK_ROWS):  # SQLite caps the bound parameters of one statement
        stmt = dialect_insert(conn, register_read).values(records[at:at + CHUNK_ROWS])
        stmt = stmt.on_conflict_do_update(
            index_elements=["esiid", "meter", "ts_utc"],
            set_={"register_kwh": stmt.excluded.register_kwh, "source": stmt.excluded.source,
                  "raw_file_id": stmt.excluded.raw_file_id},
            where=register_read.c.register_kwh.is_distinct_from(stmt.excluded.register_kwh))
        written += conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
    return written


def reads_around(conn: sa.Connection, esiid: str, meter: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """A meter's stored reads in [first, last] plus its nearest stored read on each side."""
    r = register_read.c
    meter_reads = [r.esiid == esiid, r.meter == meter]
    before = sa.select(sa.func.max(r.ts_utc)).where(*meter_reads, r.ts_utc < first.to_pydatetime()).scalar_subquery()
    after = sa.select(sa.func.min(r.ts_utc)).where(*meter_reads, r.ts_utc > last.to_pydatetime()).scalar_subquery()
    lo, hi = conn.execute(sa.select(before, after)).one()
    query = sa.select(r.esiid, r.meter, r.ts_utc, r.register_kwh).where(
        *meter_reads, r.ts_utc >= (lo or first.to_pydatetime()), r.ts_utc <= (hi or last.to_pydatetime()))
    rows = conn.execute(query.order_by(r.ts_utc)).all()
    frame = pd.DataFrame([tuple(x) for x in rows], columns=READ_COLUMNS)
    frame["ts_utc"] = pd.to_datetime(frame["ts_utc"], utc=True)
    return frame


def replace_derived(conn: sa.Connection, windows: list[tuple[str, str, pd.Timestamp, pd.Timestamp]], source: str,
                    frame: pd.DataFrame) -> int:
    """Derived intervals are replaced by range, not merged slot by slot: a recomputed day is the truth of its
    reads, so a slot it no longer holds (a reset a late read revealed) must go, and an ``estimated`` slot that
    now holds more energy must not lose to the ``actual`` part stored before. Where the stored rows of
    ``source`` in a window equal the recomputed ones, nothing is touched (a re-delivery changes nothing).
    Returns the rows deleted."""
    u, deleted = usage_interval.c, 0
    for esiid, meter, start, end in windows:
        where = [u.esiid == esiid, u.meter == meter, u.source == source,
                 u.ts_utc >= start.to_pydatetime(), u.ts_utc < end.to_pydatetime()]
        stored = conn.execute(sa.select(u.ts_utc, u.interval_minutes, u.kwh, u.quality).where(*where)).all()
        mine = frame[(frame["esiid"] == esiid) & (frame["meter"] == meter)]
        if _rows(stored) != _rows(mine[["ts_utc", "interval_minutes", "kwh", "quality"]].itertuples(index=False)):
            deleted += conn.execute(usage_interval.delete().where(*where)).rowcount
    return deleted


def withdraw_reads(conn: sa.Connection, windows: list[tuple[str, str, pd.Timestamp, pd.Timestamp]], source: str,
                   reads: pd.DataFrame) -> int:
    """A daily read of ``source`` inside a recomputed window that the recomputation no longer gives (a reset a
    late read revealed inside its day) is deleted, and then its reconciliation, as ``replace_derived`` does for
    intervals; the reads it still gives are upserted by the caller. Returns the reads deleted."""
    b, deleted = billing_read.c, 0
    given = {(e, m, _utc(s), _utc(t)) for e, m, s, t in reads[["esiid", "meter", "read_start", "read_end"]]
             .itertuples(index=False)}
    for esiid, meter, start, end in windows:
        where = [b.esiid == esiid, b.meter == meter, b.source == source,
                 b.read_start >= start.to_pydatetime(), b.read_end <= end.to_pydatetime()]
        stale = [(channel, read_start, read_end) for channel, read_start, read_end
                 in conn.execute(sa.select(b.channel, b.read_start, b.read_end).where(*where))
                 if (esiid, meter, _utc(read_start), _utc(read_end)) not in given]
        for channel, read_start, read_end in stale:
            deleted += conn.execute(billing_read.delete().where(
                *where, b.channel == channel, b.read_start == read_start, b.read_end == read_end)).rowcount
        if stale:
            first, last = local_dates(pd.Series([start, end - pd.Timedelta(seconds=1)]))
            drop_orphan_reconciliation(conn, esiid, first, last)
    return deleted


def _utc(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_convert("UTC") if t.tzinfo else t.tz_localize("UTC")


def _rows(rows) -> set[tuple]:
    return {(_utc(t), int(m), round(float(k), 9), q) for t, m, k, q in rows}
