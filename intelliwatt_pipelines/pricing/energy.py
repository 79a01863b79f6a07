"""REP energy pricing of one month's buckets: one fixed rate, usage tiers, or time-of-use windows.

``compile_energy`` turns a rate structure into one of three pricers, or raises ``Unpriceable`` with the
reason the engine reports (fail closed: a structure that is ambiguous is never priced as something else).
A TOU structure is priced from the window buckets its periods name (``requirements``), with the periods that
apply in the month; they must tile every day of that month exactly (``tou_table`` checks it), and the
window kWh must add up to the month's total within max(2 kWh, 3 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from intelliwatt_pipelines.pricing import tou_table
from intelliwatt_pipelines.pricing.keys import MINUTES_PER_DAY, TOTAL, window_key
from intelliwatt_pipelines.pricing.model import ALL_DAYS, RateStructure, TouPeriod
from intelliwatt_pipelines.pricing.reasons import (
    AMBIGUOUS_ENERGY_RATE,
    INVALID_USAGE_TIERS,
    MAX_CENTS_PER_KWH,
    MISSING_ENERGY_RATE,
    MISSING_TOU_PERIODS,
    MISSING_USAGE_BUCKETS,
    TOU_DAYS_NOT_IN_BUCKETS,
    TOU_PERIODS_DO_NOT_TILE_DAY,
    UNSUPPORTED_COMBINED_STRUCTURES,
    USAGE_BUCKET_SUM_MISMATCH,
    Unpriceable,
)

DAY_TYPES = {frozenset(ALL_DAYS): "all", frozenset((1, 2, 3, 4, 5)): "weekday", frozenset((0, 6)): "weekend"}
SUM_TOLERANCE_KWH, SUM_TOLERANCE_SHARE = 2.0, 0.03


def fixed_rate(rs: RateStructure) -> float | None:
    """The one fixed energy price (¢/kWh), or None: the replaced system's fixed extractor, which declines a
    structure with tiers or TOU periods, more than one distinct rate, or a rate outside 0-200 ¢."""
    if rs.usage_tiers or rs.time_of_use_periods:
        return None
    values = _rate_fields(rs)
    if len(values) != 1 or not 0 <= values[0] <= MAX_CENTS_PER_KWH:
        return None
    return values[0]


def _rate_fields(rs: RateStructure) -> list[float]:
    fields = (rs.energy_rate_cents, rs.rep_energy_cents_per_kwh, rs.energy_charge_cents_per_kwh,
              rs.default_rate_cents_per_kwh)
    return sorted({float(v) for v in fields if v is not None})


@dataclass(frozen=True)
class FixedEnergy:
    rate: float
    keys: tuple[str, ...] = (TOTAL,)

    def cents(self, buckets: dict[str, float], month: int) -> float:
        return buckets[TOTAL] * self.rate


@dataclass(frozen=True)
class TieredEnergy:
    """Contiguous tiers from 0 kWh, applied to the month's total."""

    tiers: tuple[tuple[float, float, float], ...]  # (from kWh, to kWh or inf, ¢/kWh)
    keys: tuple[str, ...] = (TOTAL,)

    def tier_kwh(self, kwh: float) -> list[float]:
        return [max(0.0, min(kwh, high) - low) for low, high, _ in self.tiers]

    def cents(self, buckets: dict[str, float], month: int) -> float:
        return sum(k * rate for k, (_, _, rate) in zip(self.tier_kwh(buckets[TOTAL]), self.tiers, strict=True))


@dataclass
class TouEnergy:
    """Window buckets × rates. Periods are checked to tile each month they price (cached per period set)."""

    periods: tuple[TouPeriod, ...]
    windows: tuple[str, ...]  # the bucket key of each period
    keys: tuple[str, ...] = ()
    _by_set: dict = field(default_factory=dict)

    def applying(self, month: int) -> tuple[int, ...]:
        indexes = tuple(i for i, p in enumerate(self.periods) if p.months is None or month in p.months)
        if indexes not in self._by_set:
            chosen = [self.periods[i] for i in indexes]
            step = math.gcd(MINUTES_PER_DAY, *tou_table.boundaries(chosen)) if chosen else 60
            try:
                tou_table.month_table(chosen, month, step)
            except tou_table.NotTiling as exc:
                raise Unpriceable(f"{TOU_PERIODS_DO_NOT_TILE_DAY}: {exc}") from exc
            self._by_set[indexes] = True
        return indexes

    def cents(self, buckets: dict[str, float], month: int) -> float:
        indexes = self.applying(month)
        window_kwh = [buckets[self.windows[i]] for i in indexes]
        total = buckets[TOTAL]
        if abs(sum(window_kwh) - total) > max(SUM_TOLERANCE_KWH, SUM_TOLERANCE_SHARE * total):
            raise Unpriceable(f"{USAGE_BUCKET_SUM_MISMATCH}: windows sum to {sum(window_kwh):.3f} kWh, "
                              f"the month's total is {total:.3f} kWh")
        return sum(k * self.periods[i].rate_cents_per_kwh for k, i in zip(window_kwh, indexes, strict=True))


