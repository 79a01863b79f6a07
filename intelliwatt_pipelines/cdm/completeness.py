"""Daily completeness per series and Central local day, from the stored intervals (pure pandas)."""

from __future__ import annotations

import pandas as pd

from intelliwatt_pipelines.cdm.normalize import SERIES, day_bounds_utc, expected_intervals, local_dates

COLUMNS = SERIES + [
    "local_date", "interval_minutes", "expected_intervals", "actual_intervals", "estimated_intervals",
    "filled_intervals", "kwh_real", "kwh_filled", "completeness", "status",
]


def daily_completeness(intervals: pd.DataFrame, bounds: dict[tuple, tuple]) -> pd.DataFrame:
    """One row per series and local day present in ``intervals``.

    ``bounds`` maps a series to (first real interval start, last real interval end) over everything
    stored, so a day cut by the edge of the delivered range is ``partial``, not ``gaps``.
    Real readings are actual or estimated; ``actual_intervals`` counts them all.
    """
    if intervals.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = intervals.assign(local_date=local_dates(intervals["ts_utc"]))
    real = df["quality"] != "filled"
    df = df.assign(
        _real=real, _est=df["quality"] == "estimated", _filled=~real,
        _kwh_real=df["kwh"].where(real, 0.0), _kwh_filled=df["kwh"].where(~real, 0.0),
    )
    days = df.groupby(SERIES + ["local_date"], sort=True).agg(
        interval_minutes=("interval_minutes", "min"), actual_intervals=("_real", "sum"),
        estimated_intervals=("_est", "sum"), filled_intervals=("_filled", "sum"),
        kwh_real=("_kwh_real", "sum"), kwh_filled=("_kwh_filled", "sum"),
    ).reset_index()
    days["expected_intervals"] = [expected_intervals(d, m) for d, m in zip(days["local_date"], days["interval_minutes"])]
    days["completeness"] = (days["actual_intervals"] / days["expected_intervals"]).clip(upper=1.0).round(6)
    days[["kwh_real", "kwh_filled"]] = days[["kwh_real", "kwh_filled"]].round(6)  # sums of 3-decimal readings
    days["status"] = [_status(row, bounds.get(tuple(row[c] for c in SERIES))) for row in days.to_dict("records")]
    for col in ("actual_intervals", "estimated_intervals", "filled_intervals", "expected_intervals", "interval_minutes"):
        days[col] = days[col].astype("int64")
    return days[COLUMNS]


def _status(day: dict, bound: tuple | None) -> str:
    if day["actual_intervals"] >= day["expected_intervals"]:
        return "complete"
    if bound is None:
        return "gaps"
    start, end = day_bounds_utc(day["local_date"])
    # Slots of this day inside the delivered range: if all of those are real, the day is only cut
    # by the range's edge.
    inside = (min(end, bound[1]) - max(start, bound[0])) / pd.Timedelta(minutes=int(day["interval_minutes"]))
    return "partial" if inside < day["expected_intervals"] and day["actual_intervals"] >= inside else "gaps"
