"""``esiid_lookup``: which ESIID an address (by its salted hash, never the address) was given, and when
(vendor-apis.md §2.5). Keyed on (address_hash, esiid): the same answer again moves ``last_seen``; another
ESIID for an address already known is kept beside the first, with a ``conflict_note`` (several units of
one building can share an address line), and ``lookup_esiid`` answers the newest. Nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import esiid_lookup


@dataclass(frozen=True)
class LookupRow:
    """What the lookup stores besides the key and the times."""

    address_hash: str
    esiid: str
    raw_file_id: int
    tdsp_code: str | None = None
    utility_name: str | None = None
    utility_id: str | None = None
    zip5: str | None = None


def _others(conn: sa.Connection, address_hash: str, esiid: str) -> list[str]:
    return list(conn.execute(sa.select(esiid_lookup.c.esiid).where(
        esiid_lookup.c.address_hash == address_hash, esiid_lookup.c.esiid != esiid)
        .order_by(esiid_lookup.c.first_seen)).scalars())


def upsert_lookup(conn: sa.Connection, row: LookupRow, seen_at: dt.datetime) -> str:
    """Record one answer in the caller's transaction: ``new``, ``seen`` (again: ``last_seen`` and the
    answer's details refreshed) or ``conflict`` (new, while the address gave another ESIID before)."""
    details = {"tdsp_code": row.tdsp_code, "utility_name": row.utility_name, "utility_id": row.utility_id,
               "zip5": row.zip5, "raw_file_id": row.raw_file_id}
    key = (esiid_lookup.c.address_hash == row.address_hash, esiid_lookup.c.esiid == row.esiid)
    if conn.execute(sa.select(esiid_lookup.c.esiid).where(*key)).first() is None:
        others = _others(conn, row.address_hash, row.esiid)
        note = f"this address also gave {', '.join(others)} before (both kept)" if others else None
        inserted = conn.execute(dialect_insert(conn, esiid_lookup).values(
            address_hash=row.address_hash, esiid=row.esiid, first_seen=seen_at, last_seen=seen_at,
            conflict_note=note, **details).on_conflict_do_nothing(index_elements=["address_hash", "esiid"]))
        if inserted.rowcount:
            return "conflict" if others else "new"
    # Known (or inserted a moment ago by another run): newer details win, the first sighting stays.
    keep = {k: v for k, v in details.items() if v is not None}
    conn.execute(sa.update(esiid_lookup).where(*key).values(last_seen=seen_at, **keep))
    return "seen"


def lookup_esiid(conn: sa.Connection, address_hash: str):
    """The address's ESIID as WattBuy gave it last (the newest ``last_seen``, then ``first_seen``), or None."""
    return conn.execute(sa.select(esiid_lookup).where(esiid_lookup.c.address_hash == address_hash).order_by(
        esiid_lookup.c.last_seen.desc(), esiid_lookup.c.first_seen.desc()).limit(1)).first()


def known_zips(conn: sa.Connection) -> list[str]:
    """Every ZIP an ESIID lookup asked about."""
    return [z for z in conn.execute(sa.select(esiid_lookup.c.zip5).distinct()).scalars() if z]
