"""Read queries over a home's current plan estimates (vendor-apis.md §2.8 e) for the API.

A home's estimate for a plan is the ``plan_estimate`` row ``plan_estimate_current`` points at; older rows
(other inputs) stay stored but are never read here. Rows come out as plain dicts, ready to render: the
JSON the writer stores as text (``cdm.plan_estimates.JSON_FIELDS``) is decoded, dates stay dates.
Ranking: priced before approximate before not computable before not implemented, then cheapest first
(an unpriced row last), then plan id, so equal costs still page the same way every time.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import plan_estimate, plan_estimate_current, rate_plan

E, CUR, P = plan_estimate.c, plan_estimate_current.c, rate_plan.c
STATUS_ORDER = ("OK", "APPROXIMATE", "NOT_COMPUTABLE", "NOT_IMPLEMENTED")
PRICED = ("OK", "APPROXIMATE")
JSON_COLUMNS = ("usage_months", "components_v2", "tdsp_applied", "monthly_breakdown", "drivers", "notes")
_LIST_COLUMNS = (P.id.label("plan_id"), P.supplier, P.plan_name, P.term_months, E.status, E.reason,
                 E.annual_cost_dollars, E.monthly_cost_dollars, E.effective_cents_per_kwh, E.confidence,
                 E.components_v2)
_DETAIL_COLUMNS = (*_LIST_COLUMNS, P.tdsp_code, P.rate_type, P.source, P.external_id, P.efl_url, P.valid_to,
                   E.id.label("estimate_id"), E.inputs_sha256, E.as_of, E.estimate_mode, E.usage_months,
                   E.annual_kwh, E.monthly_breakdown, E.drivers, E.notes, E.tdsp_applied, E.computed_at)


def _decoded(value):
    """Stored JSON text as Python values; None stays None. Text that is not JSON (nothing this project
    writes) is passed on as None rather than failing the whole list."""
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _row(mapping) -> dict:
    row = {str(k): v for k, v in mapping.items()}
    for key in JSON_COLUMNS:
        if key in row:
            row[key] = _decoded(row[key])
    return row


def _current(esiid: str, *columns) -> sa.Select:
    """The home's current estimates joined with their plans."""
    return (sa.select(*columns).select_from(plan_estimate_current)
            .join(plan_estimate, E.id == CUR.estimate_id).join(rate_plan, P.id == CUR.rate_plan_id)
            .where(CUR.esiid == esiid))


def _ranking() -> tuple:
    rank = sa.case({status: i for i, status in enumerate(STATUS_ORDER)}, value=E.status, else_=len(STATUS_ORDER))
    # Nulls last spelled out: SQLite and PostgreSQL disagree on where NULL sorts by default.
    return rank, sa.case((E.annual_cost_dollars.is_(None), 1), else_=0), E.annual_cost_dollars, P.id


def current_estimates(conn: sa.Connection, esiid: str, limit: int, *, priced_only: bool = False,
                      breakdown: bool = False) -> list[dict]:
    """Up to ``limit`` of the home's current estimates, best first (see the module text); each with the plan's
    ``plan_id``, ``supplier``, ``plan_name``, ``term_months`` and the estimate's status, reason, costs,
    confidence and ``components_v2``. ``priced_only``: OK and APPROXIMATE only; ``breakdown``: also each
    one's ``monthly_breakdown`` (for the chart)."""
    columns = (*_LIST_COLUMNS, E.monthly_breakdown) if breakdown else _LIST_COLUMNS
    query = _current(esiid, *columns)
    if priced_only:
        query = query.where(E.status.in_(PRICED))
    rows = conn.execute(query.order_by(*_ranking()).limit(limit)).all()
    return [_row(r._mapping) for r in rows]


def latest_inputs(conn: sa.Connection, esiid: str) -> dict | None:
    """``as_of`` and ``usage_months`` of the home's newest current estimate (latest analysis day, then latest
    computed); None when the home has no current estimate at all."""
    found = conn.execute(_current(esiid, E.as_of, E.usage_months)
                         .order_by(E.as_of.desc(), E.computed_at.desc(), E.id.desc()).limit(1)).first()
    if found is None:
        return None
    usage = _decoded(found.usage_months)
    return {"as_of": found.as_of, "usage_months": usage if isinstance(usage, list) else []}


def estimate_detail(conn: sa.Connection, esiid: str, plan_id: int) -> dict | None:
    """The home's current estimate for one plan with everything stored about it (monthly breakdown, drivers,
    notes, the tariff applied, the inputs hash) and the plan's own fields; None when there is none."""
    found = conn.execute(_current(esiid, *_DETAIL_COLUMNS).where(CUR.rate_plan_id == plan_id)).first()
    return None if found is None else _row(found._mapping)
