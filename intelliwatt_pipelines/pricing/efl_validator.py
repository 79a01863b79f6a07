"""Check a rate structure against its EFL's average-price table (vendor-apis.md §2.8 c; the replaced system's
``lib/efl/eflValidator.ts``), and solve the TDU charges from the table when the EFL omits them.

The modeled average at N kWh is the engine's own one-month bill for N kWh divided by N (REP energy + base +
TDU per-kWh × N + TDU monthly − credits + minimum fees), so the validator can never disagree with the engine
about what a plan costs. The one-month usage is synthetic: every bucket the plan needs
(``requirements.required_bucket_keys``) gets N × the day type's share (the EFL's weekday/weekend assumption,
else 5/7 and 2/7 by calendar days) × the window's share of the day's hours (an EFL states no hourly profile,
so usage is spread evenly over the hours; a season suffix is ignored). PASS when all points are within
``tolerance`` ¢/kWh.

The solver: TDU cost is linear in (per-kWh, monthly), so with the REP-only bill R(N) from the engine
avg(N)·N − R(N) = per_kwh·N + monthly at two table points gives both; the third point is the check. The
result is LOW confidence, ``effective_date_used = "derived_from_avg_table"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from intelliwatt_pipelines.pricing.engine import EngineInputs, Tdsp, price_plan
from intelliwatt_pipelines.pricing.keys import MINUTES_PER_DAY, TOTAL, parse_key
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.requirements import required_bucket_keys

TOLERANCE = 0.25  # ¢/kWh, the replaced system's EFL tolerance
CALENDAR_WEEKEND_SHARE = 2 / 7
SYNTHETIC_MONTH = "2025-01"
SOLVER_POINTS = (500, 2000)  # the widest pair: the monthly charge is best determined from it
DERIVED = "derived_from_avg_table"


@dataclass(frozen=True)
class PointCheck:
    usage_kwh: int
    expected: float
    modeled: float | None
    diff: float | None
    ok: bool


@dataclass(frozen=True)
class SolvedTdsp:
    """TDU charges solved from two average-table points, checked on the third."""

    per_kwh_cents: float
    monthly_cents: float
    points_used: tuple[int, int]
    check: PointCheck | None
    confidence: str = "LOW"
    effective_date_used: str = DERIVED

    @property
    def ok(self) -> bool:
        plausible = self.per_kwh_cents >= 0 and self.monthly_cents >= 0
        return plausible and (self.check is None or self.check.ok)

    def to_tdsp(self, tdsp_code: str | None = None) -> Tdsp:
        return Tdsp(self.per_kwh_cents, self.monthly_cents, effective_date=None, tdsp_code=tdsp_code)

    def as_dict(self) -> dict:
        return {"perKwhCents": self.per_kwh_cents, "monthlyCents": self.monthly_cents, "confidence": self.confidence,
                "effectiveDateUsed": self.effective_date_used}


@dataclass(frozen=True)
class EflValidation:
    """``status`` PASS or FAIL; ``tdsp_applied_mode`` EFL (the EFL's own numbers) or UTILITY_TABLE (the tariff
    table, or the solver's numbers, then in ``solved``)."""

    status: str
    points: tuple[PointCheck, ...]
    tolerance: float
    tdsp: Tdsp | None
    tdsp_applied_mode: str | None = None
    solved: SolvedTdsp | None = None
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())


def synthetic_buckets(rs: RateStructure, kwh: float, weekend_share: float | None = None) -> dict[str, float]:
    """One month of ``kwh`` spread over the buckets the plan needs (see the module docstring)."""
    weekend = CALENDAR_WEEKEND_SHARE if weekend_share is None else weekend_share
    shares = {"all": 1.0, "weekday": 1.0 - weekend, "weekend": weekend}
    buckets = {}
    for key in dict.fromkeys((TOTAL, *required_bucket_keys(rs))):
        parsed = parse_key(key)
        hours = 1.0 if parsed.is_total else ((parsed.end - parsed.start) % MINUTES_PER_DAY) / MINUTES_PER_DAY
        buckets[key] = kwh * shares[parsed.day_type] * hours
    return buckets


def month_cost_cents(rs: RateStructure, tdsp: Tdsp, kwh: float, *,
                     weekend_share: float | None = None) -> tuple[float | None, str | None]:
    """(the engine's bill for one month of ``kwh``, in cents; None and the engine's reason if it cannot)."""
    result = price_plan(EngineInputs(
        rate_structure=rs, usage_buckets_by_month={SYNTHETIC_MONTH: synthetic_buckets(rs, kwh, weekend_share)},
        tdsp=tdsp, months_count=1, annual_kwh=kwh))
    if result.status != "OK" or result.annual_cost_dollars is None:
        return None, result.reason or result.status
    return result.annual_cost_dollars * 100, None