def period_key(period: TouPeriod) -> str:
    """The bucket key holding a period's kWh; NOT_IMPLEMENTED for day sets buckets cannot name (interval
    pricing handles those)."""
    day_type = DAY_TYPES.get(frozenset(period.days_of_week))
    start, end = period.start_minute, period.end_minute
    whole_day = start % MINUTES_PER_DAY == end % MINUTES_PER_DAY
    if day_type is None or (whole_day and start and day_type != "all"):
        raise Unpriceable(f"{TOU_DAYS_NOT_IN_BUCKETS}: period {period.label or start} on days "
                          f"{list(period.days_of_week)}", status="NOT_IMPLEMENTED")
    return window_key(day_type, 0, 0) if whole_day else window_key(day_type, start, end)


def _tou(rs: RateStructure) -> TouEnergy:
    if rs.usage_tiers:
        raise Unpriceable(f"{UNSUPPORTED_COMBINED_STRUCTURES}: usage tiers and time-of-use periods")
    for period in rs.time_of_use_periods:
        if not 0 <= period.rate_cents_per_kwh <= MAX_CENTS_PER_KWH:
            raise Unpriceable(f"{MISSING_ENERGY_RATE}: TOU rate {period.rate_cents_per_kwh} ¢ outside 0-200")
    windows = tuple(period_key(p) for p in rs.time_of_use_periods)
    return TouEnergy(rs.time_of_use_periods, windows, tuple(dict.fromkeys((TOTAL, *windows))))


def _tiers(rs: RateStructure) -> TieredEnergy:
    tiers = sorted(rs.usage_tiers, key=lambda t: t.min_kwh)
    edge, out = 0.0, []
    for index, tier in enumerate(tiers):
        high = math.inf if tier.max_kwh is None else float(tier.max_kwh)
        last = index == len(tiers) - 1
        if tier.min_kwh != edge or high <= tier.min_kwh or (high == math.inf and not last) \
                or not 0 <= tier.cents_per_kwh <= MAX_CENTS_PER_KWH:
            raise Unpriceable(f"{INVALID_USAGE_TIERS}: tiers must run contiguously from 0 kWh at 0-200 ¢")
        out.append((float(tier.min_kwh), high, float(tier.cents_per_kwh)))
        edge = high
    return TieredEnergy(tuple(out))


def compile_energy(rs: RateStructure) -> FixedEnergy | TieredEnergy | TouEnergy:
    """The energy pricer of a deterministic structure (indexed plans are the engine's concern)."""
    if rs.time_of_use_periods:
        return _tou(rs)
    if rs.type == "TIME_OF_USE":
        raise Unpriceable(f"{MISSING_TOU_PERIODS}: a TIME_OF_USE plan without periods")
    if rs.usage_tiers:
        return _tiers(rs)
    values = _rate_fields(rs)
    if not values:
        raise Unpriceable(f"{MISSING_ENERGY_RATE}: no energy price")
    if len(values) > 1:
        raise Unpriceable(f"{AMBIGUOUS_ENERGY_RATE}: {', '.join(f'{v:g}' for v in values)} ¢")
    if not 0 <= values[0] <= MAX_CENTS_PER_KWH:
        raise Unpriceable(f"{MISSING_ENERGY_RATE}: {values[0]:g} ¢ outside 0-200")
    return FixedEnergy(values[0])


def month_buckets(buckets: dict[str, float], keys: tuple[str, ...], year_month: str) -> dict[str, float]:
    """The month's buckets, after checking every key the pricer reads is there."""
    missing = [k for k in keys if k not in buckets]
    if missing:
        raise Unpriceable(f"{MISSING_USAGE_BUCKETS}: {year_month} lacks {', '.join(missing)}")
    return buckets
