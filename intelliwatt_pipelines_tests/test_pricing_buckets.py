"""Monthly usage buckets, the pure part (pricing/localtime.py, pricing/buckets.py): local time across DST
days, hourly readings split at a :30 boundary, weekday/weekend with START_DAY nights, seasons, and the
sum-of-windows invariant."""

import time

import numpy as np
import pandas as pd
import pytest

from intelliwatt_pipelines.pricing.buckets import (
    boundaries,
    bucket_sums,
    interval_counts,
    monthly_buckets,
    partitions,
    sum_mismatches,
)
from intelliwatt_pipelines.pricing.keys import CORE_MONTHLY_BUCKETS, parse_key
from intelliwatt_pipelines.pricing.localtime import local_readings, step_for

CHICAGO = "America/Chicago"


def readings(start: str, end: str, *, freq: str = "15min", kwh_per_hour: float = 1.0, only=None):
    """UTC starts, lengths and kWh of readings over local [start, end) (``only``: a filter on local times)."""
    local = pd.date_range(start, end, freq=freq, tz=CHICAGO, inclusive="left")
    if only is not None:
        local = local[only(local)]
    minutes = int(pd.Timedelta(freq).total_seconds() // 60)
    return (local.tz_convert("UTC").tz_localize(None).to_numpy(), np.full(len(local), minutes),
            np.full(len(local), kwh_per_hour * minutes / 60))


def join(*parts):
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def test_local_days_across_dst_and_the_fall_back_hour():
    spring = local_readings(*readings("2026-03-08", "2026-03-09"))
    fall = local_readings(*readings("2026-11-01", "2026-11-02"))
    assert len(spring) == 92 and len(fall) == 100
    assert set(spring.local_date.astype(str)) == {"2026-03-08"} and set(fall.year_month) == {"2026-11"}
    assert 120 not in spring.start_minute  # 02:00-02:59 does not exist on spring-forward day
    assert (fall.start_minute == 60).sum() == 2 and (fall.weekday == 0).all()  # both 01:00s; a Sunday


def test_a_window_across_dst_nights_counts_local_hours():
    """0100-0300 local, 1 kWh an hour: 1 hour on 2026-03-08 (02:00 is skipped), 3 on 2026-11-01."""
    keys = ["kwh.m.all.0100-0300", "kwh.m.all.0300-0100", "kwh.m.all.total"]
    local = local_readings(*join(readings("2026-03-08", "2026-03-09"), readings("2026-11-01", "2026-11-02")))
    got = monthly_buckets(local, keys)
    assert got["2026-03"] == pytest.approx({keys[0]: 1.0, keys[1]: 22.0, keys[2]: 23.0})
    assert got["2026-11"] == pytest.approx({keys[0]: 3.0, keys[1]: 22.0, keys[2]: 25.0})
    assert interval_counts(local, keys)["2026-11"][keys[0]] == 12


@pytest.mark.parametrize("freq", ["60min", "15min"])
def test_readings_are_split_by_overlap_at_a_half_hour_boundary(freq):
    """0000-0630 / 0630-2400 on a day of 1 kWh an hour: 6.5 + 17.5; the hourly 06:00 reading is half in
    each window and counted in both."""
    keys = ["kwh.m.all.0000-0630", "kwh.m.all.0630-2400"]
    step = step_for(boundaries(keys))
    assert step == 30 and step_for([420, 1200, 0]) == 60
    local = local_readings(*readings("2025-06-10", "2025-06-11", freq=freq), step_minutes=step)
    sums = bucket_sums(local, keys)
    assert sums.kwh_by_month()["2025-06"] == pytest.approx({keys[0]: 6.5, keys[1]: 17.5})
    assert sums.intervals_by_month()["2025-06"] == ({keys[0]: 7, keys[1]: 18} if freq == "60min"
                                                     else {keys[0]: 26, keys[1]: 70})


def test_pieces_across_a_boundary_are_refused():
    local = local_readings(*readings("2025-06-10", "2025-06-11", freq="60min"), step_minutes=60)
    with pytest.raises(ValueError, match="step_minutes=30"):
        monthly_buckets(local, ["kwh.m.all.0000-0630", "kwh.m.all.0630-2400"])


def test_weekend_and_start_day_nights():
    """2026-06-05 is a Friday. Friday 21:00 and Saturday 03:00 are the weekday night 2000-0700 (Friday's
    window), Saturday 21:00 and Monday 03:00 the weekend night (Saturday's and Sunday's); the totals go by
    the reading's own day, and the all-days windows need no attribution."""
    hours = ["2026-06-05 21:00", "2026-06-06 03:00", "2026-06-06 21:00", "2026-06-08 03:00", "2026-06-06 12:00"]
    local = pd.DatetimeIndex(hours).tz_localize(CHICAGO)
    got = monthly_buckets(local_readings(local.tz_convert("UTC").tz_localize(None).to_numpy(), [60] * 5,
                                         [1.0, 2.0, 4.0, 8.0, 16.0], step_minutes=60), CORE_MONTHLY_BUCKETS)["2026-06"]
    assert got["kwh.m.weekday.2000-0700"] == 3.0 and got["kwh.m.weekend.2000-0700"] == 12.0
    assert got["kwh.m.weekend.0700-2000"] == 16.0 and got["kwh.m.weekday.0700-2000"] == 0.0
    assert got["kwh.m.weekday.total"] == 9.0 and got["kwh.m.weekend.total"] == 22.0
    assert got["kwh.m.all.2000-0700"] == 15.0 and got["kwh.m.all.total"] == 31.0
    assert set(got) == set(CORE_MONTHLY_BUCKETS)


def test_season_suffix_only_restricts_months():
    keys = ["kwh.m.all.total.SUMMER", "kwh.m.all.total.WINTER", "kwh.m.all.1400-1900.SUMMER", "kwh.m.all.total"]
    local = local_readings(*join(readings("2025-05-01", "2025-05-02"), readings("2025-06-01", "2025-06-02"),
                                 readings("2025-12-01", "2025-12-02")))
    got = monthly_buckets(local, keys)
    assert got["2025-05"] == {keys[0]: 0.0, keys[1]: 0.0, keys[2]: 0.0, keys[3]: 24.0}
    assert got["2025-06"] == {keys[0]: 24.0, keys[1]: 0.0, keys[2]: 5.0, keys[3]: 24.0}
    assert got["2025-12"][keys[1]] == 24.0 and got["2025-12"][keys[0]] == 0.0


def test_a_month_of_readings_keeps_the_invariant():
    """June 2026 starts on a Monday: its 00:00-07:00 is Sunday night, a weekend night, so the weekend windows
    hold 7 hours more than the weekend total (199 vs 192 kWh, over 3 %). That is START_DAY, not an error:
    the weekday and weekend nights together are checked against the all-days total instead."""
    local = local_readings(*readings("2026-06-01", "2026-07-01"))
    keys = [*CORE_MONTHLY_BUCKETS, "kwh.m.all.2100-0600", "kwh.m.all.0600-2100", "kwh.m.weekday.0000-1200",
            "kwh.m.weekday.1200-2400"]
    month = monthly_buckets(local, keys)["2026-06"]
    assert month["kwh.m.all.total"] == pytest.approx(720)
    assert month["kwh.m.weekend.2000-0700"] + month["kwh.m.weekend.0700-2000"] == pytest.approx(199)
    assert month["kwh.m.weekend.total"] == pytest.approx(192)
    assert sum_mismatches(month) == []


def test_sum_mismatches_names_the_windows_that_do_not_add_up():
    month = {"kwh.m.all.total": 1000.0, "kwh.m.all.0000-1200": 400.0, "kwh.m.all.1200-2400": 500.0,
             "kwh.m.weekday.total": 700.0, "kwh.m.weekend.total": 290.0}
    problems = sum_mismatches(month)
    assert len(problems) == 1 and "kwh.m.all.0000-1200 + kwh.m.all.1200-2400 = 900.000" in problems[0]
    month["kwh.m.weekend.total"] = 250.0  # 950 vs 1000: 50 > 30 (3 %)
    assert len(sum_mismatches(month)) == 2
    assert sum_mismatches({"kwh.m.all.total": 10.0, "kwh.m.all.0000-1200": 4.0, "kwh.m.all.1200-2400": 4.5}) == []
    assert sum_mismatches({"kwh.m.all.0000-1200": 4.0, "kwh.m.all.1200-2400": 40.0}) == []  # no total: unchecked
    nights = {"kwh.m.all.total": 1000.0, "kwh.m.weekday.2000-0700": 300.0, "kwh.m.weekday.0700-2000": 400.0,
              "kwh.m.weekend.2000-0700": 100.0, "kwh.m.weekend.0700-2000": 150.0}
    (problem,) = sum_mismatches(nights)
    assert problem.startswith("kwh.m.weekday.0700-2000 + kwh.m.weekday.2000-0700 + kwh.m.weekend.0700-2000 + "
                              "kwh.m.weekend.2000-0700 = 950.000 kWh but kwh.m.all.total = 1000.000")
    weekday = {"kwh.m.weekday.total": 100.0, "kwh.m.weekday.0000-0600": 10.0, "kwh.m.weekday.0600-2400": 80.0}
    assert "kwh.m.weekday.total" in sum_mismatches(weekday)[0]
    assert sum_mismatches({"kwh.m.all.total.SUMMER": 10.0, "kwh.m.all.0000-1200.SUMMER": 1.0,
                           "kwh.m.all.1200-2400.SUMMER": 2.0, "kwh.m.all.total": 0.0})[0].endswith("> 2.000)")


def test_partitions_of_two_and_three_windows():
    keys = [parse_key(k) for k in ("kwh.m.all.2000-0700", "kwh.m.all.0700-2000", "kwh.m.all.0700-1400",
                                   "kwh.m.all.1400-2000", "kwh.m.all.0100-0300")]
    found = {tuple(str(k) for k in p) for p in partitions(keys)}
    assert found == {("kwh.m.all.0700-2000", "kwh.m.all.2000-0700"),
                     ("kwh.m.all.0700-1400", "kwh.m.all.1400-2000", "kwh.m.all.2000-0700")}


def test_local_readings_are_fast():
    year = readings("2025-01-01", "2026-01-01")
    local_readings(*year)
    started = time.perf_counter()
    for _ in range(10):
        local = local_readings(*year)
        bucket_sums(local, CORE_MONTHLY_BUCKETS)
    assert (time.perf_counter() - started) / 10 < 0.1  # a home-year, readings and buckets: ~10 ms here
