"""TOU rate tables for interval-level pricing: the rate in force at each (local weekday, time of day).

A table is 7 rows (0 = Sunday … 6 = Saturday, the local weekday of a reading's start) × ``1440 / step``
cells of ``step`` minutes, one per calendar month (months with the same periods share one). Overnight
periods use START_DAY attribution (keys.py): a period starting on day d at 20:00 and ending at 07:00 holds
row d from 20:00 and row d+1 until 07:00, so a row is the weekday of the *piece* and the cell already
knows which day's period covers it. Any ``daysOfWeek`` set works, not only all/weekday/weekend.

``piece_rates`` prices pieces that span several cells (an hourly reading against a :30 boundary) at the
mean rate of the cells they overlap, i.e. the kWh split by overlap minutes; a piece running past midnight
continues on the next weekday's row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from intelliwatt_pipelines.pricing.keys import MINUTES_PER_DAY
from intelliwatt_pipelines.pricing.model import TouPeriod

WEEKDAYS = 7
MONTHS = 12


class NotTiling(ValueError):
    """The periods that apply on some day of some month leave a gap or overlap."""


def boundaries(periods: Iterable[TouPeriod]) -> list[int]:
    """Every period start and end, minutes after local midnight (24:00 as 0)."""
    return sorted({m % MINUTES_PER_DAY for p in periods for m in (p.start_minute, p.end_minute)})


def common_step(period_step: int, starts: np.ndarray, lengths: np.ndarray) -> int:
    """The widest cell that every period boundary, piece start and piece length is a multiple of."""
    step = math.gcd(int(period_step), MINUTES_PER_DAY)
    if len(starts):
        step = math.gcd(step, int(np.gcd.reduce(starts.astype(np.int64))),
                        int(np.gcd.reduce(lengths.astype(np.int64))))
    return step or 1


def _spans(period: TouPeriod, step: int) -> Iterator[tuple[int, int, int]]:
    """(weekday row, first cell, end cell) covered by ``period``; an overnight one spills onto the next row."""
    cells = MINUTES_PER_DAY // step
    first, last = period.start_minute // step, period.end_minute // step
    for day in period.days_of_week:
        if first < last:
            yield day % WEEKDAYS, first, last
        else:  # overnight (or start == end: a whole day from the start time), START_DAY attribution
            yield day % WEEKDAYS, first, cells
            yield (day + 1) % WEEKDAYS, 0, last


def month_table(periods: Sequence[TouPeriod], month: int, step: int) -> np.ndarray:
    """The 7 × (1440/step) rate table (¢/kWh) of ``month`` (1..12); NotTiling when a cell is covered by
    no period or by more than one."""
    cells = MINUTES_PER_DAY // step
    rates = np.zeros((WEEKDAYS, cells))
    hits = np.zeros((WEEKDAYS, cells), dtype=np.int16)
    for period in periods:
        if period.months is not None and month not in period.months:
            continue
        for day, first, last in _spans(period, step):
            rates[day, first:last] = period.rate_cents_per_kwh
            hits[day, first:last] += 1
    if not (hits == 1).all():
        day, cell = np.argwhere(hits != 1)[0]
        what = "no period" if hits[day, cell] == 0 else f"{hits[day, cell]} periods"
        minute = int(cell) * step
        raise NotTiling(f"month {month}, weekday {int(day)} {minute // 60:02d}:{minute % 60:02d} is in {what}")
    return rates


def year_tables(periods: Sequence[TouPeriod], step: int, months: Iterable[int]) -> np.ndarray:
    """(12, 7, cells) tables, month 1 first, for the ``months`` (1..12) that have readings (others stay
    zero: a period set need only tile the months it prices). Months with the same periods share a build."""
    tables = np.zeros((MONTHS, WEEKDAYS, MINUTES_PER_DAY // step))
    built: dict[tuple[int, ...], np.ndarray] = {}
    for month in sorted(set(months)):
        applying = tuple(i for i, p in enumerate(periods) if p.months is None or month in p.months)
        if applying not in built:
            built[applying] = month_table(periods, month, step)
        tables[month - 1] = built[applying]
    return tables


def piece_rates(tables: np.ndarray, month: np.ndarray, weekday: np.ndarray, start_minute: np.ndarray,
                minutes: np.ndarray, step: int) -> np.ndarray:
    """The rate (¢/kWh) of each piece: its cell's, or the overlap-weighted mean over the cells it spans.
    ``month`` is 1..12; starts and lengths are multiples of ``step``."""
    first = start_minute // step
    count = minutes // step
    if (count == 1).all():  # the usual case: one reading piece per cell
        return tables[month - 1, weekday, first]
    # Cumulative sums along two consecutive days (this row, then the next weekday's) give any span's sum.
    nxt = np.roll(tables, -1, axis=1)
    two_days = np.concatenate([tables, nxt], axis=2)
    sums = np.concatenate([np.zeros(two_days.shape[:2] + (1,)), np.cumsum(two_days, axis=2)], axis=2)
    last = np.minimum(first + count, two_days.shape[2])
    spanned = sums[month - 1, weekday, last] - sums[month - 1, weekday, first]
    return spanned / np.maximum(last - first, 1)
