"""A home's plan estimates (vendor-apis.md §2.8 e): the ranked list, one plan's detail, and a chart.

- ``GET /api/v1/esiids/{esiid}/plan-estimates?limit=20``: the current estimate of each plan, best first;
- ``GET /api/v1/esiids/{esiid}/plan-estimates/{plan_id}``: one plan's, with its monthly breakdown;
- ``GET /api/v1/esiids/{esiid}/plan-estimates.svg?limit=10``: monthly cost of the best priced plans.

Read only: the Dagster asset ``plan_estimates`` writes them. JSON routes take ``x-api-key`` like the usage
routes; the chart is for a browser and also takes HTTP Basic, like the other pictures. A home with no
estimate is a 404, as an unknown home is elsewhere. The request log masks the ESIID (``RequestLog``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from intelliwatt_pipelines.api.auth import require_consumer
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.picture_routes import PICTURE, SVG_HEADERS, SvgResponse
from intelliwatt_pipelines.api.plan_chart import monthly_cost_svg
from intelliwatt_pipelines.api.plan_models import EstimateDetail, EstimateList
from intelliwatt_pipelines.api.routing import ERRORS, MAX_ID, Esiid, accepts_json, render, valid_esiid
from intelliwatt_pipelines.cdm import plan_estimate_reads
from intelliwatt_pipelines.pii import mask

LIST_DEFAULT, LIST_MAX = 20, 200
CHART_DEFAULT, CHART_MAX = 10, 50  # more lines than that are unreadable in one chart
LIST_FIELDS = ("plan_id", "supplier", "plan_name", "term_months", "status", "reason", "annual_cost_dollars",
               "monthly_cost_dollars", "effective_cents_per_kwh", "confidence", "components_v2")
NONE_STORED = "no plan estimates are stored for this ESIID"
JSON_ROUTE = {"dependencies": [Depends(require_consumer), Depends(accepts_json)], "responses": ERRORS,
              "tags": ["plans"]}

router = APIRouter(prefix="/api/v1/esiids")
PlanId = Annotated[int, Path(ge=1, le=MAX_ID, description="The plan (rate_plan id), as the list gives it.")]


@router.get("/{esiid}/plan-estimates", response_model=EstimateList, **JSON_ROUTE)
def plan_estimates(request: Request, esiid: Esiid,
                   limit: Annotated[int, Query(ge=1, le=LIST_MAX, description="Most plans returned.")] = LIST_DEFAULT):
    """The home's current estimate of each plan: OK before APPROXIMATE before NOT_COMPUTABLE before
    NOT_IMPLEMENTED, then cheapest first. ``as_of`` and ``usage_months`` are those of the newest estimate."""
    valid_esiid(esiid)
    with request.app.state.read_engine.connect() as conn:
        latest = plan_estimate_reads.latest_inputs(conn, esiid)
        if latest is None:
            raise ApiError(404, "not_found", NONE_STORED)
        rows = plan_estimate_reads.current_estimates(conn, esiid, limit)
    estimates = [{k: row[k] for k in LIST_FIELDS} for row in rows]
    return render({"esiid": esiid, **latest, "estimates": estimates}, request)


# Declared before the {plan_id} route (it could not match ".svg" anyway: plan_id is a path segment of its own).
@router.get("/{esiid}/plan-estimates.svg", **{**PICTURE, "tags": ["plans"]})
def plan_estimates_svg(request: Request, esiid: Esiid,
                       limit: Annotated[int, Query(ge=1, le=CHART_MAX, description="Most plans drawn.")] = CHART_DEFAULT):
    """Monthly cost (dollars) of the home's best ``limit`` priced plans (OK or APPROXIMATE, ranked as in the
    list), one line per plan; the legend gives supplier, plan name and annual cost."""
    valid_esiid(esiid)
    with request.app.state.read_engine.connect() as conn:
        if plan_estimate_reads.latest_inputs(conn, esiid) is None:
            raise ApiError(404, "not_found", NONE_STORED)
        rows = plan_estimate_reads.current_estimates(conn, esiid, limit, priced_only=True, breakdown=True)
    series = [(_label(row), _months(row["monthly_breakdown"])) for row in rows]
    return SvgResponse(monthly_cost_svg(series, f"Monthly cost by plan, {mask(esiid)}"), headers=SVG_HEADERS)


@router.get("/{esiid}/plan-estimates/{plan_id}", response_model=EstimateDetail, **JSON_ROUTE)
def plan_estimate(request: Request, esiid: Esiid, plan_id: PlanId):
    """The home's current estimate for one plan, with the plan, the monthly breakdown (dollars), drivers,
    notes, the delivery tariff applied and the inputs hash; 404 when the home has none for that plan."""
    valid_esiid(esiid)
    with request.app.state.read_engine.connect() as conn:
        found = plan_estimate_reads.estimate_detail(conn, esiid, plan_id)
    if found is None:
        raise ApiError(404, "not_found", "no estimate of this plan is stored for this ESIID")
    return render({"esiid": esiid, **found}, request)


def _label(row: dict) -> str:
    name = " – ".join(part for part in (row["supplier"], row["plan_name"]) if part)
    cost = row["annual_cost_dollars"]
    return f"{name}: ${cost:,.2f}/yr" if cost is not None else name


def _months(breakdown) -> list[tuple[str, float]]:
    """(YYYY-MM, total dollars) per month of a stored breakdown; months without a usable total are left out."""
    out = []
    for month in breakdown if isinstance(breakdown, list) else []:
        if isinstance(month, dict) and isinstance(month.get("year_month"), str) \
                and isinstance(month.get("total"), int | float) and not isinstance(month.get("total"), bool):
            out.append((month["year_month"], float(month["total"])))
    return out
