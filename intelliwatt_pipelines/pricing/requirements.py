"""What a plan needs before it is priced: its bucket keys, and whether the engine can price it at all.

``plan_calc_status`` is decided once per plan, with no usage: a structure the engine rejects whatever the
home (tiers with TOU, overlapping credits, periods that leave a gap in some month…) is stored
NOT_COMPUTABLE with that reason, so it is never priced approximately by accident. An indexed plan with
anchors is COMPUTABLE with the reason APPROXIMATE_ONLY: whether it is priced (APPROXIMATE) is the run's
estimate mode.
"""

from __future__ import annotations

from intelliwatt_pipelines.pricing import engine, indexed, intervals
from intelliwatt_pipelines.pricing.energy import TouEnergy, fixed_rate, period_key
from intelliwatt_pipelines.pricing.keys import TOTAL
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.reasons import TOU_DAYS_NOT_IN_BUCKETS, Unpriceable

__all__ = ["fixed_rate", "plan_calc_status", "required_bucket_keys"]
INTERVAL_PRICED = "INTERVAL_PRICED: time-of-use days buckets cannot name, priced from the home's own readings"
APPROXIMATE_ONLY = ("APPROXIMATE_ONLY: a market-indexed price, estimated from its EFL anchors only in "
                    "INDEXED_EFL_ANCHOR_APPROX mode")


def required_bucket_keys(rs: RateStructure) -> tuple[str, ...]:
    """The month total and every TOU period's window key (a period buckets cannot name adds none)."""
    keys = [TOTAL]
    for period in rs.time_of_use_periods or ():
        try:
            keys.append(period_key(period))
        except Unpriceable:
            continue
    return tuple(dict.fromkeys(keys))


def plan_calc_status(rs: RateStructure | None) -> tuple[str, str | None]:
    """("COMPUTABLE", None) or ("NOT_COMPUTABLE", reason); UNKNOWN when there is no structure at all."""
    if rs is None:
        return "UNKNOWN", "no rate structure: the source does not say how the plan is priced"
    try:
        plan = engine.compile_plan(rs, indexed.APPROX_MODE, 1000.0)
        if isinstance(plan.energy, TouEnergy):
            for month in range(1, 13):  # a year is priced, so the periods must tile every month
                plan.energy.applying(month)
    except Unpriceable as exc:
        if not exc.reason.startswith(TOU_DAYS_NOT_IN_BUCKETS):
            return "NOT_COMPUTABLE", exc.reason
        return _interval_only(rs)
    if rs.type in indexed.INDEXED_TYPES:
        return "COMPUTABLE", APPROXIMATE_ONLY
    return "COMPUTABLE", None


def _interval_only(rs: RateStructure) -> tuple[str, str | None]:
    """TOU day sets buckets cannot name (Mon-Wed, say): priced from the home's readings instead."""
    try:
        intervals.check_structure(rs)
    except Unpriceable as exc:
        return "NOT_COMPUTABLE", exc.reason
    return "COMPUTABLE", INTERVAL_PRICED
