"""Daily register reads (vendor-apis.md §3.2): a cumulative register's value at each local midnight, so
a day's start and end readings become a billing read (``start_reading``, ``end_reading``, ``kwh_total``).

The value at a midnight is read between the two reads around it, in proportion to time: the same rule
that spreads a delta over its slots (``sources.registers``), so a day's read equals its intervals' sum.
A midnight that falls on a read is that read (``actual``); one between reads is ``estimated``. Days not
covered by reads at both ends, or with a register drop or rejected jump inside, get no read: a reset
breaks the register's arithmetic, and nothing is invented.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from intelliwatt_pipelines.model import BILLING_COLUMNS
from intelliwatt_pipelines.sources.registers import DEFAULT_RULES, RegisterRules


def daily_reads(reads: pd.DataFrame, timezone: str, rules: RegisterRules = DEFAULT_RULES) -> pd.DataFrame:
    """``reads`` (esiid, meter, ts_utc, register_kwh) -> billing reads (``model.BILLING_COLUMNS``), one per
    meter and local day in ``timezone`` that the reads span whole."""
    out = [_meter_days(esiid, meter, group, timezone, rules)
           for (esiid, meter), group in reads.groupby(["esiid", "meter"], sort=True)]
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=BILLING_COLUMNS)
    return frame[BILLING_COLUMNS]


def _meter_days(esiid: str, meter: str, group: pd.DataFrame, timezone: str, rules: RegisterRules) -> pd.DataFrame:
    group = group.drop_duplicates("ts_utc", keep="last").sort_values("ts_utc")
    ts = pd.DatetimeIndex(pd.to_datetime(group["ts_utc"], utc=True))
    kwh = np.round(group["register_kwh"].to_numpy(float) / rules.resolution_kwh) * rules.resolution_kwh
    first_day = ts[0].tz_convert(timezone).normalize().tz_localize(None)
    last_day = ts[-1].tz_convert(timezone).normalize().tz_localize(None)
    midnights = pd.date_range(first_day, last_day, freq="D").tz_localize(timezone).tz_convert("UTC")
    inside = midnights[(midnights >= ts[0]) & (midnights <= ts[-1])]
    rows = []
    for start, end in zip(inside[:-1], inside[1:], strict=True):
        # the pairs that overlap the day: from the last read at or before its start to the first at or after its end
        span = kwh[max(0, ts.searchsorted(start, side="right") - 1):ts.searchsorted(end) + 1]
        if np.any(np.diff(span) < 0) or np.any(np.diff(span) > rules.max_delta_kwh):
            continue  # a reset or a rejected jump: this day's arithmetic does not hold
        begin, finish = _at(ts, kwh, start), _at(ts, kwh, end)
        exact = start in ts and end in ts
        rows.append((esiid, meter, "consumption", start, end, None, round(finish - begin, 6), None,
                     round(begin, 6), round(finish, 6), None, None, "actual" if exact else "estimated", pd.NaT))
    frame = pd.DataFrame(rows, columns=BILLING_COLUMNS)
    for col in ("read_start", "read_end"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def _at(ts: pd.DatetimeIndex, kwh: np.ndarray, instant: pd.Timestamp) -> float:
    """The register at ``instant``, linear in time between the reads around it."""
    seconds = (ts - ts[0]).total_seconds().to_numpy()
    return float(np.interp((instant - ts[0]).total_seconds(), seconds, kwh))
