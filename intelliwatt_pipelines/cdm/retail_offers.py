"""``retail_offer``: retail plans on offer, one row per (source, external id) (vendor-apis.md §2.5). The
term is a plain column, so an offer with a null term is found again by its id and never duplicated (the
replaced system keyed on the term too). A listing again moves ``last_seen`` and the raw file; the
offer's fields change only when they did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import retail_offer

OFFER_FIELDS = ("offer_name", "supplier", "puct_registration", "tdsp_code", "zip5", "term_months", "rate_type",
                "is_green", "green_percentage", "kwh500_cents", "kwh1000_cents", "kwh2000_cents", "efl_url",
                "tos_url", "yrac_url", "offer_json")


def upsert_offer(conn: sa.Connection, offer: dict, *, source: str, raw_file_id: int, seen_at: dt.datetime) -> str:
    """One normalized offer (``vendors.wattbuy.answers.normalize_offer``) in the caller's transaction:
    ``new``, ``changed`` or ``seen``."""
    values = {k: offer.get(k) for k in OFFER_FIELDS}
    key = (retail_offer.c.source == source, retail_offer.c.external_id == offer["external_id"])
    current = conn.execute(sa.select(*(retail_offer.c[k] for k in OFFER_FIELDS)).where(*key)).first()
    if current is None:
        inserted = conn.execute(dialect_insert(conn, retail_offer).values(
            source=source, external_id=offer["external_id"], raw_file_id=raw_file_id, first_seen=seen_at,
            last_seen=seen_at, **values).on_conflict_do_nothing(index_elements=["source", "external_id"]))
        if inserted.rowcount:
            return "new"
        current = conn.execute(sa.select(*(retail_offer.c[k] for k in OFFER_FIELDS)).where(*key)).first()
    changed = {k: v for k, v in values.items() if getattr(current, k) != v}
    conn.execute(sa.update(retail_offer).where(*key).values(last_seen=seen_at, raw_file_id=raw_file_id, **changed))
    return "changed" if changed else "seen"


def upsert_offers(conn: sa.Connection, offers: Iterable[dict], *, source: str, raw_file_id: int,
                  seen_at: dt.datetime) -> dict[str, int]:
    """Every offer of one answer; counts by outcome."""
    counts = {"new": 0, "changed": 0, "seen": 0}
    for offer in offers:
        counts[upsert_offer(conn, offer, source=source, raw_file_id=raw_file_id, seen_at=seen_at)] += 1
    return counts


def known_zips(conn: sa.Connection) -> list[str]:
    """Every ZIP offers were listed for."""
    return [z for z in conn.execute(sa.select(retail_offer.c.zip5).distinct()).scalars() if z]
