"""Plan estimates (vendor-apis.md §2.8 e): for each home, every plan of its utility priced over a year of
its usage with the delivery tariff in force on the analysis day.

- The year: the latest usable instance of each calendar month within the 24 months before the analysis
  month, all twelve needed (``MISSING_USAGE_BUCKETS`` otherwise): each season once, nothing stale.
- Only the home's utility's plans, so a plan is never priced with another utility's delivery charges; a
  home whose utility is not known yet (no premise, no lookup) gets no estimates until it is.
- The inputs hash decides, per (home, plan): the same hash as the current estimate writes nothing; a hash
  seen before points back at its stored row; only a new hash runs the engine and adds a row (rows are
  never updated). The hash covers the buckets the plan reads (not every key the home has), the plan's
  classification, the home's utility and the engine's version, so any of them changing is a new estimate.
- A time-of-use plan whose days buckets cannot name (Mon-Wed nights, say; classified ``INTERVAL_PRICED``) is
  priced from the home's own readings of the same months (``pricing.intervals``), hashed over them.
- A home is written in one step: its stored estimates read once, the new rows inserted together, the
  moved pointers upserted together, under a per-home lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import plan_estimates, rate_plans, tariffs, usage_buckets
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.pricing.engine import ENGINE_VERSION, EngineInputs, EngineResult, Tdsp, price_plan
from intelliwatt_pipelines.pricing.inputs_key import inputs_sha256, usage_sha
from intelliwatt_pipelines.pricing.intervals import price_intervals
from intelliwatt_pipelines.pricing.keys import TOTAL
from intelliwatt_pipelines.pricing.localtime import LocalReadings, local_readings
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.reasons import MISSING_TDSP_TARIFF, MISSING_USAGE_BUCKETS
from intelliwatt_pipelines.pricing.requirements import INTERVAL_PRICED, required_bucket_keys

log = logging.getLogger("intelliwatt.plans")
MONTHS = 12
LOOKBACK_MONTHS = 24
LOW_CONFIDENCE = "(LOW confidence)"  # in a plan's reason: its estimates are LOW whatever the engine says


@dataclass
class EstimateRun:
    """What one run did: homes seen (and those skipped, their utility unknown); estimates unchanged,
    re-pointed at a stored row, newly computed; and the new ones by status."""

    homes: int = 0
    no_utility: int = 0
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


@dataclass(frozen=True)
class _Plan:
    row: object
    structure: RateStructure | None  # None for a plan of UNKNOWN type: listed, never priced
    keys: tuple[str, ...]  # the buckets it reads
    context: tuple  # its classification, in the hash
    by_intervals: bool = False  # TOU days buckets cannot name: priced from the home's readings


class _Plans:
    """Listed plans with their parsed structures, and tariffs by utility, read once per run."""

    def __init__(self, conn: sa.Connection, as_of: dt.date):
        self.rows = rate_plans.candidate_plans(conn)
        self.plans = [self._plan(row) for row in self.rows]
        self.tdsps: dict[str, Tdsp | None] = {}
        for code in sorted({p.tdsp_code for p in self.rows if p.tdsp_code}):
            charges = tariffs.charges_as_of(conn, code, as_of)
            self.tdsps[code] = charges and Tdsp(per_kwh_cents=charges.per_kwh_cents,
                                                monthly_cents=charges.monthly_cents,
                                                effective_date=str(charges.effective_start), tdsp_code=code)

    @staticmethod
    def _plan(row) -> _Plan:
        structure = RateStructure.from_json_dict(json.loads(row.rate_structure)) if row.rate_structure else None
        keys = tuple(sorted(required_bucket_keys(structure))) if structure else (TOTAL,)
        return _Plan(row, structure, keys, (row.plan_calc_status, row.plan_calc_reason),
                     by_intervals=row.plan_calc_reason == INTERVAL_PRICED)

    def for_home(self, tdsp_code: str | None) -> list[_Plan]:
        return [p for p in self.plans if tdsp_code is not None and p.row.tdsp_code == tdsp_code]


def _month_index(ym: str) -> int:
    return int(ym[:4]) * 12 + int(ym[5:7]) - 1


def usage_window(months: dict, min_complete: float, as_of: dt.date) -> dict[str, dict[str, float]]:
    """The latest usable instance of each calendar month in the LOOKBACK_MONTHS before ``as_of``'s month
    (fewer than twelve when the home has fewer; the engine then says so)."""
    now = as_of.year * 12 + as_of.month - 1
    chosen: dict[int, str] = {}
    for ym in sorted(months, reverse=True):
        m = months[ym]
        age = now - _month_index(ym)
        usable = m.expected_days and m.complete_days / m.expected_days >= min_complete - 1e-9
        if 1 <= age <= LOOKBACK_MONTHS and usable and int(ym[5:7]) not in chosen:
            chosen[int(ym[5:7])] = ym
    return {ym: months[ym].kwh for ym in sorted(chosen.values())}


class _Usage:
    """A home's year, cut to the buckets each plan reads (hashed once per distinct key set), and its
    readings in local time for the plans priced from them (read and hashed once, when one needs them)."""

    def __init__(self, conn: sa.Connection, esiid: str, window: dict[str, dict[str, float]]):
        self.conn, self.esiid, self.window = conn, esiid, window
        self._cut: dict[tuple[str, ...], tuple[dict, str]] = {}
        self._readings: tuple[LocalReadings, str] | None = None

    def readings(self) -> tuple[LocalReadings, str]:
        if self._readings is None:
            local = local_readings(*usage_buckets.real_readings(self.conn, self.esiid))
            months = np.asarray(local.year_month).astype(str)
            keep = np.isin(months, list(self.window))
            digest = hashlib.sha256("|".join(sorted(self.window)).encode())
            for values in (months[keep].astype("U7"), np.asarray(local.local_date)[keep], local.start_minute[keep],
                           local.minutes[keep], np.round(np.asarray(local.kwh, float)[keep], 6)):
                digest.update(np.ascontiguousarray(values).tobytes())
            self._readings = (local, digest.hexdigest())
        return self._readings

    def for_keys(self, keys: tuple[str, ...]) -> tuple[dict, str]:
        if keys not in self._cut:
            cut = {ym: {k: b[k] for k in keys if k in b} for ym, b in self.window.items()}
            self._cut[keys] = (cut, usage_sha(cut))
        return self._cut[keys]


def _row(esiid: str, plan: _Plan, inputs: EngineInputs, sha: str, result: EngineResult, run: Analysis) -> dict:
    return {"esiid": esiid, "rate_plan_id": plan.row.id, "inputs_sha256": sha, "as_of": run.as_of,
            "estimate_mode": run.mode, "usage_months": sorted(inputs.usage_buckets_by_month),
            "annual_kwh": round(inputs.total_kwh, 6), "status": result.status, "reason": result.reason,
            "annual_cost_dollars": result.annual_cost_dollars, "monthly_cost_dollars": result.monthly_cost_dollars,
            "effective_cents_per_kwh": result.effective_cents_per_kwh, "confidence": result.confidence,
            "components_v2": result.components_v2 or None, "tdsp_applied": result.tdsp_applied,
            "monthly_breakdown": list(result.monthly) or None, "drivers": result.drivers or None,
            "notes": list(result.notes), "computed_at": run.now}


def _by_intervals(plan: _Plan, inputs: EngineInputs, usage: _Usage) -> EngineResult:
    if len(inputs.usage_buckets_by_month) < MONTHS:
        return EngineResult.not_computable(f"{MISSING_USAGE_BUCKETS} (need {MONTHS} usable months, have "
                                           f"{len(inputs.usage_buckets_by_month)})")
    local, _ = usage.readings()
    return price_intervals(plan.structure, local, inputs.tdsp, months=sorted(inputs.usage_buckets_by_month))


def _price(plan: _Plan, inputs: EngineInputs, usage: _Usage) -> EngineResult:
    """The engine's result; a plan not classified COMPUTABLE (e.g. an EFL that failed validation) or one
    whose utility has no tariff in force is not priced at all, so it never comes out priced by accident."""
    reason = plan.row.plan_calc_reason
    if plan.row.plan_calc_status != "COMPUTABLE":
        return EngineResult.not_computable(reason or plan.row.plan_calc_status)
    if inputs.tdsp is None and not inputs.rate_structure.tdsp_delivery_included:
        return EngineResult.not_computable(f"{MISSING_TDSP_TARIFF}: no delivery tariff in force on the analysis day")
    result = _by_intervals(plan, inputs, usage) if plan.by_intervals else price_plan(inputs)
    if reason and LOW_CONFIDENCE in reason and result.confidence:
        result = dataclasses.replace(result, confidence="LOW").with_note(reason)
    return result


def estimate_home(conn: sa.Connection, esiid: str, plans: _Plans, run: Analysis, out: EstimateRun) -> None:
    """Every candidate plan for one home, in the caller's transaction."""
    plan_estimates.lock_home(conn, esiid)
    tdsp_code = plan_estimates.home_tdsp(conn, esiid)
    candidates = plans.for_home(tdsp_code)
    if tdsp_code is None:
        out.no_utility += 1
    usage = _Usage(conn, esiid, usage_window(usage_buckets.home_months(conn, esiid), run.min_complete, run.as_of))
    stored, current = plan_estimates.home_estimates(conn, esiid), plan_estimates.current_estimates(conn, esiid)
    wanted: dict[int, str] = {}
    new_rows = []
    for plan in candidates:
        buckets, sha_of_usage = usage.for_keys(plan.keys)
        if plan.by_intervals:
            sha_of_usage = usage.readings()[1] if len(buckets) >= MONTHS else sha_of_usage
        inputs = EngineInputs(rate_structure=plan.structure, usage_buckets_by_month=buckets,
                              tdsp=plans.tdsps.get(tdsp_code), months_count=MONTHS, estimate_mode=run.mode)
        sha = inputs_sha256(inputs, context={"plan": plan.context, "utility": tdsp_code}, usage=sha_of_usage)
        wanted[plan.row.id] = sha
        if (plan.row.id, sha) in stored:
            out.unchanged += current.get(plan.row.id) == stored[(plan.row.id, sha)]
            continue
        result = _price(plan, inputs, usage)
        new_rows.append(_row(esiid, plan, inputs, sha, result, run))
        out.by_status[result.status] = out.by_status.get(result.status, 0) + 1
    stored |= plan_estimates.insert_estimates(conn, new_rows)
    out.computed += len(new_rows)
    moved = {pid: stored[(pid, sha)] for pid, sha in wanted.items() if current.get(pid) != stored[(pid, sha)]}
    out.reused += len(moved) - len(new_rows)
    plan_estimates.set_current(conn, esiid, moved, run.now)
    plan_estimates.drop_stale(conn, esiid, set(wanted))


