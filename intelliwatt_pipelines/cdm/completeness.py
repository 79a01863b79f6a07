"""Daily completeness per series and local day (the market's time zone), from the stored intervals (pure pandas)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from intelliwatt_pipelines.cdm.normalize import SERIES, days_bounds_utc, local_dates

# Bump on a change to expected intervals and day status: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
RULES_VERSION = "1"

COLUMNS = SERIES + [
    "local_date", "interval_minutes", "expected_intervals", "actual_intervals", "estimated_intervals",
    "filled_intervals", "kwh_real", "kwh_filled", "completeness", "status",
]
DEFAULT_INTERVAL_MINUTES = 15


AGGREGATES = ["local_date", "interval_minutes", "quality", "n", "kwh"]


def day_aggregates(intervals: pd.DataFrame) -> pd.DataFrame:
    """Per Central day, interval length and quality: how many intervals and their kWh. This is all
    completeness needs (PostgreSQL computes the same with GROUP BY, see completeness_store.read_day_aggregates)."""
    df = intervals.assign(local_date=local_dates(intervals["ts_utc"]))
    return (df.groupby(["local_date", "interval_minutes", "quality"]).agg(n=("kwh", "size"), kwh=("kwh", "sum"))
            .reset_index()[AGGREGATES])


def daily_completeness(series: tuple, aggregates: pd.DataFrame, dates: list[dt.date],
                       bound: tuple[pd.Timestamp, pd.Timestamp] | None) -> pd.DataFrame:
    """Rows for one series' ``dates``, from the ``day_aggregates`` of its stored intervals on those days.

    ``bound`` is (first real interval start, last real interval end) over everything stored for the
    series. A day inside it with no rows at all is a row of zeros with status ``gaps``; a day
    outside it with no rows gets no row. A day cut by the bound's edge is ``partial``.
    Real readings are actual or estimated; ``actual_intervals`` counts them all. A day mixing
    lengths (an hourly Green Button reading among SMT quarter-hours) is counted in its shortest
    length: an hour counts as four quarter-hours, so covered time, not rows, decides.
    """
    df = aggregates
    real = df["quality"] != "filled"
    units = (df["interval_minutes"] // df.groupby("local_date")["interval_minutes"].transform("min") * df["n"]) \
        if len(df) else df["n"]
    df = df.assign(_real=real * units, _est=(df["quality"] == "estimated") * units, _filled=~real * units,
                   _kwh_real=df["kwh"].where(real, 0.0), _kwh_filled=df["kwh"].where(~real, 0.0))
    found = df.groupby("local_date").agg(
        interval_minutes=("interval_minutes", "min"), actual_intervals=("_real", "sum"),
        estimated_intervals=("_est", "sum"), filled_intervals=("_filled", "sum"),
        kwh_real=("_kwh_real", "sum"), kwh_filled=("_kwh_filled", "sum"),
    ).to_dict("index")
    step = int(df["interval_minutes"].min()) if len(df) else DEFAULT_INTERVAL_MINUTES
    rows = []
    starts, ends = days_bounds_utc(dates)
    for day, start, end in zip(dates, starts, ends, strict=True):
        counts = found.get(day)
        if counts is None:
            if bound is None or end <= bound[0] or start >= bound[1]:
                continue
            counts = dict(interval_minutes=step, actual_intervals=0, estimated_intervals=0, filled_intervals=0,
                          kwh_real=0.0, kwh_filled=0.0)
        minutes = int(counts["interval_minutes"])
        expected = int((end - start) / pd.Timedelta(minutes=minutes))
        actual = int(counts["actual_intervals"])
        rows.append({
            **dict(zip(SERIES, series, strict=True)), "local_date": day, "interval_minutes": minutes,
            "expected_intervals": expected, "actual_intervals": actual,
            "estimated_intervals": int(counts["estimated_intervals"]), "filled_intervals": int(counts["filled_intervals"]),
            # sums of 3-decimal readings: round away float noise
            "kwh_real": round(float(counts["kwh_real"]), 6), "kwh_filled": round(float(counts["kwh_filled"]), 6),
            "completeness": round(min(actual / expected, 1.0), 6),
            "status": _status(actual, expected, minutes, start, end, bound),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def _status(actual: int, expected: int, minutes: int, start, end, bound) -> str:
    if actual >= expected:
        return "complete"
    if bound is None:
        return "gaps"
    # Slots of this day inside the delivered range: if all of those are real, only the edge cuts it.
    inside = (min(end, bound[1]) - max(start, bound[0])) / pd.Timedelta(minutes=minutes)
    return "partial" if inside < expected and actual >= inside else "gaps"
