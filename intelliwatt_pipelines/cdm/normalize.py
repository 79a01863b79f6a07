"""Canonical rules on interval frames, pure pandas: placeholders, revision order, local days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from intelliwatt_pipelines.config import CENTRAL_TZ
from intelliwatt_pipelines.sources.frames import INTERVAL_COLUMNS, typed_frame

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
            parts.append(pd.DataFrame({
                "esiid": esiid, "meter": meter, "channel": channel, "ts_utc": missing,
                "interval_minutes": step, "kwh": 0.0, "quality": "filled", "revised_at": pd.NaT,
            }))
    return typed_frame(pd.concat(parts, ignore_index=True)) if len(parts) > 1 else frame


def newest_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per key: the same winner the warehouse upsert would pick.

    Order: a real reading beats a placeholder; then the later revision; then actual beats
    estimated; at a full tie the later row (the later delivery) wins.
    """
    if frame.empty:
        return frame
    ranked = frame.assign(
        _real=(frame["quality"] != "filled").astype("int8"),
        _q=frame["quality"].map(QUALITY_RANK).astype("int8"),
        _pos=np.arange(len(frame)),
    )
    ranked = ranked.sort_values(KEY + ["_real", "revised_at", "_q", "_pos"], na_position="first", kind="mergesort")
    return ranked.drop_duplicates(KEY, keep="last")[INTERVAL_COLUMNS].reset_index(drop=True)


def local_dates(ts_utc: pd.Series) -> pd.Series:
    return ts_utc.dt.tz_convert(CENTRAL_TZ).dt.date


def day_bounds_utc(day: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a Central local day as UTC instants (23, 24 or 25 hours long)."""
    start = pd.Timestamp(day).tz_localize(CENTRAL_TZ)
    end = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(CENTRAL_TZ)
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def days_bounds_utc(days: list[dt.date]) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """``day_bounds_utc`` for many days at once (vectorized: a year of days in one call)."""
    midnights = pd.DatetimeIndex(pd.to_datetime(list(days)))
    def utc(local: pd.DatetimeIndex) -> pd.DatetimeIndex:
        return local.tz_localize(CENTRAL_TZ).tz_convert("UTC")
    return utc(midnights), utc(midnights + pd.Timedelta(days=1))


def expected_intervals(day: dt.date, interval_minutes: int) -> int:
    start, end = day_bounds_utc(day)
    return int((end - start) / pd.Timedelta(minutes=interval_minutes))


def touched_days(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct (esiid, meter, channel, local_date) in a frame."""
    return (frame[SERIES].assign(local_date=local_dates(frame["ts_utc"]))
            .drop_duplicates().reset_index(drop=True))
