"""``plan_estimate`` (immutable, one row per home, plan and inputs hash) and ``plan_estimate_current`` (which
row is a home's estimate for a plan now), vendor-apis.md §2.8 e. Rows are never updated: inputs seen before
(even long ago) point back at their row; only the pointer moves, and only when it changes.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import (
    esiid_lookup,
    plan_estimate,
    plan_estimate_current,
    raw_file_coverage,
    service_point,
    usage_bucket_home,
)

E, CUR = plan_estimate.c, plan_estimate_current.c
JSON_FIELDS = ("usage_months", "components_v2", "tdsp_applied", "monthly_breakdown", "drivers", "notes")


def current_hashes(conn: sa.Connection, esiid: str) -> dict[int, str]:
    """plan id -> inputs hash of the home's current estimate for it."""
    rows = conn.execute(sa.select(CUR.rate_plan_id, E.inputs_sha256)
                        .join(plan_estimate, E.id == CUR.estimate_id).where(CUR.esiid == esiid))
    return {r.rate_plan_id: r.inputs_sha256 for r in rows}


def estimate_id(conn: sa.Connection, esiid: str, plan_id: int, inputs_sha256: str) -> int | None:
    """The stored estimate for exactly these inputs, if any."""
    return conn.execute(sa.select(E.id).where(E.esiid == esiid, E.rate_plan_id == plan_id,
                                              E.inputs_sha256 == inputs_sha256)).scalar()


def insert_estimate(conn: sa.Connection, row: dict) -> int:
    """A new estimate (JSON fields as Python values); its id. A concurrent run that stored the same inputs
    first wins: identical inputs mean an identical row, so nothing is lost by taking theirs."""
    values = {k: (json.dumps(v, sort_keys=True) if k in JSON_FIELDS and v is not None else v)
              for k, v in row.items()}
    new_id = conn.execute(dialect_insert(conn, plan_estimate).values(**values).on_conflict_do_nothing(
        index_elements=["esiid", "rate_plan_id", "inputs_sha256"]).returning(E.id)).scalar()
    return new_id or estimate_id(conn, row["esiid"], row["rate_plan_id"], row["inputs_sha256"])


def point_current(conn: sa.Connection, esiid: str, plan_id: int, new_estimate_id: int, now: dt.datetime) -> bool:
    """Make it the home's current estimate for the plan; False when it already was (nothing written)."""
    key = (CUR.esiid == esiid, CUR.rate_plan_id == plan_id)
    current = conn.execute(sa.select(CUR.estimate_id).where(*key)).scalar()
    if current == new_estimate_id:
        return False
    if current is None:
        conn.execute(dialect_insert(conn, plan_estimate_current).values(
            esiid=esiid, rate_plan_id=plan_id, estimate_id=new_estimate_id, selected_at=now)
            .on_conflict_do_update(index_elements=["esiid", "rate_plan_id"],
                                   set_={"estimate_id": new_estimate_id, "selected_at": now}))
    else:
        conn.execute(sa.update(plan_estimate_current).where(*key).values(estimate_id=new_estimate_id,
                                                                       selected_at=now))
    return True


def drop_stale(conn: sa.Connection, esiid: str, keep_plan_ids: set[int]) -> int:
    """Pointers to plans no longer candidates for the home (retired plans): removed; the estimates stay."""
    query = sa.delete(plan_estimate_current).where(CUR.esiid == esiid)
    if keep_plan_ids:
        query = query.where(CUR.rate_plan_id.not_in(sorted(keep_plan_ids)))
    return conn.execute(query).rowcount


def estimate_count(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(plan_estimate)).scalar_one()


def home_tdsp(conn: sa.Connection, esiid: str) -> str | None:
    """The utility serving the home: ERCOT's premise list, else WattBuy's latest answer; None when unknown."""
    code = conn.execute(sa.select(service_point.c.tdsp_code).where(service_point.c.esiid == esiid)).scalar()
    if code:
        return code
    return conn.execute(sa.select(esiid_lookup.c.tdsp_code).where(esiid_lookup.c.esiid == esiid,
                                                                  esiid_lookup.c.tdsp_code.is_not(None))
                        .order_by(esiid_lookup.c.last_seen.desc()).limit(1)).scalar()


def homes_with_buckets(conn: sa.Connection, since: dt.datetime | None = None) -> list[str]:
    """Homes whose buckets were (re)computed after ``since`` (every home with buckets when None), sorted."""
    query = sa.select(usage_bucket_home.c.esiid).order_by(usage_bucket_home.c.esiid)
    if since is not None:
        query = query.where(usage_bucket_home.c.computed_at > since)
    return list(conn.execute(query).scalars())


def buckets_through(conn: sa.Connection) -> dt.datetime | None:
    """The latest bucket computation: a run that started from it needs only homes computed after it."""
    return conn.execute(sa.select(sa.func.max(usage_bucket_home.c.computed_at))).scalar()


def homes_with_intervals(conn: sa.Connection) -> list[str]:
    """Every home with consumption readings, sorted."""
    cov = raw_file_coverage.c
    return list(conn.execute(sa.select(cov.esiid).distinct().where(cov.channel == "consumption")
                             .order_by(cov.esiid)).scalars())
