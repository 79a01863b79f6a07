"""Response shapes of the plan estimate routes (``plan_routes``), for the OpenAPI schema.

Dollars throughout, rounded to cents by the engine. The JSON parts the engine writes (components, the
tariff applied, drivers) may gain keys: the models name what is there today and allow more.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intelliwatt_pipelines.cdm.fields.plans import ESTIMATE_STATUSES, PLAN_SOURCES

Status = Literal[tuple(ESTIMATE_STATUSES)]
Confidence = Literal["HIGH", "MEDIUM", "LOW"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RepPart(_Open):
    energy: float | None = None
    fixed: float | None = None
    total: float | None = None


class TdspPart(_Open):
    delivery: float | None = None
    fixed: float | None = None
    total: float | None = None


class Components(_Open):
    """What the annual cost is made of, in dollars; credits are negative."""

    rep: RepPart | None = None
    tdsp: TdspPart | None = None
    credits: float | None = None
    minimum_usage_fee: float | None = None
    minimum_bill_top_up: float | None = None
    total: float | None = None


class Estimate(BaseModel):
    """A home's current estimate for one plan."""

    plan_id: int = Field(description="The rate_plan id (GET …/plan-estimates/{plan_id} for the detail).")
    supplier: str | None
    plan_name: str
    term_months: int | None
    status: Status = Field(description="; ".join(f"{k}: {v}" for k, v in ESTIMATE_STATUSES.items()))
    reason: str | None = Field(description="Engine reason code and detail when not OK.")
    annual_cost_dollars: float | None = Field(description="Cost over the months priced; null when not priced.")
    monthly_cost_dollars: float | None
    effective_cents_per_kwh: float | None
    confidence: Confidence | None
    components_v2: Components | None


class EstimateList(BaseModel):
    esiid: str
    as_of: dt.date = Field(description="Analysis day of the newest estimate (its delivery tariff was applied).")
    usage_months: list[str] = Field(description="The months that estimate priced, `YYYY-MM`.")
    estimates: list[Estimate] = Field(description="OK, then APPROXIMATE, NOT_COMPUTABLE, NOT_IMPLEMENTED; "
                                                  "then by annual cost (unpriced last), then plan id.")
    corrId: str


class MonthCost(_Open):
    """One month of the estimate, in dollars."""

    year_month: str = Field(description="`YYYY-MM`, America/Chicago.")
    kwh: float
    rep_energy: float | None = None
    rep_fixed: float | None = None
    tdsp_delivery: float | None = None
    tdsp_fixed: float | None = None
    credits: float | None = None
    minimum_usage_fee: float | None = None
    minimum_bill_top_up: float | None = None
    total: float


class EstimateDetail(Estimate):
    """One plan's current estimate for the home, with its plan and everything the engine stored."""

    esiid: str
    tdsp_code: str | None
    rate_type: str
    source: Literal[tuple(PLAN_SOURCES)]
    external_id: str
    efl_url: str | None
    valid_to: dt.datetime | None = Field(description="When the source stopped listing the plan; null while listed.")
    estimate_id: int
    inputs_sha256: str = Field(description="Hash of every input: identical inputs reuse this estimate.")
    as_of: dt.date
    estimate_mode: Literal["DEFAULT", "INDEXED_EFL_ANCHOR_APPROX"]
    usage_months: list[str] | None
    annual_kwh: float
    monthly_breakdown: list[MonthCost] | None
    drivers: Any = Field(description="The months and components that drive the cost (JSON); null when none.")
    notes: list[str] | None
    tdsp_applied: dict[str, Any] | None = Field(description="The delivery tariff applied: tdsp, per_kwh_cents, "
                                                            "monthly_cents, effective_date.")
    computed_at: dt.datetime
    corrId: str
