"""Interval-level time-of-use pricing (vendor-apis.md §2.8 d): a plan priced straight from a home's 15-minute
(or hourly) readings instead of its monthly buckets.

REP energy is Σ over reading pieces of kWh × the rate of the TOU period containing the piece's local start
(America/Chicago, from ``localtime.local_readings``), with START_DAY attribution for overnight periods and each
period's ``months``; a piece spanning a period boundary is split by overlap minutes. The lookup is a
(weekday × time-of-day) rate table per month (``tou_table``), indexed with numpy, so any ``daysOfWeek`` set
prices, not only the all/weekday/weekend that bucket keys can say.

Everything else—TDSP delivery on the total kWh, fixed charges, credits, minimums, rounding, status and
confidence—is the engine's own: the interval kWh are handed to ``engine.price_plan`` as one all-days window
per distinct rate (same structure, periods replaced), whose energy Σ kWh_rate × rate is exactly the interval
sum. So interval and bucket pricing can only differ in how kWh reach a rate, never in the bill arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intelliwatt_pipelines.pricing import tou_table
from intelliwatt_pipelines.pricing.engine import EngineInputs, EngineResult, Tdsp, compile_plan, price_plan
from intelliwatt_pipelines.pricing.keys import MINUTES_PER_DAY, TOTAL, hhmm, window_key
from intelliwatt_pipelines.pricing.localtime import LocalReadings, step_for
from intelliwatt_pipelines.pricing.model import RateStructure, TouPeriod
from intelliwatt_pipelines.pricing.reasons import Unpriceable

NOT_TILING = "TOU_PERIODS_DO_NOT_TILE_DAY"
MISSING = "MISSING_USAGE_BUCKETS"


@dataclass(frozen=True)
class Pieces:
    """The reading pieces of the months being priced; ``month_index`` points into ``year_months``."""

    year_months: tuple[str, ...]
    month_index: np.ndarray
    month: np.ndarray  # calendar month 1..12 of each piece
    weekday: np.ndarray
    start_minute: np.ndarray
    minutes: np.ndarray
    kwh: np.ndarray

    def kwh_by_month(self, weights: np.ndarray | None = None) -> np.ndarray:
        values = self.kwh if weights is None else self.kwh * weights
        return np.bincount(self.month_index, weights=values, minlength=len(self.year_months))


def select_pieces(readings: LocalReadings, months: list[str] | None) -> Pieces | str:
    """The pieces of ``months`` (all the readings' months when None), or the reason they cannot be priced."""
    year_month = np.asarray(readings.year_month).astype(str)
    keep = np.ones(len(year_month), bool) if months is None else np.isin(year_month, list(months))
    found, index = np.unique(year_month[keep], return_inverse=True)
    missing = sorted(set(months or ()) - set(found))
    if missing or not len(found):
        return f"{MISSING} (no readings in {', '.join(missing) or 'any month'})"
    numbers = np.array([int(ym[5:7]) for ym in found])
    return Pieces(tuple(str(ym) for ym in found), index, numbers[index],
                  np.asarray(readings.weekday)[keep], np.asarray(readings.start_minute)[keep],
                  np.asarray(readings.minutes)[keep], np.asarray(readings.kwh, float)[keep])


def kwh_by_rate(periods: tuple[TouPeriod, ...], pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rates in force and the (months × rates) kWh at each; NotTiling when the periods of some
    priced month leave a gap or overlap."""
    step = tou_table.common_step(step_for(tou_table.boundaries(periods)), pieces.start_minute, pieces.minutes)
    months = {int(ym[5:7]) for ym in pieces.year_months}
    tables = tou_table.year_tables(periods, step, months)
    rates = np.unique(tables[[m - 1 for m in sorted(months)]])
    kwh = np.empty((len(pieces.year_months), len(rates)))
    for column, rate in enumerate(rates):
        share = tou_table.piece_rates((tables == rate).astype(float), pieces.month, pieces.weekday,
                                      pieces.start_minute, pieces.minutes, step)
        kwh[:, column] = pieces.kwh_by_month(share)
    return rates, kwh


def rate_windows(rates: np.ndarray) -> tuple[TouPeriod, ...]:
    """One all-days window per rate, tiling the day (a single rate gets a second, empty, window so the
    structure stays a TOU one)."""
    values = [float(r) for r in rates] if len(rates) > 1 else [float(rates[0])] * 2
    edges = [round(i * MINUTES_PER_DAY / len(values)) for i in range(len(values) + 1)]
    return tuple(TouPeriod(label=f"{rate:g} c/kWh", startHHMM=hhmm(start), endHHMM=hhmm(end), rateCentsPerKwh=rate)
                 for rate, start, end in zip(values, edges, edges[1:], strict=False))


def price_intervals(rate_structure: RateStructure, readings: LocalReadings, tdsp: Tdsp | None, *,
                    months: list[str] | None = None) -> EngineResult:
    """What ``rate_structure`` costs for ``readings`` over ``months`` (YYYY-MM; default every month present),
    TOU energy priced interval by interval; a structure without TOU periods is priced on its monthly totals."""
    pieces = select_pieces(readings, months)
    if isinstance(pieces, str):
        return EngineResult.not_computable(pieces)
    totals = pieces.kwh_by_month()
    periods = rate_structure.time_of_use_periods
    if not periods:
        buckets = {ym: {TOTAL: float(t)} for ym, t in zip(pieces.year_months, totals, strict=True)}
        return _engine(rate_structure, buckets, tdsp)
    try:
        rates, kwh = kwh_by_rate(periods, pieces)
    except tou_table.NotTiling as exc:
        return EngineResult.not_computable(f"{NOT_TILING}: {exc}")
    windows = rate_windows(rates)
    keys = [window_key("all", p.start_minute, p.end_minute) for p in windows]
    buckets = {}
    for ym, total, row in zip(pieces.year_months, totals, kwh, strict=True):
        buckets[ym] = {TOTAL: float(total), **{k: 0.0 for k in keys}}
        buckets[ym].update({k: float(v) for k, v in zip(keys, row, strict=False)})
    structure = rate_structure.model_copy(update={"time_of_use_periods": windows})
    return _engine(structure, buckets, tdsp).with_note(
        f"TOU energy priced from {len(pieces.kwh)} interval pieces (local time, START_DAY overnights)")


def _engine(structure: RateStructure, buckets: dict[str, dict[str, float]], tdsp: Tdsp | None) -> EngineResult:
    return price_plan(EngineInputs(structure, buckets, tdsp, months_count=len(buckets)))


def check_structure(rs: RateStructure) -> None:
    """Unpriceable unless interval pricing can price ``rs`` in every month: its periods tile each day of
    each month (any day sets), and the rest of the structure (charges, credits, minimums) compiles."""
    periods = rs.time_of_use_periods or ()
    step = math.gcd(MINUTES_PER_DAY, *tou_table.boundaries(periods)) if periods else 60
    try:
        tou_table.year_tables(periods, step, range(1, 13))
    except tou_table.NotTiling as exc:
        raise Unpriceable(f"{NOT_TILING}: {exc}") from exc
    compile_plan(rs.model_copy(update={"time_of_use_periods": rate_windows(np.array([0.0]))}))
