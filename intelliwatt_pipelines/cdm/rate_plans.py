"""``rate_plan``: retail plans in the cost engine's model, one row per (source, external id) (vendor-apis.md
§2.8 b). The key holds no term, so a plan without one is found again and never duplicated (the replaced
system wrote a null term as 0 in its lookup and as null on insert). A plan read again changes its row only
where a field changed; ``valid_from`` moves when its prices do (a new version of the plan); a plan its source
no longer lists gets ``valid_to`` and leaves the candidates.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import rate_plan

PLAN_FIELDS = ("supplier", "supplier_puct", "plan_name", "term_months", "tdsp_code", "rate_type", "rate_structure",
               "rate_structure_sha256", "avg_500", "avg_1000", "avg_2000", "efl_url", "efl_sha256",
               "plan_calc_status", "plan_calc_reason", "required_bucket_keys", "raw_file_id")
P = rate_plan.c


def upsert_plan(conn: sa.Connection, source: str, external_id: str, values: dict,
                now: dt.datetime) -> tuple[int, str]:
    """One plan in the caller's transaction: (id, ``new`` | ``changed`` | ``seen``). ``values`` has the
    PLAN_FIELDS (``required_bucket_keys`` a list; ``rate_structure`` canonical JSON text)."""
    row = {k: values.get(k) for k in PLAN_FIELDS}
    row["required_bucket_keys"] = json.dumps(sorted(row["required_bucket_keys"] or []))
    key = (P.source == source, P.external_id == external_id)
    current = conn.execute(sa.select(P.id, P.valid_to, *(P[k] for k in PLAN_FIELDS)).where(*key)).first()
    if current is None:
        new_id = conn.execute(dialect_insert(conn, rate_plan).values(
            source=source, external_id=external_id, valid_from=now, updated_at=now, **row)
            .on_conflict_do_nothing(index_elements=["source", "external_id"]).returning(P.id)).scalar()
        if new_id is not None:
            return new_id, "new"
        current = conn.execute(sa.select(P.id, P.valid_to, *(P[k] for k in PLAN_FIELDS)).where(*key)).first()
    changed = {k: v for k, v in row.items() if getattr(current, k) != v}
    if current.valid_to is not None:
        changed["valid_to"] = None  # listed again
    if not changed:
        return current.id, "seen"
    if "rate_structure_sha256" in changed:
        changed["valid_from"] = now
    conn.execute(sa.update(rate_plan).where(P.id == current.id).values(updated_at=now, **changed))
    return current.id, "changed"


def retire_unlisted(conn: sa.Connection, source: str, listed: Iterable[str], now: dt.datetime) -> int:
    """Plans of ``source`` not among ``listed`` (external ids) get ``valid_to``; how many."""
    listed = list(listed)
    query = sa.update(rate_plan).where(P.source == source, P.valid_to.is_(None))
    if listed:
        query = query.where(P.external_id.not_in(listed))
    return conn.execute(query.values(valid_to=now, updated_at=now)).rowcount


def candidate_plans(conn: sa.Connection, tdsp_code: str | None = None) -> list:
    """Listed plans (``valid_to`` null), of one utility or all, by id: rows of every column."""
    query = sa.select(rate_plan).where(P.valid_to.is_(None)).order_by(P.id)
    if tdsp_code is not None:
        query = query.where(P.tdsp_code == tdsp_code)
    return conn.execute(query).all()


def required_keys(conn: sa.Connection) -> list[str]:
    """Every bucket key some listed, computable plan needs (sorted)."""
    keys: set[str] = set()
    rows = conn.execute(sa.select(P.required_bucket_keys).where(P.valid_to.is_(None),
                                                                P.plan_calc_status == "COMPUTABLE"))
    for (text,) in rows:
        keys.update(json.loads(text or "[]"))
    return sorted(keys)


def plans_fingerprint(conn: sa.Connection) -> str:
    """What the listed plans are, as one string (ids, utilities, price hashes and classifications): part of
    the estimates' run-wide fingerprint."""
    rows = conn.execute(sa.select(P.id, P.tdsp_code, P.rate_structure_sha256, P.plan_calc_status, P.plan_calc_reason)
                        .where(P.valid_to.is_(None)).order_by(P.id)).all()
    return ";".join(f"{r.id}:{r.tdsp_code}:{r.rate_structure_sha256}:{r.plan_calc_status}:{r.plan_calc_reason}"
                    for r in rows)
