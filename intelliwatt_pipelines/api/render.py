"""Intervals as JSON (one object of parallel arrays per series) or CSV rows.

A month of one channel is about 3,000 intervals. As one JSON object per interval, building and
encoding them costs 10-15 ms of Python on the 2-core reference machine, most of the latency budget
(see BENCHMARKS.md). As arrays, numpy and orjson encode the same month in about 1 ms, and the
payload is a quarter of the size. Rows arrive as epoch seconds; local time is given as each
interval's local UTC offset (America/Chicago in Texas), taken per epoch hour (DST changes on the hour).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from intelliwatt_pipelines.api.timeparams import local_zone

UTC = dt.timezone.utc


@dataclass
class SeriesColumns:
    """One (meter, channel)'s intervals in time order, column by column."""

    meter: str
    channel: str
    ts: list[int]  # interval start, epoch seconds
    minutes: list[int]
    kwh: list[float]
    quality: list[str]
    source: list[str]
    raw_file_id: list[int]
    revised: list[int | None]  # epoch seconds

    def __len__(self) -> int:
        return len(self.ts)

    def head(self, n: int) -> SeriesColumns:
        return SeriesColumns(self.meter, self.channel, *(column[:n] for column in (
            self.ts, self.minutes, self.kwh, self.quality, self.source, self.raw_file_id, self.revised)))


@lru_cache(maxsize=200_000)
def _offset_minutes(hour: int, zone: ZoneInfo) -> int:
    """The local UTC offset during an epoch hour, in minutes (America/Chicago: -300 or -360)."""
    return int(dt.datetime.fromtimestamp(hour * 3600, zone).utcoffset().total_seconds()) // 60


def utc_offsets(ts: np.ndarray) -> np.ndarray:
    hours, where = np.unique(ts // 3600, return_inverse=True)
    zone = local_zone()
    return np.array([_offset_minutes(int(h), zone) for h in hours], dtype=np.int64)[where]


def _instants(seconds: list[int | None]):
    """datetime64 array (orjson writes ISO-8601 ``…Z``), or a list when some are null."""
    if all(s is not None for s in seconds):
        return np.array(seconds, dtype="datetime64[s]")
    return [None if s is None else dt.datetime.fromtimestamp(s, UTC) for s in seconds]


def series_json(series: SeriesColumns) -> dict:
    ts = np.array(series.ts, dtype=np.int64)
    return {"meter": series.meter, "channel": series.channel, "count": len(series),
            "ts": ts.astype("datetime64[s]"), "utc_offset_minutes": utc_offsets(ts),
            "minutes": series.minutes, "kwh": series.kwh, "quality": series.quality, "source": series.source,
            "raw_file_id": series.raw_file_id, "revised_at": _instants(series.revised)}


CSV_HEADER = "ts_utc,local_time,meter,channel,interval_minutes,kwh,quality,source,raw_file_id,revised_at\n"


# OWASP's CSV-injection rule: a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@lru_cache(maxsize=4096)  # per row, but a series has a handful of distinct values
def csv_text(value: str) -> str:
    """A text cell: a formula prefix defused with a leading ``'``, then quoted as RFC 4180 needs.
    (Numbers are written as numbers; generated timestamps start with a digit.)"""
    if value.startswith(FORMULA_START):
        value = "'" + value
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(ch in value for ch in ',"\n\r') else value


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def series_csv(series: SeriesColumns) -> str:
    ts = np.array(series.ts, dtype=np.int64)
    offsets = utc_offsets(ts)
    utc = (ts.astype("datetime64[s]").astype(str)).tolist()
    local = ((ts + offsets * 60).astype("datetime64[s]").astype(str)).tolist()
    revised = ["" if s is None else f"{np.datetime64(s, 's')}Z" for s in series.revised]
    prefix = f"{csv_text(series.meter)},{csv_text(series.channel)}"
    return "".join(
        f"{u}Z,{lt}{_offset_text(int(o))},{prefix},{m},{k!r},{csv_text(q)},{csv_text(s)},{r},{v}\n"
        for u, lt, o, m, k, q, s, r, v in zip(utc, local, offsets, series.minutes, series.kwh, series.quality,
                                             series.source, series.raw_file_id, revised, strict=True))
