"""Plan estimates (vendor-apis.md §2.8 e): for each home, every candidate plan priced over its last 12 usable
months with the delivery tariff in force on the analysis day. The inputs hash decides: the same inputs as
the current estimate write nothing; inputs seen before point back at their stored row; only new inputs
run the engine and add a row (rows are never updated).

Candidates are the listed plans of the home's utility; when the utility is unknown (no premise or lookup
yet), every listed plan, each with its own utility's tariff, and the estimate notes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines.cdm import plan_estimates, rate_plans, tariffs, usage_buckets
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.pricing.engine import EngineInputs, EngineResult, Tdsp, price_plan
from intelliwatt_pipelines.pricing.inputs_key import inputs_sha256
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.reasons import MISSING_TDSP_TARIFF

log = logging.getLogger("intelliwatt.plans")
MONTHS = 12


@dataclass
class EstimateRun:
    """What one run did: homes seen; estimates unchanged, re-pointed at a stored row, newly computed; and the
    new ones by status."""

    homes: int = 0
    unchanged: int = 0
    reused: int = 0
    computed: int = 0
    by_status: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """The run-wide inputs: analysis day, engine mode, month usability threshold."""

    as_of: dt.date
    mode: str = "DEFAULT"
    min_complete: float = 1.0
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


class _Plans:
    """Listed plans with their parsed structures, and tariffs by utility, read once per run."""

    def __init__(self, conn: sa.Connection, as_of: dt.date):
        self.rows = rate_plans.candidate_plans(conn)
        # None for a plan of UNKNOWN type: it is listed (NOT_COMPUTABLE, with its reason) but never priced
        self.structures = {p.id: RateStructure.from_json_dict(json.loads(p.rate_structure)) if p.rate_structure
                           else None for p in self.rows}
        self.tdsps: dict[str, Tdsp | None] = {}
        for code in {p.tdsp_code for p in self.rows if p.tdsp_code}:
            charges = tariffs.charges_as_of(conn, code, as_of)
            self.tdsps[code] = charges and Tdsp(per_kwh_cents=charges.per_kwh_cents,
                                                monthly_cents=charges.monthly_cents,
                                                effective_date=str(charges.effective_start), tdsp_code=code)

    def for_home(self, tdsp_code: str | None) -> list:
        return [p for p in self.rows if tdsp_code is None or p.tdsp_code in (None, tdsp_code)]


def usage_window(months: dict, min_complete: float) -> dict[str, dict[str, float]]:
    """The latest 12 usable months' buckets (fewer when the home has fewer; the engine then says so)."""
    usable = sorted(ym for ym, m in months.items() if m.expected_days and m.complete_days / m.expected_days
                    >= min_complete - 1e-9)
    return {ym: months[ym].kwh for ym in usable[-MONTHS:]}


def _row(esiid: str, plan, inputs: EngineInputs, sha: str, result: EngineResult, run: Analysis) -> dict:
    return {"esiid": esiid, "rate_plan_id": plan.id, "inputs_sha256": sha, "as_of": run.as_of,
            "estimate_mode": run.mode, "usage_months": sorted(inputs.usage_buckets_by_month),
            "annual_kwh": round(inputs.annual_kwh or 0.0, 6), "status": result.status, "reason": result.reason,
            "annual_cost_dollars": result.annual_cost_dollars, "monthly_cost_dollars": result.monthly_cost_dollars,
            "effective_cents_per_kwh": result.effective_cents_per_kwh, "confidence": result.confidence,
            "components_v2": result.components_v2 or None, "tdsp_applied": result.tdsp_applied,
            "monthly_breakdown": list(result.monthly) or None, "drivers": result.drivers or None,
            "notes": list(result.notes), "computed_at": run.now}


def _price(plan, inputs: EngineInputs, unknown_utility: bool) -> EngineResult:
    """The engine's result; a plan classified NOT_COMPUTABLE (e.g. an EFL that failed validation) is not
    priced at all, so it can never come out priced by accident."""
    if plan.plan_calc_status != "COMPUTABLE":
        return EngineResult.not_computable(plan.plan_calc_reason or "NOT_COMPUTABLE")
    if inputs.tdsp is None and not inputs.rate_structure.tdsp_delivery_included:
        return EngineResult.not_computable(f"{MISSING_TDSP_TARIFF}: no delivery tariff in force on the analysis day")
    result = price_plan(inputs)
    return result.with_note("home's utility unknown: priced with the plan's utility tariff") if unknown_utility \
        else result


def estimate_home(conn: sa.Connection, esiid: str, plans: _Plans, run: Analysis, out: EstimateRun) -> None:
    """Every candidate plan for one home, in the caller's transaction."""
    usage = usage_window(usage_buckets.home_months(conn, esiid), run.min_complete)
    annual = sum(m.get("kwh.m.all.total", 0.0) for m in usage.values())
    tdsp_code = plan_estimates.home_tdsp(conn, esiid)
    current = plan_estimates.current_hashes(conn, esiid)
    candidates = plans.for_home(tdsp_code)
    for plan in candidates:
        tdsp = plans.tdsps.get(plan.tdsp_code or tdsp_code)
        inputs = EngineInputs(rate_structure=plans.structures[plan.id], usage_buckets_by_month=usage, tdsp=tdsp,
                              months_count=MONTHS, estimate_mode=run.mode, annual_kwh=annual)
        sha = inputs_sha256(inputs)
        if current.get(plan.id) == sha:
            out.unchanged += 1
            continue
        stored = plan_estimates.estimate_id(conn, esiid, plan.id, sha)
        if stored is None:
            result = _price(plan, inputs, tdsp_code is None)
            stored = plan_estimates.insert_estimate(conn, _row(esiid, plan, inputs, sha, result, run))
            out.computed += 1
            out.by_status[result.status] = out.by_status.get(result.status, 0) + 1
        else:
            out.reused += 1
        plan_estimates.point_current(conn, esiid, plan.id, stored, run.now)
    plan_estimates.drop_stale(conn, esiid, {p.id for p in candidates})


def estimate_homes(engine: sa.Engine, esiids: list[str], run: Analysis, *, chunk_homes: int = 200) -> EstimateRun:
    """Estimates for these homes, one transaction per chunk of homes."""
    out = EstimateRun()
    with engine.connect() as conn:
        plans = _Plans(conn, run.as_of)
    for start in range(0, len(esiids), chunk_homes):
        with engine.begin() as conn:
            for esiid in esiids[start:start + chunk_homes]:
                estimate_home(conn, esiid, plans, run, out)
                out.homes += 1
        log.info("plan estimates: %d of %d homes (last %s)", out.homes, len(esiids), mask(esiids[-1]))
    return out


def inputs_fingerprint(engine: sa.Engine, run: Analysis) -> str:
    """Everything run-wide an estimate depends on besides the home's buckets: the listed plans and their
    prices, the tariff versions in force on the analysis day, the mode and the usability threshold. When it
    differs from the last run's, every home is estimated again (identical inputs still write nothing)."""
    with engine.connect() as conn:
        plans = _Plans(conn, run.as_of)
        fingerprint = rate_plans.plans_fingerprint(conn)
    tdsps = ",".join(f"{code}:{t.per_kwh_cents}/{t.monthly_cents}@{t.effective_date}" if t else f"{code}:none"
                     for code, t in sorted(plans.tdsps.items()))
    return hashlib.sha256(f"{fingerprint}|{tdsps}|{run.mode}|{run.min_complete}".encode()).hexdigest()
