"""The two simpler usage CSVs seen next to SMT exports.

- ``ESIID,Meter,Start Date/Time,Usage (kWh)``: ISO Central clock times (``2025-10-10T08:00``).
- ``timestamp,kwh``: ISO UTC instants (``2025-01-01T00:00:00Z``); the ESIID must come from a hint
  (the file name or a sidecar), since the file has none.

Neither carries a revision date or an estimated flag: readings are ``actual`` with no ``revised_at``.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    UNKNOWN_METER,
    ParsedIntervals,
    Problems,
    check_esiids,
    check_kwh,
    localize_central,
    occurrence,
    typed_frame,
)

KIND_LOCAL = "smt_interval_simple"
KIND_UTC = "usage_timestamp_kwh"
LOCAL_HEADER = ["esiid", "meter", "start date/time", "usage (kwh)"]
UTC_HEADER = ["timestamp", "kwh"]


def _header(line: str) -> list[str]:
    return [c.strip().strip('"').lower() for c in line.split(",")]


def matches_local(header_line: str) -> bool:
    return _header(header_line) == LOCAL_HEADER


def matches_utc(header_line: str) -> bool:
    return _header(header_line) == UTC_HEADER


def _read(text: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise ParseError(f"malformed CSV: {exc}".strip()) from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    return raw.apply(lambda s: s.str.strip())


def _interval_minutes(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Each series' most common step between readings; 15 when a series has a single reading."""
    steps = frame.sort_values("ts_utc").groupby(keys, sort=False)["ts_utc"].diff().dt.total_seconds() / 60
    mode = steps.groupby([frame[k] for k in keys]).agg(lambda s: s.mode().iloc[0] if s.notna().any() else 15)
    return frame.set_index(keys).index.map(mode).astype("int64")


def _finish(kind: str, frame: pd.DataFrame, n: int, messages: list[str], invalid: int,
            skipped: int) -> ParsedIntervals:
    frame = frame.assign(revised_at=pd.NaT, quality="actual", channel="consumption")
    frame["interval_minutes"] = _interval_minutes(frame, ["esiid", "meter", "channel"]) if len(frame) else 15
    return ParsedIntervals(kind=kind, frame=typed_frame(frame), rows_read=n, rows_invalid=invalid,
                           rows_skipped=skipped, problems=messages)


def parse_local(text: str) -> ParsedIntervals:
    raw = _read(text)
    problems = Problems()
    problems.start(len(raw))
    esiid = raw["esiid"].str.lstrip("'")
    check_esiids(esiid, problems)
    local = pd.to_datetime(raw["start date/time"], format="ISO8601", errors="coerce")
    problems.flag(local.isna(), "Start Date/Time is not an ISO date-time")
    kwh = check_kwh(raw["usage (kwh)"], problems)
    blank = kwh.isna() & ~problems.invalid
    frame = pd.DataFrame({"esiid": esiid, "meter": raw["meter"].replace("", UNKNOWN_METER),
                          "local": local, "kwh": kwh})[~problems.invalid & ~blank.to_numpy()]
    # A repeated clock time is the fall-back hour's second, standard-time pass.
    nth = occurrence(frame, ["esiid", "meter", "local"])
    frame["ts_utc"] = localize_central(frame["local"], nth == 0)
    sub = Problems()
    sub.start(len(frame))
    lines = frame.index.to_numpy() + 2
    sub.flag(frame["ts_utc"].isna(), "clock time does not exist (spring-forward gap)", lines=lines)
    sub.flag(frame.duplicated(["esiid", "meter", "ts_utc"]), "interval repeated", lines=lines)
    return _finish(KIND_LOCAL, frame[~sub.invalid].drop(columns="local"), len(raw),
                   problems.messages + sub.messages, int(problems.invalid.sum() + sub.invalid.sum()),
                   int(blank.sum()))


def parse_utc(text: str, *, esiid: str | None, meter: str | None = None) -> ParsedIntervals:
    if not esiid:
        raise ParseError("a timestamp,kwh file carries no ESIID: name it in the file name or a sidecar")
    raw = _read(text)
    problems = Problems()
    problems.start(len(raw))
    ts = pd.to_datetime(raw["timestamp"], format="ISO8601", utc=True, errors="coerce")
    problems.flag(ts.isna(), "timestamp is not an ISO date-time")
    kwh = check_kwh(raw["kwh"], problems)
    blank = kwh.isna() & ~problems.invalid
    frame = pd.DataFrame({"esiid": esiid, "meter": meter or UNKNOWN_METER, "ts_utc": ts, "kwh": kwh})
    keep = ~problems.invalid & ~blank.to_numpy()
    frame = frame[keep]
    dup = frame.duplicated(["ts_utc"]).to_numpy()
    problems.flag(np.isin(np.arange(len(raw)), frame.index[dup]), "interval repeated")
    return _finish(KIND_UTC, frame[~dup], len(raw), problems.messages, int(problems.invalid.sum()),
                   int(blank.sum()))
