"""Monthly usage buckets (vendor-apis.md §2.8 a) from local reading pieces, and their sum invariant.

Semantics are those of ``keys.py``: a piece belongs to the window holding its local start; overnight
windows wrap midnight; ``weekend`` is local Saturday and Sunday; a day-typed overnight window counts a
piece by the day type of the date the window *started* (START_DAY: the piece Saturday 03:00 is in
``kwh.m.weekday.2000-0700``, Friday's night). The month is always the piece's own local month.

A season suffix only restricts months: SUMMER = June-September, WINTER = December-February, SHOULDER the
rest (March-May, October-November); in other months the key's value is 0.

Pieces must not straddle a window boundary: cut the readings with ``localtime.step_for`` over every
key's boundaries (``boundaries``) when calling ``local_readings``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from intelliwatt_pipelines.pricing.keys import MINUTES_PER_DAY, BucketKey, parse_key
from intelliwatt_pipelines.pricing.localtime import LocalReadings, step_for

SEASON_MONTHS = {"SUMMER": (6, 7, 8, 9), "WINTER": (12, 1, 2), "SHOULDER": (3, 4, 5, 10, 11)}
WEEKEND_DAYS = (0, 6)  # Sunday, Saturday
SUM_TOLERANCE = (2.0, 0.03)  # a partition may miss its total by max(2 kWh, 3 %)
MAX_PARTITIONS = 64  # enough for any plan set; stops a pathological key set from exploding the search


@dataclass(frozen=True)
class BucketSums:
    """kWh and readings counted per (month, key): ``kwh[i, j]`` is month ``months[i]``, key ``keys[j]``.
    A reading split across a window boundary counts in both windows."""

    months: tuple[str, ...]
    keys: tuple[str, ...]
    kwh: np.ndarray
    intervals: np.ndarray

    def kwh_by_month(self) -> dict[str, dict[str, float]]:
        return {m: {k: float(v) for k, v in zip(self.keys, row, strict=True)}
                for m, row in zip(self.months, self.kwh, strict=True)}

    def intervals_by_month(self) -> dict[str, dict[str, int]]:
        return {m: {k: int(v) for k, v in zip(self.keys, row, strict=True)}
                for m, row in zip(self.months, self.intervals, strict=True)}


def boundaries(keys: Iterable[str]) -> list[int]:
    """Every window start and end of the keys, minutes after local midnight."""
    return sorted({m % MINUTES_PER_DAY for k in map(parse_key, keys) if not k.is_total for m in (k.start, k.end)})


def key_mask(key: BucketKey, weekday: np.ndarray, minute: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Which pieces ``key`` holds (``month`` 1..12 of each piece)."""
    day = weekday
    if key.is_total:
        inside = np.ones(len(minute), bool)
    elif key.overnight:
        inside = (minute >= key.start) | (minute < key.end)
        day = np.where(minute < key.end, (weekday + 6) % 7, weekday)  # START_DAY: the evening before
    else:
        inside = (minute >= key.start) & (minute < key.end)
    if key.day_type != "all":
        weekend = np.isin(day, WEEKEND_DAYS)
        inside &= weekend if key.day_type == "weekend" else ~weekend
    if key.season:
        inside &= np.isin(month, SEASON_MONTHS[key.season])
    return inside


