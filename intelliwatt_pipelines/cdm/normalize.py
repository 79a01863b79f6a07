"""Canonical rules on interval frames, pure pandas: placeholders, revision order, local days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.model import INTERVAL_COLUMNS, typed_frame

# Bump on a change to placeholders, newest revision per key and local days: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
RULES_VERSION = "1"

SERIES = ["esiid", "meter", "channel"]
KEY = SERIES + ["ts_utc"]
QUALITY_RANK = {"filled": 0, "estimated": 1, "actual": 2}


# A longer hole is an outage or a separate delivery, not a missing reading: it is left empty (its
# days still show as gaps in daily_completeness) rather than padded with zeros.
MAX_FILLED_GAP = pd.Timedelta(days=7)


def add_placeholders(frame: pd.DataFrame) -> pd.DataFrame:
    """Zero-kWh ``filled`` rows for missing slots inside each series' delivered range.

    The grid is in UTC, so a spring-forward day gets no invented slots and a fall-back day keeps
    both passes of its repeated hour. Holes longer than MAX_FILLED_GAP are not filled.
    """
    if frame.empty:
        return frame
    parts = [frame]
    for (esiid, meter, channel), series in frame.groupby(SERIES, sort=False):
        step = int(series["interval_minutes"].min())
        present = pd.DatetimeIndex(series["ts_utc"]).sort_values()
        grid = pd.date_range(present[0], present[-1], freq=f"{step}min")
        missing = grid.difference(present)
        if len(missing):
            # the reading that follows each missing slot, to measure the hole it sits in
            after = present[present.searchsorted(missing)]
            before = present[present.searchsorted(missing) - 1]
            missing = missing[(after - before) <= MAX_FILLED_GAP]
        if len(missing):
            parts.append(typed_frame(pd.DataFrame({
                "esiid": esiid, "meter": meter, "channel": channel, "ts_utc": missing,
                "interval_minutes": step, "kwh": 0.0, "quality": "filled", "revised_at": pd.NaT,
            })))
    # both sides already typed: concatenating keeps the dtypes without converting the whole frame again
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else frame


def newest_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per key: the same winner the warehouse upsert would pick.

    Order: a real reading beats a placeholder; then the later revision; then actual beats
    estimated; at a full tie the later row (the later delivery) wins. The result is sorted by key.
    """
    if frame.empty:
        return frame
    # numpy lexsort on integer codes (series codes in sorted order): sorting 35,040 rows by three
    # string columns in pandas took longer than the rest of this function by far.
    series = [pd.factorize(frame[c], sort=True)[0] for c in SERIES]
    ts = frame["ts_utc"].array.asi8
    revised = frame["revised_at"].array.asi8  # NaT is the smallest int64: no revision sorts first
    real = (frame["quality"] != "filled").to_numpy()
    quality = frame["quality"].map(QUALITY_RANK).to_numpy()
    order = np.lexsort((np.arange(len(frame)), quality, revised, real, ts, *reversed(series)))
    keys = np.stack([*series, ts], axis=1)[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (keys[1:] != keys[:-1]).any(axis=1)
    return frame.iloc[order[last]][INTERVAL_COLUMNS].reset_index(drop=True)


def local_dates(ts_utc: pd.Series) -> pd.Series:
    """Local date (``datetime.date``, the market's time zone) of each UTC instant. Dates are made once per distinct
    day: a year of quarter-hours has 365 of them, and making 35,040 date objects costs more."""
    days = ts_utc.dt.tz_convert(markets.local_tz()).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    codes, uniques = pd.factorize(days, use_na_sentinel=True)
    dates = np.array([pd.Timestamp(d).date() for d in uniques] + [pd.NaT], dtype=object)
    return pd.Series(dates[codes], index=ts_utc.index, dtype=object)


def day_bounds_utc(day: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a local day as UTC instants (23, 24 or 25 hours long in Texas, 24 in 1PWR's markets)."""
    tz = markets.local_tz()
    start = pd.Timestamp(day).tz_localize(tz)
    end = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(tz)
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def days_bounds_utc(days: list[dt.date]) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """``day_bounds_utc`` for many days at once (vectorized: a year of days in one call)."""
    midnights = pd.DatetimeIndex(pd.to_datetime(list(days)))
    def utc(local: pd.DatetimeIndex) -> pd.DatetimeIndex:
        return local.tz_localize(markets.local_tz()).tz_convert("UTC")
    return utc(midnights), utc(midnights + pd.Timedelta(days=1))


def expected_intervals(day: dt.date, interval_minutes: int) -> int:
    start, end = day_bounds_utc(day)
    return int((end - start) / pd.Timedelta(minutes=interval_minutes))


def touched_days(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct (esiid, meter, channel, local_date) in a frame, in order of first appearance."""
    if frame.empty:
        return pd.DataFrame(columns=SERIES + ["local_date"])
    # integer keys instead of drop_duplicates over three string columns and a date
    series = frame.groupby(SERIES, sort=False).ngroup().to_numpy()
    local = local_dates(frame["ts_utc"])
    day, uniques = pd.factorize(local)
    _, first = np.unique(series * (len(uniques) + 1) + day, return_index=True)
    first.sort()
    return frame[SERIES].iloc[first].assign(local_date=local.iloc[first].to_numpy()).reset_index(drop=True)
