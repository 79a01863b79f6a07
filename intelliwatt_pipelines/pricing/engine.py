"""The plan cost engine (vendor-apis.md §2.8 d): what a rate structure costs for a home's monthly buckets.

Pure and fail closed: every structure or usage it cannot price exactly comes back NOT_COMPUTABLE (or
NOT_IMPLEMENTED) with a reason, never as a guess; indexed plans are APPROXIMATE only when asked for
(``INDEXED_EFL_ANCHOR_APPROX``) and anchors exist. Per month: REP energy (fixed, tiers or TOU windows), REP
fixed charge, TDU delivery on the month's total kWh and the TDU monthly charge (the tariff as of the analysis
day), minus credits, plus minimum usage fees, then the minimum-bill top-up; each month is rounded to whole
cents and clamped at 0, and the year is the sum. Without buckets, a plan that needs no monthly shape (one
fixed rate, no credits or minimums) is priced from ``annual_kwh``.

``tdsp=None`` prices without TDU charges (the EFL solver's REP-only bill); callers pricing a home fail closed
on a missing tariff before they get here.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

from intelliwatt_pipelines.pricing import credits, drivers, indexed
from intelliwatt_pipelines.pricing.energy import FixedEnergy, TieredEnergy, compile_energy, month_buckets
from intelliwatt_pipelines.pricing.keys import TOTAL
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.reasons import (
    AMBIGUOUS_BASE_CHARGE,
    MISSING_USAGE_BUCKETS,
    NON_DETERMINISTIC_PRICING_INDEXED,
    Unpriceable,
)

# Bumped whenever a pricing rule changes, so every estimate's inputs hash (and so its row) changes with it.
ENGINE_VERSION = "2026-12-03.1"
PARTS = ("rep_energy", "rep_fixed", "tdsp_delivery", "tdsp_fixed", "credits", "minimum_usage_fee",
         "minimum_bill_top_up")


@dataclass(frozen=True)
class Tdsp:
    """TDU charges in force: ¢ per kWh and ¢ per month."""

    per_kwh_cents: float
    monthly_cents: float
    effective_date: str | None = None
    tdsp_code: str | None = None

    def as_dict(self) -> dict:
        return {"tdsp_code": self.tdsp_code, "per_kwh_cents": self.per_kwh_cents,
                "monthly_cents": self.monthly_cents, "effective_date": self.effective_date}


@dataclass(frozen=True)
class EngineInputs:
    rate_structure: RateStructure | None  # None only for a plan that is not priced (its inputs are still hashed)
    usage_buckets_by_month: dict[str, dict[str, float]]
    tdsp: Tdsp | None = None
    months_count: int | None = None  # default: the months given, else 12
    estimate_mode: str = "DEFAULT"
    annual_kwh: float | None = None  # default: the sum of the months' totals

    @property
    def months(self) -> int:
        return self.months_count or len(self.usage_buckets_by_month) or 12

    @property
    def total_kwh(self) -> float:
        if self.annual_kwh is not None:
            return float(self.annual_kwh)
        return float(sum(m.get(TOTAL, 0.0) for m in self.usage_buckets_by_month.values()))


@dataclass(frozen=True)
class EngineResult:
    """Amounts in dollars. ``monthly``: one dict per month (PARTS, ``year_month``, ``kwh``, ``total``)."""

    status: str
    reason: str | None = None
    annual_cost_dollars: float | None = None
    monthly_cost_dollars: float | None = None
    effective_cents_per_kwh: float | None = None
    confidence: str | None = None
    components_v2: dict = field(default_factory=dict)
    tdsp_applied: dict | None = None
    monthly: tuple[dict, ...] = ()
    drivers: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def not_computable(cls, reason: str, status: str = "NOT_COMPUTABLE") -> EngineResult:
        return cls(status=status, reason=reason)

    def with_note(self, note: str) -> EngineResult:
        return dataclasses.replace(self, notes=(*self.notes, note))


@dataclass(frozen=True)
class _Plan:
    """A structure compiled for pricing: its energy pricer and the charges around it."""

    energy: object
    rep_fixed_cents: float
    segments: tuple[credits.Segment, ...]
    minimums: credits.Minimums
    approximate: str | None = None  # how an indexed plan's anchor was chosen

    @property
    def needs_months(self) -> bool:
        return not isinstance(self.energy, FixedEnergy) or bool(self.segments) or self.minimums.any


def rep_fixed_cents(rs: RateStructure) -> float:
    values = {float(v) for v in (rs.base_monthly_fee_cents,
                                 None if rs.rep_monthly_charge_dollars is None else rs.rep_monthly_charge_dollars * 100,
                                 None if rs.monthly_base_charge_dollars is None else rs.monthly_base_charge_dollars * 100)
              if v is not None}
    if len(values) > 1:
        raise Unpriceable(f"{AMBIGUOUS_BASE_CHARGE}: {sorted(values)} ¢ a month")
    return values.pop() if values else 0.0


def _charges(rs: RateStructure) -> tuple[tuple[credits.Segment, ...], credits.Minimums]:
    credit_rules, fee_rules = credits.split_rules(rs.bill_credits)
    return credits.credit_segments(credit_rules), credits.minimums(fee_rules, rs.minimum_bill)


@functools.lru_cache(maxsize=8192)
def _deterministic(rs: RateStructure) -> _Plan | Unpriceable:
    """A non-indexed structure compiled once per process (a run prices each plan for every home)."""
    try:
        return _Plan(compile_energy(rs), rep_fixed_cents(rs), *_charges(rs))
    except Unpriceable as exc:
        return exc


def compile_plan(rs: RateStructure, mode: str = "DEFAULT", kwh_per_month: float | None = None) -> _Plan:
    """The compiled plan, or Unpriceable. An indexed plan needs ``kwh_per_month`` to pick its anchor."""
    if rs.type not in indexed.INDEXED_TYPES:
        plan = _deterministic(rs)
        if isinstance(plan, Unpriceable):
            raise Unpriceable(plan.reason, plan.status)
        return plan
    segments, minimums = _charges(rs)
    points = indexed.anchors(rs)
    if mode != indexed.APPROX_MODE or not points:
        why = "a market-indexed price" if mode != indexed.APPROX_MODE else "no EFL anchors to approximate from"
        raise Unpriceable(f"{NON_DETERMINISTIC_PRICING_INDEXED}: {why}")
    rate, how = indexed.anchor_rate(points, kwh_per_month or 0.0)
    return _Plan(FixedEnergy(rate), 0.0, segments, minimums, approximate=how)


def _month(plan: _Plan, year_month: str, buckets: dict[str, float], tdsp: Tdsp | None,
           tdsp_included: bool) -> dict:
    buckets = month_buckets(buckets, plan.energy.keys, year_month)
    kwh = float(buckets[TOTAL])
    charged = tdsp is not None and not tdsp_included
    cents = {"rep_energy": plan.energy.cents(buckets, int(year_month[5:7])), "rep_fixed": plan.rep_fixed_cents,
             "tdsp_delivery": kwh * tdsp.per_kwh_cents if charged else 0.0,
             "tdsp_fixed": tdsp.monthly_cents if charged else 0.0,
             "credits": -credits.credit_cents(plan.segments, kwh)}
    fee, top_up, total = credits.apply_minimums(sum(cents.values()), kwh, plan.minimums)
    cents.update(minimum_usage_fee=fee, minimum_bill_top_up=top_up)
    row = {"year_month": year_month, "kwh": kwh, **{k: round(v / 100, 6) for k, v in cents.items()},
           "total": max(0, math.floor(total + 0.5)) / 100}
    if isinstance(plan.energy, TieredEnergy):
        row["tier_kwh"] = plan.energy.tier_kwh(kwh)
    return row


def _annual_only(plan: _Plan, inputs: EngineInputs, charged: bool) -> dict:
    """One row for a year priced from annual kWh (a fixed plan without monthly rules)."""
    kwh, months, tdsp = inputs.total_kwh, inputs.months, inputs.tdsp
    cents = {"rep_energy": kwh * plan.energy.rate, "rep_fixed": months * plan.rep_fixed_cents,
             "tdsp_delivery": kwh * tdsp.per_kwh_cents if charged else 0.0,
             "tdsp_fixed": months * tdsp.monthly_cents if charged else 0.0,
             "credits": 0.0, "minimum_usage_fee": 0.0, "minimum_bill_top_up": 0.0}
    return {"year_month": None, "kwh": kwh, **{k: round(v / 100, 6) for k, v in cents.items()},
            "total": max(0, math.floor(sum(cents.values()) + 0.5)) / 100}


def _months(inputs: EngineInputs, plan: _Plan) -> list[tuple[str, dict]] | None:
    """The months to price (the latest ``months``), None for the annual-kWh path; Unpriceable when short."""
    given = inputs.usage_buckets_by_month
    if not given and not plan.needs_months and inputs.annual_kwh is not None:
        return None
    if len(given) < inputs.months:
        raise Unpriceable(f"{MISSING_USAGE_BUCKETS} (need {inputs.months} months of buckets, have {len(given)})")
    return sorted(given.items())[-inputs.months:]


def price_plan(inputs: EngineInputs) -> EngineResult:
    """The cost of ``inputs.rate_structure`` for the usage in ``inputs`` (see the module docstring)."""
    rs = inputs.rate_structure
    try:
        plan = compile_plan(rs, inputs.estimate_mode, inputs.total_kwh / inputs.months)
        months = _months(inputs, plan)
        charged = inputs.tdsp is not None and not rs.tdsp_delivery_included
        rows = [_annual_only(plan, inputs, charged)] if months is None else \
            [_month(plan, ym, b, inputs.tdsp, rs.tdsp_delivery_included) for ym, b in months]
    except Unpriceable as exc:
        return EngineResult.not_computable(exc.reason, exc.status)
    return _result(inputs, plan, rows, monthly=months is not None)


def _result(inputs: EngineInputs, plan: _Plan, rows: list[dict], *, monthly: bool) -> EngineResult:
    annual_cents = round(sum(r["total"] for r in rows) * 100)
    annual = annual_cents / 100
    kwh = sum(r["kwh"] for r in rows)
    sums = {p: round(sum(r[p] for r in rows), 2) for p in PARTS}
    components = {"rep": {"energy": sums["rep_energy"], "fixed": sums["rep_fixed"],
                          "total": round(sums["rep_energy"] + sums["rep_fixed"], 2)},
                  "tdsp": {"delivery": sums["tdsp_delivery"], "fixed": sums["tdsp_fixed"],
                           "total": round(sums["tdsp_delivery"] + sums["tdsp_fixed"], 2)},
                  "credits": sums["credits"], "minimum_usage_fee": sums["minimum_usage_fee"],
                  "minimum_bill_top_up": sums["minimum_bill_top_up"], "total": annual}
    notes = []
    if plan.approximate:
        notes.append(f"indexed plan approximated from EFL anchor {plan.approximate}")
    if not monthly:
        notes.append("priced from annual kWh (no monthly buckets)")
    confidence = "LOW" if plan.approximate else "HIGH" if monthly and inputs.tdsp else "MEDIUM"
    return EngineResult(
        status="APPROXIMATE" if plan.approximate else "OK", annual_cost_dollars=annual,
        monthly_cost_dollars=round(annual / inputs.months, 2),
        effective_cents_per_kwh=round(annual_cents / kwh, 4) if kwh else None, confidence=confidence,
        components_v2=components, tdsp_applied=_tdsp_applied(inputs),
        monthly=tuple(rows) if monthly else (), drivers=drivers.explain(rows, annual) if monthly else {},
        notes=tuple(notes))


def _tdsp_applied(inputs: EngineInputs) -> dict | None:
    if inputs.rate_structure.tdsp_delivery_included:
        return {"mode": "INCLUDED_IN_ENERGY"}
    return None if inputs.tdsp is None else {"mode": "TARIFF", **inputs.tdsp.as_dict()}
