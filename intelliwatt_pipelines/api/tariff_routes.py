"""TDU delivery charges (vendor-apis.md §2.7): ``GET /api/v1/tdsp/{code}/charges?as_of=YYYY-MM-DD``.

A consumer route (``x-api-key``), read only: the versions are written by the Dagster asset ``tdsp_tariffs``.
The lookup is ``cdm.tariffs.charges_as_of``; a day no version covers is a 404 (callers fail closed).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from intelliwatt_pipelines.api.auth import require_consumer
from intelliwatt_pipelines.api.errors import ApiError
from intelliwatt_pipelines.api.routing import ERRORS, accepts_json, render
from intelliwatt_pipelines.cdm import tariffs
from intelliwatt_pipelines.cdm.fields.reference import TDSP_CODES
from intelliwatt_pipelines.config import CENTRAL_TZ

router = APIRouter(prefix="/api/v1/tdsp", dependencies=[Depends(require_consumer), Depends(accepts_json)],
                   responses=ERRORS, tags=["tariffs"])


class TariffComponent(BaseModel):
    charge_name: str = Field(description="e.g. Customer Charge, Metering Charge, Volumetric Charge.")
    charge_type: Literal["CUSTOMER", "DELIVERY"]
    unit: Literal["PER_MONTH", "PER_KWH"]
    rate_cents: float = Field(description="As stored, in cents (per month or per kWh).")
    min_kwh: int | None
    max_kwh: int | None


class TdspCharges(BaseModel):
    """The delivery charges in force on ``as_of``: the version covering it and its components summed."""

    tdsp: str
    as_of: dt.date
    effective_start: dt.date
    effective_end: dt.date | None = Field(description="First day it no longer applies; null while current.")
    monthly_cents: float = Field(description="Sum of the PER_MONTH components, ¢ per month.")
    per_kwh_cents: float = Field(description="Sum of the PER_KWH components, ¢ per kWh (a sum above 50 is "
                                             "taken as stored in hundredths of a cent and divided by 100).")
    components: list[TariffComponent]
    source_url: str | None
    source_kind: str
    notes: str | None
    corrId: str


Code = Annotated[str, Path(max_length=16, pattern=r"^[A-Za-z_]+$",
                           description="TDSP code, e.g. ONCOR, CENTERPOINT, AEP_NORTH, AEP_CENTRAL, TNMP.")]
AsOf = Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                   description="The day, YYYY-MM-DD; default today in America/Chicago.")]


def _day(as_of: str | None) -> dt.date:
    if as_of is None:
        return dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()
    try:
        return dt.date.fromisoformat(as_of)
    except ValueError:
        raise ApiError(422, "invalid_parameter", "as_of: not a calendar date (YYYY-MM-DD)") from None


@router.get("/{code}/charges", response_model=TdspCharges)
def charges(request: Request, code: Code, as_of: AsOf = None):
    """The TDSP's delivery charges on ``as_of``; 404 when no tariff version covers that day."""
    tdsp = code.upper()
    if tdsp not in TDSP_CODES:
        raise ApiError(422, "invalid_parameter", f"code: unknown TDSP (one of {', '.join(TDSP_CODES)})")
    day = _day(as_of)
    with request.app.state.read_engine.connect() as conn:
        found = tariffs.charges_as_of(conn, tdsp, day)
    if found is None:
        raise ApiError(404, "not_found", f"no {tdsp} tariff version covers {day.isoformat()}")
    return render({"tdsp": tdsp, "as_of": day, "effective_start": found.effective_start,
                   "effective_end": found.effective_end, "monthly_cents": found.monthly_cents,
                   "per_kwh_cents": found.per_kwh_cents, "components": [dict(c) for c in found.components],
                   "source_url": found.source_url, "source_kind": found.source_kind, "notes": found.notes}, request)
