"""Versioned TDU delivery tariffs (vendor-apis.md §2.7): ``tdsp_tariff_version`` + ``tdsp_tariff_component``.

Append-only. A version's values never change; only its ``effective_end`` is set ("closed"), so that the
versions of a TDSP never overlap:

- a version starting later than open-ended (or longer-running) earlier ones closes them at its start;
- a version starting earlier than versions already stored (a back-filled report) ends where the next one
  starts, and closes the earlier ones at its own start as above;
- a second version with the same ``effective_start`` (a restatement from another source) gets the same
  end; the lookup takes the latest recorded. Such restatements are not overlaps (``overlaps``);
- the same (TDSP, effective_start, source_key) again is a no-op.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import tdsp_tariff_component, tdsp_tariff_version

V, C = tdsp_tariff_version, tdsp_tariff_component
COMPONENT_FIELDS = ("charge_name", "charge_type", "unit", "rate_cents", "min_kwh", "max_kwh", "raw_source_json")
# A per-kWh total above this is a rate stored in hundredths of a cent (558.33 for 5.5833 ¢): the
# replaced system's lookup divides it by 100, and so does this one.
PER_KWH_SANITY_CENTS = 50


class VersionLike(Protocol):
    """What ``add_version`` reads (``sources.tdsp_tariffs.TariffVersion`` is one)."""

    tdsp_code: str
    effective_start: dt.date
    source_key: str
    source_kind: str
    source_url: str | None
    notes: str | None
    components: tuple


@dataclass(frozen=True)
class Charges:
    """The delivery charges in force for a TDSP on a day."""

    tdsp_code: str
    as_of: dt.date
    version_id: int
    effective_start: dt.date
    effective_end: dt.date | None
    monthly_cents: float
    per_kwh_cents: float
    components: tuple[dict, ...]
    source_url: str | None
    source_kind: str
    notes: str | None


def _existing(conn: sa.Connection, version: VersionLike) -> int | None:
    row = conn.execute(sa.select(V.c.id, V.c.tdsp_code, V.c.effective_start)
                       .where(V.c.source_key == version.source_key)).first()
    if row is None:
        return None
    if (row.tdsp_code, row.effective_start) != (version.tdsp_code, version.effective_start):
        raise ValueError(f"source_key {version.source_key[:16]}… is already version {row.id} "
                         f"({row.tdsp_code} from {row.effective_start})")
    return row.id


def add_version(conn: sa.Connection, version: VersionLike, now: dt.datetime) -> tuple[int, bool]:
    """Record ``version`` in the caller's transaction: ``(id, True)`` when new, ``(id, False)`` when this
    (TDSP, effective_start, source_key) is already stored. See the module docstring for the closing rules."""
    if (known := _existing(conn, version)) is not None:
        return known, False
    start, tdsp = version.effective_start, version.tdsp_code
    next_start = conn.execute(sa.select(sa.func.min(V.c.effective_start))
                              .where(V.c.tdsp_code == tdsp, V.c.effective_start > start)).scalar()
    inserted = conn.execute(dialect_insert(conn, V).values(
        tdsp_code=tdsp, effective_start=start, effective_end=next_start, source_url=version.source_url,
        source_key=version.source_key, source_kind=version.source_kind, notes=version.notes, created_at=now)
        .on_conflict_do_nothing(index_elements=["source_key"]).returning(V.c.id)).scalar()
    if inserted is None:  # a concurrent run recorded it first
        return _existing(conn, version), False
    conn.execute(sa.update(V).where(V.c.tdsp_code == tdsp, V.c.effective_start < start,
                                    sa.or_(V.c.effective_end.is_(None), V.c.effective_end > start))
                 .values(effective_end=start))
    conn.execute(sa.insert(C), [{"version_id": inserted, **{k: getattr(comp, k, None) for k in COMPONENT_FIELDS}}
                                for comp in version.components])
    return inserted, True


def _components(conn: sa.Connection, version_id: int) -> tuple[dict, ...]:
    rows = conn.execute(sa.select(*(C.c[k] for k in COMPONENT_FIELDS[:-1])).where(C.c.version_id == version_id)
                        .order_by(C.c.unit, C.c.charge_name)).mappings()
    return tuple({str(k): v for k, v in r.items()} for r in rows)  # plain str keys (orjson refuses quoted_name)


def charges_as_of(conn: sa.Connection, tdsp_code: str, as_of: dt.date) -> Charges | None:
    """The version with effective_start ≤ as_of < effective_end (open end: ∞), the latest start first, then
    the latest recorded; its PER_MONTH and PER_KWH components summed. None when no version covers the
    day (callers fail closed)."""
    row = conn.execute(sa.select(V).where(
        V.c.tdsp_code == tdsp_code, V.c.effective_start <= as_of,
        sa.or_(V.c.effective_end.is_(None), V.c.effective_end > as_of))
        .order_by(V.c.effective_start.desc(), V.c.created_at.desc(), V.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    components = _components(conn, row.id)
    monthly = sum(c["rate_cents"] for c in components if c["unit"] == "PER_MONTH")
    per_kwh = sum(c["rate_cents"] for c in components if c["unit"] == "PER_KWH")
    if per_kwh > PER_KWH_SANITY_CENTS:
        per_kwh /= 100
    return Charges(tdsp_code=tdsp_code, as_of=as_of, version_id=row.id, effective_start=row.effective_start,
                   effective_end=row.effective_end, monthly_cents=round(monthly, 6), per_kwh_cents=round(per_kwh, 6),
                   components=components, source_url=row.source_url, source_kind=row.source_kind, notes=row.notes)


def delivery_cents(charges: Charges, kwh: float) -> int:
    """A month's delivery charge for ``kwh``: monthly + per-kWh × kWh, rounded (half up) to the cent only at
    the end, as a bill's line is."""
    total = Decimal(str(charges.monthly_cents)) + Decimal(str(charges.per_kwh_cents)) * Decimal(str(kwh))
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def overlaps(conn: sa.Connection) -> list[dict]:
    """Pairs of versions of one TDSP, with different starts, whose [start, end) ranges intersect (should
    be none: ``add_version`` closes versions so they never do)."""
    rows = conn.execute(sa.select(V.c.id, V.c.tdsp_code, V.c.effective_start, V.c.effective_end)
                        .order_by(V.c.tdsp_code, V.c.effective_start, V.c.id)).all()
    found = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if b.tdsp_code != a.tdsp_code:
                break
            if b.effective_start > a.effective_start and (a.effective_end is None or a.effective_end > b.effective_start):
                found.append({"tdsp_code": a.tdsp_code, "first_id": a.id, "first_start": a.effective_start,
                              "first_end": a.effective_end, "second_id": b.id, "second_start": b.effective_start})
    return found


def uncovered(conn: sa.Connection, tdsp_codes, day: dt.date) -> list[str]:
    """Those of ``tdsp_codes`` with no version covering ``day``."""
    return sorted(code for code in set(tdsp_codes) if charges_as_of(conn, code, day) is None)


def tdsps_with_versions(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.select(V.c.tdsp_code).distinct().order_by(V.c.tdsp_code)).scalars())
