"""``service_point`` from ERCOT's TDSP ESIID extracts (vendor-apis.md §2.6), and the ``ercot_extract_file``
bookkeeping that orders them.

A row changes only for a file published later than the one it came from (or the same file with other
values), so applying files in any order, or again, ends in the same table. Retirement: a row a later full
file of its TDSP does not list gets ``retired_at`` = that file's publish date, and no earlier file can
bring it back; a row listed ``Inactive`` is retired at its own file's publish date; a later listing that is
not Inactive clears it. Writes go through the project's bulk path: binary COPY into a staging table, then
one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` (an executemany into the staging table on SQLite).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert, stage_table
from intelliwatt_pipelines.cdm.pgcopy import pg_kind
from intelliwatt_pipelines.cdm.tables import ercot_extract_file, service_point

# What a parsed extract row holds, in this order (sources.ercot_extract.RECORD_COLUMNS; a test keeps them equal).
INCOMING_COLUMNS = ("esiid", "tdsp_code", "duns", "address", "address_overflow", "city", "state", "zip5", "zip4",
                    "county", "meter_read_cycle", "status", "premise_type", "power_region", "station_code",
                    "station_name", "metered", "open_service_orders", "polr_customer_class",
                    "settlement_ams_indicator", "tdsp_ams_indicator", "switch_hold_indicator",
                    "metered_service_type", "metered_service_type_desc", "norm_line1")
# Compared to tell a real change from a re-delivery: everything but the key and updated_at.
COMPARED = tuple(c.name for c in service_point.columns if c.name not in ("esiid", "updated_at"))
RETIRED_STATUS = "Inactive"


def _tuples(frame_or_records) -> list[tuple]:
    """Rows in ``INCOMING_COLUMNS`` order from a DataFrame, dicts or tuples already in that order."""
    if isinstance(frame_or_records, pd.DataFrame):
        values = frame_or_records[list(INCOMING_COLUMNS)].astype(object)
        return list(values.where(values.notna(), None).itertuples(index=False, name=None))
    records = list(frame_or_records)
    if records and isinstance(records[0], dict):
        return [tuple(r.get(c) for c in INCOMING_COLUMNS) for r in records]
    return [tuple(r) for r in records]


def _last_per_esiid(rows: Iterable[tuple]) -> list[tuple]:
    """A file listing an ESIID twice: its last line wins (and a batch may not touch a key twice)."""
    return list({row[0]: row for row in rows}.values())


def _copy_binary(conn: sa.Connection, stage: sa.Table, rows: list[tuple]) -> None:
    """COPY rows (in ``stage``'s column order) in binary. pgcopy's numpy payload needs few distinct text
    values; extract rows have millions, so psycopg writes them row by row, still in binary."""
    names = [c.name for c in stage.columns]
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {stage.name} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([pg_kind(c) for c in stage.columns])
        for row in rows:
            copy.write_row(row)


def _wins(target: sa.Table, incoming) -> sa.ColumnElement[bool]:
    """The incoming row replaces the stored one: a later file (unless a full file retired the stored row
    after that), or the same publish date with a doc id not smaller and other values."""
    t, e = target.c, incoming
    changed = sa.or_(*[getattr(e, c).is_distinct_from(getattr(t, c)) for c in COMPARED])
    not_retired_later = sa.or_(t.retired_at.is_(None), t.retired_at <= e.publish_date)
    return sa.and_(not_retired_later, sa.or_(
        e.publish_date > t.publish_date,
        sa.and_(e.publish_date == t.publish_date, e.source_doc_id >= t.source_doc_id, changed)))


def apply_rows(conn: sa.Connection, frame_or_records, *, doc_id: str, publish_date: dt.datetime,
               raw_file_id: int, now: dt.datetime) -> int:
    """Upsert one file's rows (a DataFrame or records with ``INCOMING_COLUMNS``) by ESIID; rows changed."""
    rows = _last_per_esiid(_tuples(frame_or_records))
    if not rows:
        return 0
    status = INCOMING_COLUMNS.index("status")
    stage = stage_table(conn, service_point)
    names = [c.name for c in stage.columns]
    staged = [dict(zip(INCOMING_COLUMNS, row, strict=True), source_doc_id=doc_id, publish_date=publish_date,
                   raw_file_id=raw_file_id, updated_at=now,
                   retired_at=publish_date if row[status] == RETIRED_STATUS else None) for row in rows]
    if conn.dialect.name == "postgresql":
        _copy_binary(conn, stage, [tuple(r[n] for n in names) for r in staged])
    else:
        conn.execute(stage.insert(), staged)
    del staged
    stmt = dialect_insert(conn, service_point).from_select(names, sa.select(*stage.c).where(sa.true()))
    stmt = stmt.on_conflict_do_update(index_elements=["esiid"],
                                      set_={n: getattr(stmt.excluded, n) for n in names if n != "esiid"},
                                      where=_wins(service_point, stmt.excluded))
    return conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount


def retire_absent(conn: sa.Connection, *, tdsp_code: str, full_doc_id: str, publish_date: dt.datetime,
                  now: dt.datetime) -> int:
    """After a full file: its TDSP's rows it did not list (they come from an earlier file) are retired
    at its publish date. Rows already retired keep their date. The number retired."""
    sp = service_point.c
    return conn.execute(sa.update(service_point).where(
        sp.tdsp_code == tdsp_code, sp.publish_date < publish_date, sp.retired_at.is_(None),
        sp.source_doc_id != full_doc_id,
    ).values(retired_at=publish_date, updated_at=now).execution_options(preserve_rowcount=True)).rowcount


# --- ercot_extract_file ---------------------------------------------------------------------------------


def register_doc(conn: sa.Connection, *, doc_id: str, constructed_name: str, friendly_name: str, tdsp: str,
                 kind: str, publish_date: dt.datetime, listed_at: dt.datetime, content_size: int | None = None,
                 raw_file_id: int | None = None) -> bool:
    """Record a listed (or, with ``raw_file_id``, stored) document once; True when it is new."""
    values = dict(doc_id=doc_id, constructed_name=constructed_name, friendly_name=friendly_name, tdsp=tdsp,
                  kind=kind, publish_date=publish_date, content_size=content_size, raw_file_id=raw_file_id,
                  status="stored" if raw_file_id is not None else "listed", listed_at=listed_at)
    stmt = dialect_insert(conn, ercot_extract_file).values(**values).on_conflict_do_nothing(
        index_elements=["doc_id"])
    return conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount == 1


def known_doc_ids(conn: sa.Connection, doc_ids: Sequence[str]) -> set[str]:
    f = ercot_extract_file.c
    return set(conn.execute(sa.select(f.doc_id).where(f.doc_id.in_(list(doc_ids)))).scalars()) if doc_ids else set()


def set_stored(conn: sa.Connection, doc_id: str, raw_file_id: int) -> None:
    conn.execute(sa.update(ercot_extract_file).where(ercot_extract_file.c.doc_id == doc_id).values(
        raw_file_id=raw_file_id, status="stored"))


def set_outcome(conn: sa.Connection, doc_id: str, *, status: str, rows_read: int | None = None,
                rows_applied: int | None = None, rows_invalid: int | None = None, error: str | None = None,
                applied_at: dt.datetime | None = None) -> None:
    """A document's outcome: applied (with its counts), failed (with why) or superseded."""
    conn.execute(sa.update(ercot_extract_file).where(ercot_extract_file.c.doc_id == doc_id).values(
        status=status, rows_read=rows_read, rows_applied=rows_applied, rows_invalid=rows_invalid, error=error,
        applied_at=applied_at))


def doc(conn: sa.Connection, doc_id: str):
    return conn.execute(sa.select(ercot_extract_file).where(ercot_extract_file.c.doc_id == doc_id)).first()


def _tdsp_order(docs: list, stored: set[str]) -> tuple[list, list]:
    """One TDSP's documents (publish order) -> (to apply, superseded)."""
    fulls = [d for d in docs if d.kind == "FUL" and d.status in ("stored", "applied")]
    latest = fulls[-1] if fulls else None
    superseded = [d for d in fulls[:-1] if d.doc_id in stored]
    after = [d for d in docs if d.kind == "DAILY" and d.doc_id in stored]
    if latest is not None:
        superseded += [d for d in after if d.publish_date < latest.publish_date]
        after = [d for d in after if d.publish_date >= latest.publish_date]
    first = [latest] if latest is not None and latest.doc_id in stored else []
    return first + after, superseded


def apply_order(conn: sa.Connection) -> list:
    """The stored documents to apply, in order: per TDSP the latest full file not yet applied, then
    every daily file published after the TDSP's latest full file, by publish date. Older full and
    daily files are marked ``superseded`` (never applied)."""
    rows = conn.execute(sa.select(ercot_extract_file).where(ercot_extract_file.c.status.in_(("stored", "applied")))
                        .order_by(ercot_extract_file.c.tdsp, ercot_extract_file.c.publish_date,
                                  ercot_extract_file.c.doc_id)).all()
    stored = {r.doc_id for r in rows if r.status == "stored"}
    ordered: list = []
    for tdsp in sorted({r.tdsp for r in rows}):
        apply, superseded = _tdsp_order([r for r in rows if r.tdsp == tdsp], stored)
        ordered += apply
        for d in superseded:
            set_outcome(conn, d.doc_id, status="superseded")
    return ordered
