"""The meters SMT describes (``smt_meter_info``, vendor-apis.md §2.3), one row per (esiid, meter_number),
from ``/v2/meterInfo/`` answers and SFTP meter info CSVs.

Last written wins: a newer row for a meter replaces its fields (the same fields again write nothing, so a
re-delivery changes nothing). A row that only records a status (``api_not_enabled`` after SMT error 2076,
or ``failed``) has meter number ``unknown``: it is its own row and never overwrites or deletes a real meter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from intelliwatt_pipelines.bounds import METER_RE
from intelliwatt_pipelines.cdm.tables import smt_meter_info
from intelliwatt_pipelines.esiid import ESIID_RE

STATUS_ONLY_METER = "unknown"  # the meter number of a row that only records a status
_BOOKKEEPING = ("raw_file_id", "updated_at")  # not compared: the same fields again are no change
_FIELDS = [c.name for c in smt_meter_info.columns if c.name not in _BOOKKEEPING]


def meter_problem(row: dict) -> str | None:
    """Why ``row`` cannot be stored (a bad ESIID, an ``ok`` row without a usable meter number); None if it can."""
    esiid, status = str(row.get("esiid") or ""), row.get("status", "ok")
    if not ESIID_RE.fullmatch(esiid):
        return "ESIID is not 17 or 22 digits"
    meter = str(row.get("meter_number") or "")
    if status == "ok" and (not METER_RE.match(meter) or meter == STATUS_ONLY_METER):
        return "no usable meter number (utilityMeterId or meterSerialNumber)"
    return None


def _values(row: dict, raw_file_id: int, now: dt.datetime) -> dict:
    values = {name: row.get(name) for name in _FIELDS}
    values["status"] = row.get("status") or "ok"
    if values["status"] != "ok":
        values["meter_number"] = STATUS_ONLY_METER
    return {**values, "raw_file_id": raw_file_id, "updated_at": now}


def _store_one(conn: sa.Connection, values: dict) -> int:
    """Insert or replace one row; 0 when it holds these fields already."""
    t = smt_meter_info.c
    key = (t.esiid == values["esiid"]) & (t.meter_number == values["meter_number"])
    stored = conn.execute(sa.select(*(t[name] for name in _FIELDS)).where(key)).mappings().first()
    if stored is None:
        conn.execute(sa.insert(smt_meter_info).values(**values))
        return 1
    if all(stored[name] == values[name] for name in _FIELDS):
        return 0
    conn.execute(sa.update(smt_meter_info).where(key).values(**values))
    return 1


def store_meter_info(conn: sa.Connection, rows: Iterable[dict], *, raw_file_id: int, now: dt.datetime) -> int:
    """Store meters (dicts keyed by smt_meter_info's columns; ``status`` defaults to ``ok``) read from
    ``raw_file_id``, in the caller's transaction; the rows inserted or changed. A status row is stored
    under meter number ``unknown``, so it never touches a real meter. Raises ValueError on a row
    ``meter_problem`` refuses (nothing of it is written; the caller's transaction decides the rest)."""
    written = 0
    for row in rows:
        problem = meter_problem(row)
        if problem is not None:
            raise ValueError(f"meter info row not stored: {problem}")
        written += _store_one(conn, _values(row, raw_file_id, now))
    return written


def meter_number_for(conn: sa.Connection, esiid: str) -> str | None:
    """The meter of ``esiid``'s most recently written ``ok`` row; None when SMT described none (status rows
    never count: there is no placeholder meter)."""
    t = smt_meter_info.c
    return conn.execute(sa.select(t.meter_number).where(
        t.esiid == esiid, t.status == "ok", t.meter_number != STATUS_ONLY_METER)
        .order_by(t.updated_at.desc(), t.meter_number).limit(1)).scalar()