def _check_pieces(readings: LocalReadings, keys: list[BucketKey]) -> None:
    step = step_for(m % MINUTES_PER_DAY for k in keys if not k.is_total for m in (k.start, k.end))
    start = np.asarray(readings.start_minute)
    if len(start) and ((start // step) != ((start + np.asarray(readings.minutes) - 1) // step)).any():
        raise ValueError(f"reading pieces cross a window boundary: cut them with step_minutes={step}")


def _first_of_reading(readings: LocalReadings, inside: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Inside pieces that start a run of their reading's pieces in this key and month (so a reading is
    counted once per window it touches)."""
    if readings.reading is None:
        return inside
    reading = np.asarray(readings.reading)
    continues = np.zeros(len(inside), bool)
    continues[1:] = (reading[1:] == reading[:-1]) & inside[:-1] & (index[1:] == index[:-1])
    return inside & ~continues


def _month_index(readings: LocalReadings) -> tuple[np.ndarray, np.ndarray]:
    """The distinct 'YYYY-MM' (sorted) and each piece's index into them, from the local dates (integer
    months: a sort of 35,040 strings would take longer than all the sums)."""
    months = np.asarray(readings.local_date).astype("datetime64[M]").astype(np.int64)
    if not len(months):
        return np.array([], dtype="<U7"), np.zeros(0, dtype=np.int64)
    offset = months - months.min()
    present = np.flatnonzero(np.bincount(offset))
    position = np.zeros(int(offset.max()) + 1, dtype=np.int64)
    position[present] = np.arange(len(present))
    labels = np.datetime_as_string((present + months.min()).astype("datetime64[M]"), unit="M")
    return labels, position[offset]


def bucket_sums(readings: LocalReadings, keys: Iterable[str]) -> BucketSums:
    """kWh and reading counts per month (months with pieces) and key (sorted)."""
    names = sorted(set(keys))
    parsed = [parse_key(k) for k in names]
    _check_pieces(readings, parsed)
    found, index = _month_index(readings)
    month = np.array([int(m[5:7]) for m in found], dtype=np.int64)[index]
    weekday, minute = np.asarray(readings.weekday), np.asarray(readings.start_minute)
    kwh_values = np.asarray(readings.kwh, dtype=np.float64)
    kwh = np.zeros((len(found), len(names)))
    counts = np.zeros((len(found), len(names)), dtype=np.int64)
    for j, key in enumerate(parsed):
        inside = key_mask(key, weekday, minute, month)
        kwh[:, j] = np.bincount(index, weights=np.where(inside, kwh_values, 0.0), minlength=len(found))
        counts[:, j] = np.bincount(index, weights=_first_of_reading(readings, inside, index), minlength=len(found))
    return BucketSums(tuple(str(m) for m in found), tuple(names), kwh, counts)


def monthly_buckets(readings: LocalReadings, keys: Iterable[str]) -> dict[str, dict[str, float]]:
    """{YYYY-MM: {key: kWh}} for every month with readings; every key present (0.0 when none)."""
    return bucket_sums(readings, keys).kwh_by_month()


def interval_counts(readings: LocalReadings, keys: Iterable[str]) -> dict[str, dict[str, int]]:
    """{YYYY-MM: {key: readings counted}}."""
    return bucket_sums(readings, keys).intervals_by_month()


def _length(key: BucketKey) -> int:
    return (key.end - key.start) % MINUTES_PER_DAY or MINUTES_PER_DAY


def partitions(windows: Iterable[BucketKey]) -> list[tuple[BucketKey, ...]]:
    """Sets of the windows that tile the day exactly once (e.g. 2000-0700 + 0700-2000), each sorted by
    start: chains where each window starts at the previous one's end, one lap of 24 hours."""
    by_start: dict[int, list[BucketKey]] = defaultdict(list)
    for w in windows:
        by_start[w.start].append(w)
    found: dict[frozenset, tuple[BucketKey, ...]] = {}

    def walk(chain: list[BucketKey], length: int) -> None:
        if length == MINUTES_PER_DAY:
            if chain[-1].end % MINUTES_PER_DAY == chain[0].start:
                found.setdefault(frozenset(chain), tuple(sorted(chain, key=lambda k: k.start)))
            return
        for nxt in by_start.get(chain[-1].end % MINUTES_PER_DAY, ()):
            if len(found) < MAX_PARTITIONS and length + _length(nxt) <= MINUTES_PER_DAY:
                walk([*chain, nxt], length + _length(nxt))

    for first in sorted((w for group in by_start.values() for w in group), key=str):
        walk([first], _length(first))
    return list(found.values())


def _check(names: list[str], month: dict[str, float], total_key: str, tolerance: tuple[float, float]) -> list[str]:
    """[] when the named buckets sum to ``total_key`` within max(tolerance kWh, tolerance share); else why
    not. Not checkable (no total) is not a mismatch."""
    if total_key not in month:
        return []
    parts, total = sum(month[n] for n in names), month[total_key]
    allowed = max(tolerance[0], tolerance[1] * abs(total))
    if abs(parts - total) <= allowed:
        return []
    return [f"{' + '.join(names)} = {parts:.3f} kWh but {total_key} = {total:.3f} kWh "
            f"(off by {abs(parts - total):.3f} > {allowed:.3f})"]


def _spans(part: tuple[BucketKey, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((k.start, k.end) for k in part)


def _season_mismatches(groups: dict, season: str | None, month: dict[str, float], tolerance) -> list[str]:
    """The invariant for one season suffix (None: none)."""
    all_total = str(BucketKey("all", season=season))
    out = [p for part in partitions(groups.get(("all", season), ())) for p in
           _check([str(k) for k in part], month, all_total, tolerance)]
    nights: dict[str, list[tuple[BucketKey, ...]]] = {"weekday": [], "weekend": []}
    for day_type in nights:
        for part in partitions(groups.get((day_type, season), ())):
            if any(k.overnight for k in part):
                nights[day_type].append(part)
            else:  # no START_DAY attribution: the day type's own total
                out += _check([str(k) for k in part], month, str(BucketKey(day_type, season=season)), tolerance)
    for weekday in nights["weekday"]:  # weekday and weekend nights of the same shape cover every piece once
        for weekend in (p for p in nights["weekend"] if _spans(p) == _spans(weekday)):
            out += _check([str(k) for k in (*weekday, *weekend)], month, all_total, tolerance)
    totals = [str(BucketKey(d, season=season)) for d in ("weekday", "weekend")]
    if all(t in month for t in totals):
        out += _check(totals, month, all_total, tolerance)
    return out


def sum_mismatches(month_buckets: dict[str, float], tolerance: tuple[float, float] = SUM_TOLERANCE) -> list[str]:
    """Where one month's buckets break the invariant (each within max(tolerance kWh, tolerance share of the
    total)), per season suffix:

    - every set of ``all`` windows that tiles the day sums to ``kwh.m.all.total``;
    - a weekday (weekend) set without an overnight window sums to ``kwh.m.weekday.total`` (weekend);
    - a weekday set with an overnight window plus the weekend set of the same windows sums to the all-days
      total. (Alone it is not checked: START_DAY moves a night's hours across the month's first and last
      day, up to 7 hours of a 2000-0700 night, which is more than 3 % of a month's weekend usage);
    - weekday + weekend totals sum to the all-days total.

    A check whose total key is absent is skipped. Descriptions are human-readable."""
    groups: dict[tuple[str, str | None], list[BucketKey]] = defaultdict(list)
    for name in month_buckets:
        key = parse_key(name)
        if not key.is_total:
            groups[(key.day_type, key.season)].append(key)
    out = []
    for season in (None, *SEASON_MONTHS):
        out += _season_mismatches(groups, season, month_buckets, tolerance)
    return out
