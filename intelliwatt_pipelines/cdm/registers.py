"""Cumulative register reads (1PWR markets): stored as read, and the reads an interval derivation needs.

A delta needs the read before it, which may have come in an earlier file (IoT batches per meter-hour,
ThunderCloud snapshots every 15 minutes), and a late file may land between two stored reads. So the
reads are kept (``register_read``) and a file's intervals are derived from its reads together with the
stored reads next to them: the last one before its first read and the first one after its last.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import register_read

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