def estimate_homes(engine: sa.Engine, esiids: list[str], run: Analysis, *, chunk_homes: int = 200) -> EstimateRun:
    """Estimates for these homes, one transaction per chunk of homes (locked in sorted order)."""
    out = EstimateRun()
    esiids = sorted(set(esiids))
    with engine.connect() as conn:
        plans = _Plans(conn, run.as_of)
    for start in range(0, len(esiids), chunk_homes):
        with engine.begin() as conn:
            for esiid in esiids[start:start + chunk_homes]:
                estimate_home(conn, esiid, plans, run, out)
                out.homes += 1
        log.info("plan estimates: %d of %d homes (last %s)", out.homes, len(esiids), mask(esiids[-1]))
    if out.no_utility:
        log.warning("plan estimates: %d homes skipped, their utility not known yet (no premise or lookup)",
                    out.no_utility)
    return out


def inputs_fingerprint(engine: sa.Engine, run: Analysis) -> str:
    """Everything run-wide an estimate depends on besides the home's buckets: the listed plans, their prices
    and classifications, the tariff versions in force on the analysis day, the homes' utilities, the mode,
    the usability threshold and the engine's version. When it differs from the last run's, every home is
    estimated again (identical inputs still write nothing)."""
    with engine.connect() as conn:
        plans = _Plans(conn, run.as_of)
        fingerprint = rate_plans.plans_fingerprint(conn)
        utilities = plan_estimates.utilities_version(conn)
    tdsps = ",".join(f"{code}:{t.per_kwh_cents}/{t.monthly_cents}@{t.effective_date}" if t else f"{code}:none"
                     for code, t in sorted(plans.tdsps.items()))
    text = f"{fingerprint}|{tdsps}|{utilities}|{run.mode}|{run.min_complete}|{ENGINE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()