def _point(kwh: int, expected: float, cents: float | None, tolerance: float) -> PointCheck:
    if cents is None:
        return PointCheck(kwh, expected, None, None, False)
    modeled = cents / kwh
    diff = modeled - expected
    return PointCheck(kwh, expected, round(modeled, 4), round(diff, 4), abs(diff) <= tolerance + 1e-9)


def validate_efl(rate_structure: RateStructure, tdsp: Tdsp, avg_table: dict[int, float], *,
                 weekend_share: float | None = None, tolerance: float = TOLERANCE,
                 tdsp_applied_mode: str | None = None, solved: SolvedTdsp | None = None) -> EflValidation:
    """Modeled vs stated averages at each table point (500/1000/2000 kWh)."""
    if not avg_table:
        return EflValidation("FAIL", (), tolerance, tdsp, tdsp_applied_mode, solved, reason="NO_AVG_TABLE")
    points, reasons = [], []
    for kwh, expected in sorted(avg_table.items()):
        cents, reason = month_cost_cents(rate_structure, tdsp, kwh, weekend_share=weekend_share)
        points.append(_point(kwh, expected, cents, tolerance))
        reasons += [reason] if reason else []
    status = "PASS" if all(p.ok for p in points) else "FAIL"
    reason = reasons[0] if reasons else None if status == "PASS" else "OUTSIDE_TOLERANCE"
    return EflValidation(status, tuple(points), tolerance, tdsp, tdsp_applied_mode, solved, reason)


def solve_tdsp(rate_structure: RateStructure, avg_table: dict[int, float], *,
               points: tuple[int, int] = SOLVER_POINTS, weekend_share: float | None = None,
               tolerance: float = TOLERANCE) -> SolvedTdsp | None:
    """TDU per-kWh (¢, 4 dp) and monthly (¢, whole) from two table points; None when the table lacks them or
    the engine cannot price the REP part."""
    if any(k not in avg_table for k in points) or points[0] == points[1]:
        return None
    owed = {}
    for kwh in points:
        rep, _ = month_cost_cents(rate_structure, Tdsp(0.0, 0.0), kwh, weekend_share=weekend_share)
        if rep is None:
            return None
        owed[kwh] = avg_table[kwh] * kwh - rep  # what the TDU part must be at this usage
    low, high = points
    per_kwh = (owed[high] - owed[low]) / (high - low)
    monthly = round(owed[low] - per_kwh * low)
    per_kwh = round(per_kwh, 4)
    check = None
    rest = [k for k in sorted(avg_table) if k not in points]
    if rest:
        cents, _ = month_cost_cents(rate_structure, Tdsp(per_kwh, monthly), rest[0], weekend_share=weekend_share)
        check = _point(rest[0], avg_table[rest[0]], cents, tolerance)
    return SolvedTdsp(per_kwh, float(monthly), points, check)


def validate_with_fallback(rate_structure: RateStructure, avg_table: dict[int, float], *,
                           efl_tdsp: Tdsp | None = None, table_tdsp: Tdsp | None = None,
                           weekend_share: float | None = None, tolerance: float = TOLERANCE) -> EflValidation:
    """An EFL that states its TDU charges is checked with them alone: if its averages do not follow, the parse
    missed something (a fee, a credit) and solving TDU charges would only hide it. One that states none is
    checked with the tariff table, else (table missing or not fitting) with the solver's charges. The first
    that PASSes; when none does, the first tried (or FAIL ``NO_TDSP``)."""
    if efl_tdsp is not None:
        return validate_efl(rate_structure, efl_tdsp, avg_table, weekend_share=weekend_share, tolerance=tolerance,
                            tdsp_applied_mode="EFL")
    tried = []
    if table_tdsp is not None:
        tried.append(validate_efl(rate_structure, table_tdsp, avg_table, weekend_share=weekend_share,
                                  tolerance=tolerance, tdsp_applied_mode="UTILITY_TABLE"))
        if tried[-1].status == "PASS":
            return tried[-1]
    solved = solve_tdsp(rate_structure, avg_table, weekend_share=weekend_share, tolerance=tolerance)
    if solved is not None and solved.ok:
        code = table_tdsp.tdsp_code if table_tdsp is not None else None
        result = validate_efl(rate_structure, solved.to_tdsp(code), avg_table, weekend_share=weekend_share,
                              tolerance=tolerance, tdsp_applied_mode="UTILITY_TABLE", solved=solved)
        if result.status == "PASS" or not tried:
            return result
    if tried:
        return tried[0]
    reason = "NO_TDSP" if solved is None else "TDSP_SOLVE_FAILED"
    return EflValidation("FAIL", (), tolerance, None, solved=solved, reason=reason)
