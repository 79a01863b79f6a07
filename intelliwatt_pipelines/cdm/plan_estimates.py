"""``plan_estimate`` (immutable, one row per home, plan and inputs hash) and ``plan_estimate_current`` (which
row is a home's estimate for a plan now), vendor-apis.md §2.8 e. Rows are never updated: inputs seen before
(even long ago) point back at their row; only the pointer moves, and only when it changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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


def lock_home(conn: sa.Connection, esiid: str) -> None:
    """Hold the home's estimates for this transaction (PostgreSQL advisory lock; SQLite has one writer):
    two runs estimating the same home take turns, and the later one reads what the earlier wrote, so a
    pointer never moves back to estimates of older buckets. Callers lock homes in sorted order."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"plan_estimate:{esiid}".encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def home_estimates(conn: sa.Connection, esiid: str) -> dict[tuple[int, str], int]:
    """(plan id, inputs hash) -> estimate id of every estimate stored for the home."""
    rows = conn.execute(sa.select(E.rate_plan_id, E.inputs_sha256, E.id).where(E.esiid == esiid))
    return {(r.rate_plan_id, r.inputs_sha256): r.id for r in rows}


def current_estimates(conn: sa.Connection, esiid: str) -> dict[int, int]:
    """plan id -> the home's current estimate id for it."""
    rows = conn.execute(sa.select(CUR.rate_plan_id, CUR.estimate_id).where(CUR.esiid == esiid))
    return {r.rate_plan_id: r.estimate_id for r in rows}


def insert_estimates(conn: sa.Connection, rows: list[dict]) -> dict[tuple[int, str], int]:
    """New estimates (JSON fields as Python values), in one statement; (plan id, hash) -> id. A concurrent
    run that stored the same inputs first wins: identical inputs mean an identical row, so nothing is
    lost by taking theirs (``DO NOTHING`` is right here, and only here)."""
    if not rows:
        return {}
    values = [{k: (json.dumps(v, sort_keys=True) if k in JSON_FIELDS and v is not None else v)
               for k, v in row.items()} for row in rows]
    conn.execute(dialect_insert(conn, plan_estimate).on_conflict_do_nothing(
        index_elements=["esiid", "rate_plan_id", "inputs_sha256"]), values)
    wanted = {(r["rate_plan_id"], r["inputs_sha256"]) for r in rows}
    return {k: v for k, v in home_estimates(conn, rows[0]["esiid"]).items() if k in wanted}


def set_current(conn: sa.Connection, esiid: str, pointers: dict[int, int], now: dt.datetime) -> None:
    """Point the home's plans at these estimates (only the pointers that move are passed)."""
    if not pointers:
        return
    insert = dialect_insert(conn, plan_estimate_current)
    conn.execute(insert.on_conflict_do_update(
        index_elements=["esiid", "rate_plan_id"],
        set_={"estimate_id": insert.excluded.estimate_id, "selected_at": insert.excluded.selected_at}),
        [{"esiid": esiid, "rate_plan_id": plan_id, "estimate_id": estimate, "selected_at": now}
         for plan_id, estimate in sorted(pointers.items())])


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
    """Homes whose buckets were (re)computed at or after ``since`` (every home with buckets when None), sorted.
    At, not only after: a bucket run's later chunk may commit with the same time as one already seen."""
    query = sa.select(usage_bucket_home.c.esiid).order_by(usage_bucket_home.c.esiid)
    if since is not None:
        query = query.where(usage_bucket_home.c.computed_at >= since)
    return list(conn.execute(query).scalars())


def buckets_through(conn: sa.Connection) -> dt.datetime | None:
    """The latest bucket computation: a run that started from it needs only homes computed after it."""
    return conn.execute(sa.select(sa.func.max(usage_bucket_home.c.computed_at))).scalar()


def homes_with_intervals(conn: sa.Connection) -> list[str]:
    """Every home with consumption readings, sorted."""
    cov = raw_file_coverage.c
    return list(conn.execute(sa.select(cov.esiid).distinct().where(cov.channel == "consumption")
                             .order_by(cov.esiid)).scalars())


def utilities_version(conn: sa.Connection) -> str:
    """What the homes' utilities were read from (premises and lookups), as one string: when it moves, the
    estimates of every home are checked again (a home whose utility became known gets its plans)."""
    sp = conn.execute(sa.select(sa.func.count(), sa.func.max(service_point.c.updated_at))).one()
    lk = conn.execute(sa.select(sa.func.count(), sa.func.max(esiid_lookup.c.last_seen))).one()
    return f"sp:{sp[0]}@{sp[1]}|lookup:{lk[0]}@{lk[1]}"
