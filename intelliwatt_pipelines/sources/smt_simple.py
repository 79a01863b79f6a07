"""The two simpler usage CSVs seen next to SMT exports.

- ``ESIID,Meter,Start Date/Time,Usage (kWh)``: ISO Central clock times (``2025-10-10T08:00``).
- ``timestamp,kwh``: ISO instants with an explicit offset (``2025-01-01T00:00:00Z``); the ESIID must
  come from a hint (the file name), since the file has none.

Neither carries a revision date or an estimated flag: readings are ``actual`` with no ``revised_at``.
"""

from __future__ import annotations

import pandas as pd

from intelliwatt_pipelines.bounds import INTERVAL_LENGTHS
from intelliwatt_pipelines.kinds import SMT_INTERVAL_SIMPLE as KIND_LOCAL
from intelliwatt_pipelines.kinds import USAGE_TIMESTAMP_KWH as KIND_UTC
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    UNKNOWN_METER,
    ParsedIntervals,
    Problems,
    ReadingWindow,
    check_esiids,
    check_kwh,
    check_meters,
    localize_central,
    occurrence,
    read_csv_text,
)

# Bump on a change to how this module turns simple interval CSVs into rows: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
LOCAL_TIME = rf"^{_ISO}$"
INSTANT = rf"^{_ISO}(?:Z|[+-][0-9]{{2}}:?[0-9]{{2}})$"
SERIES = ["esiid", "meter"]


def _times(raw: pd.Series, pattern: str, problems: Problems, reason: str, what: str, window: ReadingWindow, *,
           utc: bool) -> pd.Series:
    """ISO times of the given shape within the reading window; anything else is flagged."""
    shaped = raw.str.fullmatch(pattern)
    parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]" if utc else "datetime64[us]")
    if shaped.any():
        parsed[shaped] = pd.to_datetime(raw[shaped], format="ISO8601", utc=utc, errors="coerce")
    problems.flag(parsed.isna(), reason)
    return window.within(parsed, problems, what)


def _interval_minutes(frame: pd.DataFrame) -> pd.Series:
    """Each series' most common step between readings (15 for a single reading); must be supported."""
    ordered = frame.sort_values("ts_utc")
    steps = (ordered.groupby(SERIES, sort=False)["ts_utc"].diff().dt.total_seconds() / 60).dropna()
    mode = steps.groupby([ordered.loc[steps.index, k] for k in SERIES]).agg(lambda s: s.mode().iloc[0])
    minutes = frame.set_index(SERIES).index.map(mode).to_series().fillna(15)
    if bad := sorted(set(minutes) - set(INTERVAL_LENGTHS)):
        raise ParseError(f"readings are {bad[0]:g} minutes apart; supported interval lengths are "
                         f"{', '.join(map(str, INTERVAL_LENGTHS))} minutes")
    return minutes.astype("int64").to_numpy()


def _finish(kind: str, frame: pd.DataFrame, n: int, problems: Problems, skipped: int) -> ParsedIntervals:
    frame = frame.assign(revised_at=pd.NaT, quality="actual", channel="consumption")
    frame["interval_minutes"] = _interval_minutes(frame) if len(frame) else 15
    return ParsedIntervals(kind=kind, frame=typed_frame(frame), rows_read=n, rows_invalid=int(problems.invalid.sum()),
                           rows_skipped=skipped, problems=problems.messages)


def parse_local(text: str, window: ReadingWindow = ReadingWindow()) -> ParsedIntervals:
    raw = read_csv_text(text)
    problems = Problems(len(raw))
    esiid = raw["esiid"].str.lstrip("'")
    check_esiids(esiid, problems)
    meter = raw["meter"].replace("", UNKNOWN_METER)
    check_meters(meter, problems)
    local = _times(raw["start date/time"], LOCAL_TIME, problems,
                   "Start Date/Time is not a local ISO date-time (no offset)", "Start Date/Time", window, utc=False)
    kwh = check_kwh(raw["usage (kwh)"], problems)
    blank = (kwh.isna() & ~problems.invalid).to_numpy()
    frame = pd.DataFrame({"esiid": esiid, "meter": meter, "local": local, "kwh": kwh})
    # A repeated clock time is the fall-back hour's second, standard-time pass.
    nth = occurrence(frame, SERIES + ["local"])
    frame["ts_utc"] = localize_central(frame["local"].fillna(pd.Timestamp(window.floor)), nth == 0)
    problems.flag(frame["ts_utc"].isna(), "clock time does not exist (spring-forward gap)")
    problems.flag(frame["ts_utc"].notna() & frame.duplicated(SERIES + ["ts_utc"]) & ~blank, "interval repeated")
    keep = ~problems.invalid & ~blank
    return _finish(KIND_LOCAL, frame[keep].drop(columns="local"), len(raw), problems, int(blank.sum()))


def parse_utc(text: str, *, esiid: str | None, meter: str | None = None,
              window: ReadingWindow = ReadingWindow()) -> ParsedIntervals:
    if not esiid:
        raise ParseError("a timestamp,kwh file carries no ESIID: name it in the file name")
    raw = read_csv_text(text)
    problems = Problems(len(raw))
    meters = pd.Series(meter or UNKNOWN_METER, index=raw.index)
    check_meters(meters, problems)
    ts = _times(raw["timestamp"], INSTANT, problems,
                "timestamp is not an ISO instant with an offset or Z", "timestamp", window, utc=True)
    kwh = check_kwh(raw["kwh"], problems)
    blank = (kwh.isna() & ~problems.invalid).to_numpy()
    frame = pd.DataFrame({"esiid": esiid, "meter": meter or UNKNOWN_METER, "ts_utc": ts, "kwh": kwh})
    problems.flag(ts.notna() & frame.duplicated(["ts_utc"]) & ~blank, "interval repeated")
    keep = ~problems.invalid & ~blank
    return _finish(KIND_UTC, frame[keep], len(raw), problems, int(blank.sum()))


