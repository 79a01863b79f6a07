"""Smart Meter Texas interval CSV ("IntervalMeterUsage"), both renderings.

Raw SMT writes ``07/01/2025`` and `` 00:15``; a spreadsheet re-save writes ``7/1/2025`` and ``0:15``.
Times are Central clock times with no offset. The fall-back day has 100 rows and its repeated hour
is told apart only by row order (its first row is malformed as ``2:00,1:15``); the spring-forward
day has four blank rows for clock times that do not exist.
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
    parse_many,
    typed_frame,
)

KIND = "smt_interval"
HEADER = [
    "ESIID", "USAGE_DATE", "REVISION_DATE", "USAGE_START_TIME", "USAGE_END_TIME",
    "USAGE_KWH", "ESTIMATED_ACTUAL", "CONSUMPTION_SURPLUSGENERATION",
]
CHANNELS = {"consumption": "consumption", "surplus generation": "generation", "generation": "generation"}
QUALITIES = {"A": "actual", "E": "estimated"}
INTERVAL_MINUTES = 15


def matches(header_line: str) -> bool:
    cols = [c.strip().strip('"').upper() for c in header_line.split(",")]
    return cols[:2] == HEADER[:2]


def _minutes(clock: pd.Series) -> pd.Series:
    parts = clock.str.extract(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")
    hours = pd.to_numeric(parts[0], errors="coerce")
    mins = pd.to_numeric(parts[1], errors="coerce")
    total = hours * 60 + mins
    return total.where((hours <= 24) & (mins < 60))


def parse(text: str) -> ParsedIntervals:
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise ParseError(f"malformed CSV: {exc}".strip()) from None
    cols = [str(c).strip().upper() for c in raw.columns]
    if cols != HEADER:
        raise ParseError(f"unexpected SMT interval header {cols}; expected {HEADER}")
    raw.columns = HEADER
    raw = raw.apply(lambda s: s.str.strip())
    n = len(raw)
    problems = Problems()
    problems.start(n)

    esiid = raw["ESIID"].str.lstrip("'")
    check_esiids(esiid, problems)
    day = parse_many(raw["USAGE_DATE"], ["%m/%d/%Y", "%Y-%m-%d"])
    problems.flag(day.isna(), "USAGE_DATE is not a date")
    revised_local = parse_many(raw["REVISION_DATE"], ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"])
    problems.flag(revised_local.isna() & raw["REVISION_DATE"].ne(""), "REVISION_DATE is not a date-time")
    start = _minutes(raw["USAGE_START_TIME"])
    end = _minutes(raw["USAGE_END_TIME"])
    problems.flag(start.isna() | end.isna(), "start or end time is not HH:MM")
    channel = raw["CONSUMPTION_SURPLUSGENERATION"].str.lower().map(CHANNELS)
    problems.flag(channel.isna(), "CONSUMPTION_SURPLUSGENERATION is not Consumption or Surplus Generation")
    kwh = check_kwh(raw["USAGE_KWH"], problems)
    flag = raw["ESTIMATED_ACTUAL"].str.upper()
    quality = flag.map(QUALITIES)
    problems.flag(quality.isna() & kwh.notna(), "ESTIMATED_ACTUAL is not A or E")

    # A row whose end is not 15 minutes after its start (SMT's fall-back "2:00,1:15") is placed by
    # its end time, which is the field SMT gets right.
    start = start.where(((end - start) % 1440) == INTERVAL_MINUTES, (end - INTERVAL_MINUTES) % 1440)

    ok = ~problems.invalid
    frame = pd.DataFrame({
        "esiid": esiid, "channel": channel, "day": day, "revised": revised_local,
        "start": start.fillna(0).astype("int64"), "kwh": kwh, "quality": quality,
    })[ok]
    # The repeated fall-back hour: the first pass over a clock time is daylight time, the second
    # standard time. Rows of one day and revision are counted in file order.
    nth = occurrence(frame, ["esiid", "channel", "day", "revised", "start"])
    local = frame["day"] + pd.to_timedelta(frame["start"], unit="min")
    daylight = localize_central(local, np.ones(len(frame), dtype=bool))
    standard = localize_central(local, np.zeros(len(frame), dtype=bool))
    ts = daylight.where(nth == 0, standard)
    ambiguous = (daylight.notna() & (daylight != standard)).to_numpy()
    blank = frame["kwh"].isna().to_numpy()

    sub = Problems()
    sub.start(len(frame))
    lines = frame.index.to_numpy() + 2
    # Repeats beyond the fall-back's second pass are duplicates: identical ones are skipped,
    # conflicting ones are invalid.
    dup = (nth >= 2) | ((nth == 1) & ~ambiguous)
    exact_dup = dup & frame.duplicated(keep="first").to_numpy()
    sub.flag(dup & ~exact_dup, "interval repeated with a different value", lines=lines)
    sub.flag(ts.isna().to_numpy() & ~blank, "reading at a clock time that does not exist (spring-forward gap)",
             lines=lines)
    problems.messages += sub.messages
    skipped = blank | exact_dup
    keep = ~sub.invalid & ~skipped

    out = pd.DataFrame({
        "esiid": frame["esiid"], "meter": UNKNOWN_METER, "channel": frame["channel"],
        "ts_utc": ts, "interval_minutes": INTERVAL_MINUTES, "kwh": frame["kwh"],
        "quality": frame["quality"],
        "revised_at": localize_central(frame["revised"], np.ones(len(frame), dtype=bool)),
    })[keep]
    return ParsedIntervals(
        kind=KIND, frame=typed_frame(out), rows_read=n,
        rows_invalid=int(problems.invalid.sum() + sub.invalid.sum()),
        rows_skipped=int(skipped.sum()), problems=problems.messages,
    )

