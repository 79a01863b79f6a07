"""Indexed and variable plans, approximated from the EFL's average-price anchors (vendor-apis.md §2.8 d).

Their price moves with a market index, so by default the engine declines them
(``NON_DETERMINISTIC_PRICING_INDEXED``). In ``INDEXED_EFL_ANCHOR_APPROX`` mode the anchor at the home's
average monthly kWh stands for the REP's price per kWh: the exact 500/1000/2000 point when the average is
one of them, else linear interpolation between the neighbouring anchors (the nearest edge outside them).
As in the replaced system, TDU charges come from the tariff on top, and the result is APPROXIMATE / LOW.
"""

from __future__ import annotations

from intelliwatt_pipelines.pricing.model import AnchorPoint, RateStructure

INDEXED_TYPES = ("INDEXED", "VARIABLE")
APPROX_MODE = "INDEXED_EFL_ANCHOR_APPROX"


def anchors(rs: RateStructure) -> tuple[AnchorPoint, ...]:
    validation = rs.efl_avg_price_validation
    return tuple(sorted(validation.points, key=lambda p: p.usage_kwh)) if validation else ()


def anchor_rate(points: tuple[AnchorPoint, ...], kwh_per_month: float) -> tuple[float, str]:
    """(¢/kWh, how it was chosen: EXACT_1000, INTERP_500_1000, EDGE_2000…) for sorted ``points``."""
    for point in points:
        if abs(point.usage_kwh - kwh_per_month) < 1e-9:
            return point.modeled_avg_cents_per_kwh, f"EXACT_{point.usage_kwh:g}"
    first, last = points[0], points[-1]
    if kwh_per_month <= first.usage_kwh:
        return first.modeled_avg_cents_per_kwh, f"EDGE_{first.usage_kwh:g}"
    if kwh_per_month >= last.usage_kwh:
        return last.modeled_avg_cents_per_kwh, f"EDGE_{last.usage_kwh:g}"
    for low, high in zip(points, points[1:], strict=False):
        if low.usage_kwh < kwh_per_month < high.usage_kwh:
            share = (kwh_per_month - low.usage_kwh) / (high.usage_kwh - low.usage_kwh)
            rate = low.modeled_avg_cents_per_kwh + share * (high.modeled_avg_cents_per_kwh - low.modeled_avg_cents_per_kwh)
            return rate, f"INTERP_{low.usage_kwh:g}_{high.usage_kwh:g}"
    raise AssertionError("unreachable: points are sorted")
