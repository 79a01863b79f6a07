"""Monthly usage buckets for bench/plan_costs.py, computed straight from local reading pieces with numpy
(an independent path: not the interval pricer's rate tables), and the numpy annual totals of simple plans.

Buckets follow keys.py: a piece belongs to the window holding its local start; a day-typed overnight
window counts it by the day type of the date the window started (START_DAY)."""

from __future__ import annotations

import numpy as np

from intelliwatt_pipelines.pricing.keys import parse_key
from intelliwatt_pipelines.pricing.model import RateStructure

WEEKEND_DAYS = (0, 6)


def _in_key(key: str, weekday: np.ndarray, minute: np.ndarray) -> np.ndarray:
    parsed = parse_key(key)
    day = weekday
    if parsed.is_total:
        inside = np.ones(len(minute), bool)
    elif parsed.overnight:
        inside = (minute >= parsed.start) | (minute < parsed.end)
        day = np.where(minute < parsed.end, (weekday - 1) % 7, weekday)  # START_DAY
    else:
        inside = (minute >= parsed.start) & (minute < parsed.end)
    if parsed.day_type == "weekday":
        inside &= ~np.isin(day, WEEKEND_DAYS)
    elif parsed.day_type == "weekend":
        inside &= np.isin(day, WEEKEND_DAYS)
    return inside


def buckets(readings, keys) -> dict[str, dict[str, float]]:
    """{YYYY-MM: {key: kWh}} for ``keys`` from a ``LocalReadings`` (pieces must not span a window edge)."""
    year_month = np.asarray(readings.year_month).astype(str)
    months, index = np.unique(year_month, return_inverse=True)
    out: dict[str, dict[str, float]] = {str(m): {} for m in months}
    for key in sorted(set(keys)):
        inside = _in_key(key, np.asarray(readings.weekday), np.asarray(readings.start_minute))
        sums = np.bincount(index, weights=np.where(inside, readings.kwh, 0.0), minlength=len(months))
        for month, value in zip(months, sums, strict=True):
            out[str(month)][key] = float(value)
    return out


def _energy_cents(rs: RateStructure, kwh: np.ndarray) -> np.ndarray:
    if rs.usage_tiers:
        cents = np.zeros_like(kwh)
        for tier in rs.usage_tiers:
            top = np.inf if tier.max_kwh is None else tier.max_kwh
            cents += np.clip(np.minimum(kwh, top) - tier.min_kwh, 0, None) * tier.cents_per_kwh
        return cents
    return kwh * rs.energy_rate_cents


def _credit_cents(rs: RateStructure, kwh: np.ndarray) -> np.ndarray:
    """Credits as the engine applies them: range rules on [min, max), open-ended thresholds additive."""
    credit = np.zeros_like(kwh)
    for rule in (rs.bill_credits.rules if rs.bill_credits else ()):
        top = np.inf if rule.max_usage_kwh is None else rule.max_usage_kwh
        credit += np.where((kwh >= rule.min_usage_kwh) & (kwh < top), rule.credit_amount_cents, 0.0)
    return credit


def numpy_annual_cents(rs: RateStructure, kwh: np.ndarray, tdsp_per_kwh: float, tdsp_monthly: float) -> np.ndarray:
    """(homes,) annual cost in cents of a fixed/tiered plan with optional credits over (homes, months) kWh:
    each month's bill in cents, rounded half up and clamped at 0 (engine rounding), summed."""
    base = rs.base_monthly_fee_cents or 0.0
    month = _energy_cents(rs, kwh) + base + kwh * tdsp_per_kwh + tdsp_monthly - _credit_cents(rs, kwh)
    return np.clip(np.floor(month + 0.5), 0, None).sum(axis=1)
