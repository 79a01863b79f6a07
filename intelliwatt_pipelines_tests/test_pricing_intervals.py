"""Interval-level TOU pricing (pricing/intervals.py): the same bills as bucket pricing where buckets can say
it, local time across DST nights, day sets buckets cannot express, and hourly readings split at :30."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intelliwatt_pipelines.pricing import tou_table
from intelliwatt_pipelines.pricing.engine import EngineInputs, Tdsp, price_plan
from intelliwatt_pipelines.pricing.intervals import NOT_TILING, price_intervals
from intelliwatt_pipelines.pricing.keys import TOTAL, parse_key
from intelliwatt_pipelines.pricing.localtime import local_readings
from intelliwatt_pipelines.pricing.model import RateStructure, TouPeriod
from intelliwatt_pipelines.pricing.requirements import required_bucket_keys

ROOT = Path(__file__).resolve().parents[1]
CHICAGO = "America/Chicago"
ONCOR = Tdsp(per_kwh_cents=5.6032, monthly_cents=423.0)
WEEKDAYS, WEEKEND = [1, 2, 3, 4, 5], [0, 6]


def readings(start: str, end: str, *, freq: str = "15min", kwh_per_hour: float | None = 1.0, seed: int = 0):
    """UTC starts, lengths and kWh of readings covering local [start, end); constant or random kWh."""
    local = pd.date_range(start, end, freq=freq, tz=CHICAGO, inclusive="left")
    minutes = int(pd.Timedelta(freq).total_seconds() // 60)
    if kwh_per_hour is None:
        kwh = np.round(np.random.default_rng(seed).uniform(0.05, 1.2, len(local)), 3)
    else:
        kwh = np.full(len(local), kwh_per_hour * minutes / 60)
    return local.tz_convert("UTC").tz_localize(None).to_numpy(), np.full(len(local), minutes), kwh


def tou(*periods: tuple, **extra) -> RateStructure:
    """A TOU structure from (start HHMM, end HHMM, rate, days) tuples."""
    return RateStructure.from_json_dict({"type": "TIME_OF_USE", **extra, "timeOfUsePeriods": [
        {"startHHMM": s, "endHHMM": e, "rateCentsPerKwh": r, **({"daysOfWeek": d} if d else {})}
        for s, e, r, d in periods]})


def bucket_sums(utc, kwh, keys) -> dict[str, dict[str, float]]:
    """Monthly buckets computed here with pandas, independently of the code under test (START_DAY)."""
    local = pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(CHICAGO)
    minute = np.asarray(local.hour * 60 + local.minute)
    weekday = (np.asarray(local.dayofweek) + 1) % 7  # pandas Monday=0 → Sunday=0
    month = np.asarray(local.strftime("%Y-%m"))
    out: dict[str, dict[str, float]] = {m: {} for m in np.unique(month)}
    for key in keys:
        k = parse_key(key)
        day = weekday
        if k.is_total:
            inside = np.ones(len(kwh), bool)
        elif k.overnight:
            inside = (minute >= k.start) | (minute < k.end)
            day = np.where(minute < k.end, (weekday + 6) % 7, weekday)
        else:
            inside = (minute >= k.start) & (minute < k.end)
        weekend = np.isin(day, WEEKEND)
        inside &= {"all": True, "weekday": ~weekend, "weekend": weekend}[k.day_type]
        for m in out:
            out[m][key] = float(kwh[inside & (month == m)].sum())
    return out


YEAR_PLANS = {
    "night and day, all days": tou(("2100", "0600", 6.89, None), ("0600", "2100", 13.77, None)),
    "weekday and weekend day/night, START_DAY": tou(
        ("0700", "2000", 18.0, WEEKDAYS), ("2000", "0700", 7.5, WEEKDAYS),
        ("0700", "2000", 11.0, WEEKEND), ("2000", "0700", 5.0, WEEKEND), baseMonthlyFeeCents=995),
    "free weekends, with a credit": tou(
        ("0000", "2400", 14.4, WEEKDAYS), ("0000", "2400", 0.0, WEEKEND),
        billCredits={"rules": [{"creditAmountCents": 5000, "minUsageKWh": 300, "maxUsageKWh": 600}]}),
}


@pytest.fixture(scope="module")
def year():
    return readings("2025-01-01", "2026-01-01", kwh_per_hour=None, seed=5)


@pytest.mark.parametrize("name", list(YEAR_PLANS))
def test_interval_pricing_equals_bucket_pricing_for_a_year_of_quarter_hours(year, name):
    rs = YEAR_PLANS[name]
    utc, minutes, kwh = year
    by_bucket = price_plan(EngineInputs(rs, bucket_sums(utc, kwh, {TOTAL, *required_bucket_keys(rs)}), ONCOR))
    by_interval = price_intervals(rs, local_readings(utc, minutes, kwh), ONCOR)
    assert by_bucket.status == by_interval.status == "OK", (by_bucket.reason, by_interval.reason)
    assert by_interval.annual_cost_dollars == pytest.approx(by_bucket.annual_cost_dollars, abs=0.005)
    for a, b in zip(by_interval.monthly, by_bucket.monthly, strict=True):
        assert a["year_month"] == b["year_month"]
        for part in ("kwh", "rep_energy", "rep_fixed", "tdsp_delivery", "tdsp_fixed", "credits", "total"):
            assert a[part] == pytest.approx(b[part], abs=0.005), (a["year_month"], part)
    assert by_interval.components_v2["rep"]["energy"] == pytest.approx(by_bucket.components_v2["rep"]["energy"],
                                                                       abs=0.005)


def test_a_window_across_dst_nights_is_priced_by_local_time():
    """0100-0300 local @ 30 ¢, 10 ¢ otherwise, 1 kWh an hour. 2026-03-08 (spring forward, 23 h): only
    01:00-02:00 of the window exists → 1 × 30 + 22 × 10 = 250 ¢. 2026-11-01 (fall back, 25 h): 01:00-02:00
    happens twice → 3 × 30 + 22 × 10 = 310 ¢."""
    rs = tou(("0100", "0300", 30.0, None), ("0300", "0100", 10.0, None))
    parts = [readings("2026-03-08", "2026-03-09"), readings("2026-11-01", "2026-11-02")]
    utc, minutes, kwh = (np.concatenate(p) for p in zip(*parts, strict=True))
    local = local_readings(utc, minutes, kwh)
    assert np.bincount(np.unique(np.asarray(local.year_month).astype(str), return_inverse=True)[1]).tolist() == [92, 100]
    result = price_intervals(rs, local, None)
    assert result.status == "OK", result.reason
    energy = {m["year_month"]: m["rep_energy"] for m in result.monthly}
    assert energy == {"2026-03": pytest.approx(2.50), "2026-11": pytest.approx(3.10)}
    assert result.annual_cost_dollars == pytest.approx(5.60)


def test_a_mon_tue_wed_period_set_buckets_cannot_express_prices_at_interval_level():
    """Mon-Wed nights 22-06 @ 5 ¢ and days 06-22 @ 20 ¢; Thu-Sun nights @ 7 ¢, days @ 12 ¢ (START_DAY: Thursday
    00-06 is Wednesday's night). The week 2025-06-02 (Monday) .. 06-08, 1 kWh an hour, by hand:
    Mon 6×7 + 16×20 + 2×5 = 372; Tue, Wed 6×5 + 320 + 10 = 360; Thu 6×5 + 16×12 + 2×7 = 236;
    Fri, Sat, Sun 6×7 + 192 + 14 = 248 → 2,072 ¢."""
    rs = tou(("2200", "0600", 5.0, [1, 2, 3]), ("0600", "2200", 20.0, [1, 2, 3]),
             ("2200", "0600", 7.0, [0, 4, 5, 6]), ("0600", "2200", 12.0, [0, 4, 5, 6]))
    result = price_intervals(rs, local_readings(*readings("2025-06-02", "2025-06-09")), None)
    assert result.status == "OK", result.reason
    assert result.components_v2["rep"]["energy"] == pytest.approx(20.72)
    assert result.monthly[0]["kwh"] == pytest.approx(168)


def test_periods_that_leave_a_gap_on_some_day_are_not_computable():
    rs = tou(("0000", "2400", 20.0, [1, 2, 3]))
    result = price_intervals(rs, local_readings(*readings("2025-06-02", "2025-06-09")), None)
    assert result.status == "NOT_COMPUTABLE" and NOT_TILING in result.reason and "weekday 0 00:00 is in no period" in result.reason


@pytest.mark.parametrize("step", [15, 60])
def test_hourly_readings_are_split_at_a_half_hour_boundary(step):
    """0000-0630 @ 5 ¢, 0630-2400 @ 15 ¢, hourly readings of 1 kWh: the 06:00 hour is half and half →
    6 × 5 + 0.5 × 5 + 0.5 × 15 + 17 × 15 = 295 ¢."""
    rs = tou(("0000", "0630", 5.0, None), ("0630", "2400", 15.0, None))
    hourly = readings("2025-06-10", "2025-06-11", freq="60min")
    result = price_intervals(rs, local_readings(*hourly, step_minutes=step), None)
    assert result.status == "OK", result.reason
    assert result.components_v2["rep"]["energy"] == pytest.approx(2.95)


def test_period_months_and_the_months_filter():
    """Summer (Jun-Sep) 20 ¢, other months 10 ¢, all day; months= picks which local months are priced."""
    rs = tou(("0000", "2400", 20.0, None), ("0000", "2400", 10.0, None))
    periods = (rs.time_of_use_periods[0].model_copy(update={"months": (6, 7, 8, 9)}),
               rs.time_of_use_periods[1].model_copy(update={"months": (1, 2, 3, 4, 5, 10, 11, 12)}))
    rs = rs.model_copy(update={"time_of_use_periods": periods})
    local = local_readings(*readings("2025-05-01", "2025-07-01"))
    result = price_intervals(rs, local, None)
    assert [(m["year_month"], m["rep_energy"]) for m in result.monthly] == [
        ("2025-05", pytest.approx(31 * 24 * 0.10)), ("2025-06", pytest.approx(30 * 24 * 0.20))]
    only_june = price_intervals(rs, local, None, months=["2025-06"])
    assert [m["year_month"] for m in only_june.monthly] == ["2025-06"]
    missing = price_intervals(rs, local, None, months=["2025-06", "2025-08"])
    assert missing.status == "NOT_COMPUTABLE" and "2025-08" in missing.reason


def test_a_plan_without_periods_is_priced_on_its_monthly_totals():
    rs = RateStructure.from_json_dict({"energyRateCents": 10.0, "baseMonthlyFeeCents": 500})
    result = price_intervals(rs, local_readings(*readings("2025-06-01", "2025-07-01")), ONCOR)
    assert result.status == "OK", result.reason
    assert result.annual_cost_dollars == pytest.approx(720 * (0.10 + 0.056032) + 5 + 4.23, abs=0.01)


def test_rate_table_overnight_and_whole_day_periods_and_pieces_across_midnight():
    whole = TouPeriod(startHHMM="0700", endHHMM="0700", rateCentsPerKwh=9.0, daysOfWeek=[2])  # Tue 07 → Wed 07
    rest = [TouPeriod(startHHMM="0700", endHHMM="0700", rateCentsPerKwh=r, daysOfWeek=[d])
            for d, r in ((0, 1.0), (1, 2.0), (3, 4.0), (4, 5.0), (5, 6.0), (6, 7.0))]
    table = tou_table.month_table([whole, *rest], 6, 60)
    assert table[2, 6] == 2.0 and table[2, 7] == 9.0 and table[3, 6] == 9.0 and table[3, 7] == 4.0
    tables = tou_table.year_tables([whole, *rest], 60, [6])
    # A two-hour piece from Tuesday 23:00 spans Tuesday 23-24 and Wednesday 00-01, both Tuesday's period;
    # one from Saturday 06:00 is half Friday's period (6 ¢), half Saturday's (7 ¢).
    rates = tou_table.piece_rates(tables, np.array([6, 6]), np.array([2, 6]), np.array([1380, 360]),
                                  np.array([120, 120]), 60)
    assert rates.tolist() == [9.0, 6.5]
    with pytest.raises(tou_table.NotTiling, match="2 periods"):
        tou_table.month_table([whole, whole, *rest], 6, 60)


@pytest.mark.slow  # a subprocess that imports the package and generates a home-year
def test_the_plan_costs_benchmark_runs_tiny_and_its_totals_agree():
    done = subprocess.run([sys.executable, "bench/plan_costs.py", "--homes", "20", "--plans", "5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("plan_costs "))
    figures = json.loads(line.split(" ", 1)[1])
    assert figures["varied"]["plans"] == 5
    assert figures["grid"]["homes"] == 20 and figures["grid"]["totals_agree_to_the_cent"]
    assert figures["grid"]["max_diff_cents"] == 0 and not figures["grid"]["extrapolated"]
    assert figures["tou"]["agree_to_the_cent"] and figures["tou"]["plans"] >= 1
