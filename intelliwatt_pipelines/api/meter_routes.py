"""Meter roles and check-vs-primary comparisons of a service point (1PWR markets, vendor-apis.md §3):
``GET /api/v1/esiids/{esiid}/meter-checks``. Customer care compares a check meter in series with the
customer's primary meter day by day; the tolerance is the billing reconciliation's."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from intelliwatt_pipelines.api import reads
from intelliwatt_pipelines.api.auth import require_consumer
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.routing import ERRORS, Esiid, Instant, accepts_json, render, valid_esiid
from intelliwatt_pipelines.api.timeparams import local_zone, parse_day
from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.fields.meters import ROLES
from intelliwatt_pipelines.cdm.meter_roles import check_vs_primary, roles_of
from intelliwatt_pipelines.config import current

router = APIRouter(prefix="/api/v1/esiids", dependencies=[Depends(require_consumer), Depends(accepts_json)],
                   responses=ERRORS, tags=["usage"])
DEFAULT_DAYS = 31


class MeterRole(BaseModel):
    meter: str
    role: Literal[tuple(ROLES)]


class MeterCheck(BaseModel):
    local_date: dt.date
    primary_meter: str
    check_meter: str
    primary_kwh: float
    check_kwh: float
    difference_kwh: float = Field(description="check - primary")
    allowed_kwh: float = Field(description="max(INTELLIWATT_RECONCILE_TOLERANCE_KWH, "
                                           "INTELLIWATT_RECONCILE_TOLERANCE_PCT % of the primary's kWh)")
    status: Literal["match", "mismatch"]


class MeterChecks(BaseModel):
    start: dt.date
    end: dt.date
    meters: list[MeterRole] = Field(description="The service point's registered meters and their roles.")
    days: list[MeterCheck] = Field(description="Days on which a check meter and the primary both have readings.")
    corrId: str


@router.get("/{esiid}/meter-checks", response_model=MeterChecks)
def meter_checks(request: Request, esiid: Esiid, start: Instant = None, end: Instant = None):
    """The meters' roles and, per local day in [start, end] (default: the last 31 days), each check meter's
    kWh against the primary's."""
    valid_esiid(esiid)
    last = parse_day(end, "end") or dt.datetime.now(local_zone()).date()
    first = parse_day(start, "start") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ApiError(422, "invalid_parameter", "end must not be before start")
    tolerance = Tolerance(current("reconcile_tolerance_kwh"), current("reconcile_tolerance_pct"))
    with request.app.state.read_engine.connect() as conn:
        reads.series(conn, esiid)  # 404 for an unknown service point, as on the other routes
        meters = roles_of(conn, esiid)
        days = check_vs_primary(conn, first, last, tolerance, esiid=esiid)
    return render({"start": first, "end": last, "meters": meters,
                   "days": days.drop(columns="esiid").to_dict("records")}, request)
