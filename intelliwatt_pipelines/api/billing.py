"""Queries behind the billing routes: meter reads and their reconciliation with the intervals, by period."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.reads import as_dict
from intelliwatt_pipelines.api.timeparams import local_zone
from intelliwatt_pipelines.cdm.tables import (
    billing_read,
    billing_read_coverage,
    billing_reconciliation,
    raw_file_coverage,
)


def known_esiid(conn: sa.Connection, esiid: str) -> None:
    """404 unless some intervals or billing reads are stored for the ESIID."""
    for coverage in (raw_file_coverage, billing_read_coverage):
        if conn.execute(sa.select(coverage.c.esiid).where(coverage.c.esiid == esiid).limit(1)).first():
            return
    raise ApiError(404, "not_found", "no usage or billing reads are stored for this ESIID")


def _period(table: sa.Table, esiid: str, start: dt.datetime | None, end: dt.datetime | None) -> list:
    """Rows of an ESIID whose read period overlaps [start, end)."""
    t = table.c
    where = [t.esiid == esiid]
    if start is not None:
        where.append(t.read_end > start)
    if end is not None:
        where.append(t.read_start < end)
    return where


def _period_fields(row) -> dict:
    return {"read_start": row.read_start, "read_end": row.read_end,
            "last_day": (row.read_end - dt.timedelta(microseconds=1)).astimezone(local_zone()).date()}


def billing_reads(conn: sa.Connection, esiid: str, start: dt.datetime | None, end: dt.datetime | None) -> list[dict]:
    b = billing_read.c
    rows = conn.execute(sa.select(billing_read).where(*_period(billing_read, esiid, start, end))
                        .order_by(b.read_end, b.read_start, b.meter, b.channel, b.source)).all()
    return [{**{k: v for k, v in as_dict(r).items() if k != "esiid"}, **_period_fields(r),
             "read_start_local": r.read_start.astimezone(local_zone()).isoformat(),
             "read_end_local": r.read_end.astimezone(local_zone()).isoformat()} for r in rows]


def reconciliation(conn: sa.Connection, esiid: str, start: dt.datetime | None, end: dt.datetime | None) -> list[dict]:
    c = billing_reconciliation.c
    rows = conn.execute(sa.select(billing_reconciliation).where(*_period(billing_reconciliation, esiid, start, end))
                        .order_by(c.read_end, c.read_start, c.meter, c.channel, c.source)).all()
    return [{**{k: v for k, v in as_dict(r).items() if k not in ("esiid", "local_date")}, **_period_fields(r)}
            for r in rows]
