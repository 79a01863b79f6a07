"""Smart Meter Texas interval CSV ("IntervalMeterUsage"), both renderings.

Raw SMT writes ``07/01/2025`` and `` 00:15``; a spreadsheet re-save writes ``7/1/2025`` and ``0:15``.
Times are Central clock times with no offset. The fall-back day has 100 rows and its repeated hour
is told apart only by row order (its first row is malformed as ``2:00,1:15``); the spring-forward
day has four blank rows for clock times that do not exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from intelliwatt_pipelines.kinds import SMT_INTERVAL as KIND
from intelliwatt_pipelines.kinds import SMT_INTERVAL_HEADER as HEADER
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import (
    UNKNOWN_METER,
    ParsedIntervals,
    Problems,
    ReadingWindow,
    by_unique,
    check_esiids,
    check_kwh,
    check_meters,
    localize_central,
    occurrence,
    parse_dates,
    read_csv_chunks,
    read_csv_text,
)

# Bump on a change to how this module turns SMT interval CSVs into rows: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
PARSER_VERSION = "1"

CHANNELS = {"consumption": "consumption", "surplus generation": "generation", "generation": "generation"}
QUALITIES = {"A": "actual", "E": "estimated"}
INTERVAL_MINUTES = 15
# SMT's malformed first row of the fall-back day's second pass: "2:00,1:15" for 01:00-01:15 CST.
MALFORMED_FALL_BACK = (120, 75)


def _minutes(clock: pd.Series) -> pd.Series:
    """Minutes after midnight for H:MM or HH:MM (seconds ignored); NaN when not a clock time."""
    return by_unique(clock, _clock_minutes)


def _clock_minutes(clock: pd.Series) -> pd.Series:
    parts = clock.str.extract(r"^([0-9]{1,2}):([0-9]{2})(?::[0-9]{2})?$")
    hours = pd.to_numeric(parts[0], errors="coerce")
    mins = pd.to_numeric(parts[1], errors="coerce")
    return (hours * 60 + mins).where((hours < 24) & (mins < 60))


def parse(text: str, *, meter: str | None = None, window: ReadingWindow = ReadingWindow()) -> ParsedIntervals:
    """Parse an SMT interval CSV; ``meter`` is a hint from the file name (the file has none)."""
    return parse_frame(_checked(read_csv_text(text)), meter=meter, window=window)


def _checked(raw: pd.DataFrame) -> pd.DataFrame:
    if list(raw.columns) != [h.lower() for h in HEADER]:
        raise ParseError(f"unexpected SMT interval header {[c.upper() for c in raw.columns]}; expected {HEADER}")
    raw.columns = HEADER
    return raw


class NotGroupedByDay(Exception):
    """A streamed file came back to an ESIID's day it had left: it cannot be parsed in chunks."""


def parse_chunks(stream, *, meter: str | None = None, rows: int = 200_000, window: ReadingWindow = ReadingWindow()):
    """Parse an SMT interval CSV from a text stream, about ``rows`` rows at a time, each chunk
    holding whole days of a series (ESIID, channel, USAGE_DATE): a fall-back day's two passes are
    told apart by file order within the day, so a day is never split. SMT writes a day's rows
    together; a file that does not raises NotGroupedByDay (parse it whole instead)."""
    held, done = None, set()
    for chunk in read_csv_chunks(stream, rows):
        chunk = _checked(chunk)
        if held is not None:
            chunk = pd.concat([held, chunk])
        day = chunk["ESIID"] + "|" + chunk["CONSUMPTION_SURPLUSGENERATION"] + "|" + chunk["USAGE_DATE"]
        last = day.iloc[-1]
        tail = (day == last).to_numpy().copy()
        tail[:np.flatnonzero(~tail)[-1] + 1 if (~tail).any() else 0] = False  # only the final run
        held, ready = chunk[tail], chunk[~tail]
        seen = set(day[~tail].unique())
        if seen & done:
            raise NotGroupedByDay(f"rows of {len(seen & done)} day(s) are not together in the file")
        done |= seen
        if len(ready):
            yield parse_frame(ready, meter=meter, window=window)
    if held is not None and len(held):
        if last in done:
            raise NotGroupedByDay("rows of a day are not together in the file")
        yield parse_frame(held, meter=meter, window=window)


def parse_frame(raw: pd.DataFrame, *, meter: str | None = None,
                window: ReadingWindow = ReadingWindow()) -> ParsedIntervals:
    """Parse rows read from an SMT interval CSV (columns named as HEADER; the index is the row's
    position in the file, for line numbers in messages)."""
    problems = Problems(len(raw), lines=raw.index.to_numpy() + 2)
    frame = _fields(raw, meter, problems, window)[~problems.invalid]
    ts, nth, ambiguous = _instants(frame)
    found, skipped = _repeats(frame, ts, nth, ambiguous)
    out = pd.DataFrame({
        "esiid": frame["esiid"], "meter": meter or UNKNOWN_METER, "channel": frame["channel"],
        "ts_utc": ts, "interval_minutes": INTERVAL_MINUTES, "kwh": frame["kwh"],
        "quality": frame["quality"],
        # A revision stamp inside the spring-forward gap is SMT's clock, not an error: move it on.
        "revised_at": localize_central(frame["revised"], np.ones(len(frame), dtype=bool), "shift_forward"),
    })[~found.invalid & ~skipped]
    return ParsedIntervals(
        kind=KIND, frame=typed_frame(out), rows_read=len(raw),
        rows_invalid=int(problems.invalid.sum() + found.invalid.sum()),
        rows_skipped=int(skipped.sum()), problems=problems.messages + found.messages,
    )


def _fields(raw: pd.DataFrame, meter: str | None, problems: Problems, window: ReadingWindow) -> pd.DataFrame:
    """Every row's fields typed (esiid, channel, day, revised, start minute, kwh, quality), the
    rows that are not flagged in ``problems``."""
    esiid = by_unique(raw["ESIID"], lambda s: s.str.lstrip("'"))
    check_esiids(esiid, problems)
    check_meters(pd.Series(meter or UNKNOWN_METER, index=raw.index), problems)
    day, revised_local = _dates(raw, problems, window)
    start = _start_minutes(raw, problems)
    channel = by_unique(raw["CONSUMPTION_SURPLUSGENERATION"], lambda s: s.str.lower().map(CHANNELS))
    problems.flag(channel.isna(), "CONSUMPTION_SURPLUSGENERATION is not Consumption or Surplus Generation")
    kwh = check_kwh(raw["USAGE_KWH"], problems)
    quality = by_unique(raw["ESTIMATED_ACTUAL"], lambda s: s.str.upper().map(QUALITIES))
    problems.flag(quality.isna() & kwh.notna(), "ESTIMATED_ACTUAL is not A or E")
    return pd.DataFrame({
        "esiid": esiid, "channel": channel, "day": day, "revised": revised_local,
        "start": start.fillna(0).astype("int64"), "kwh": kwh, "quality": quality,
    })


def _dates(raw: pd.DataFrame, problems: Problems, window: ReadingWindow) -> tuple[pd.Series, pd.Series]:
    """USAGE_DATE and REVISION_DATE (a Central clock time), both within the reading window."""
    day = parse_dates(raw["USAGE_DATE"], ["%m/%d/%Y", "%Y-%m-%d"])
    problems.flag(day.isna(), "USAGE_DATE is not a date")
    day = window.within(day, problems, "USAGE_DATE")
    revised_local = parse_dates(raw["REVISION_DATE"], ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"])
    problems.flag(revised_local.isna() & raw["REVISION_DATE"].ne(""), "REVISION_DATE is not a date-time")
    revised_local = window.within(revised_local, problems, "REVISION_DATE")
    problems.flag(day > revised_local.dt.normalize(), "USAGE_DATE is after REVISION_DATE")
    return day, revised_local


def _start_minutes(raw: pd.DataFrame, problems: Problems) -> pd.Series:
    """Each interval's start, in minutes after local midnight; it must end 15 minutes later."""
    start = _minutes(raw["USAGE_START_TIME"])
    end = _minutes(raw["USAGE_END_TIME"])
    problems.flag(start.isna() | end.isna(), "start or end time is not a clock time HH:MM")
    malformed = (start == MALFORMED_FALL_BACK[0]) & (end == MALFORMED_FALL_BACK[1])
    # That row is placed by its end time, the field SMT gets right; any other odd span is invalid.
    start = start.where(~malformed, end - INTERVAL_MINUTES)
    problems.flag(((end - start) % 1440) != INTERVAL_MINUTES, "interval is not 15 minutes long")
    return start


def _instants(frame: pd.DataFrame) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(UTC start, how many rows of the same day, revision and clock time came before it, whether
    that clock time is ambiguous). The repeated fall-back hour: the first pass over a clock time is
    daylight time, the second standard time. Rows of one day and revision are counted in file order."""
    nth = occurrence(frame, ["esiid", "channel", "day", "revised", "start"])
    local = frame["day"] + pd.to_timedelta(frame["start"], unit="min")
    daylight = localize_central(local, np.ones(len(frame), dtype=bool))
    standard = localize_central(local, np.zeros(len(frame), dtype=bool))
    ambiguous = (daylight.notna() & (daylight != standard)).to_numpy()
    return daylight.where(nth == 0, standard), nth, ambiguous


def _repeats(frame: pd.DataFrame, ts: pd.Series, nth: np.ndarray,
             ambiguous: np.ndarray) -> tuple[Problems, np.ndarray]:
    """(invalid rows, skipped rows). Repeats beyond the fall-back's second pass are duplicates:
    identical ones are skipped, conflicting ones are invalid; so is a reading in the spring-forward
    gap. Blank readings are skipped."""
    blank = frame["kwh"].isna().to_numpy()
    found = Problems(len(frame))
    lines = frame.index.to_numpy() + 2
    dup = (nth >= 2) | ((nth == 1) & ~ambiguous)
    exact_dup = dup & frame.duplicated(keep="first").to_numpy()
    found.flag(dup & ~exact_dup, "interval repeated with a different value", lines=lines)
    found.flag(ts.isna().to_numpy() & ~blank, "reading at a clock time that does not exist (spring-forward gap)",
               lines=lines)
    return found, blank | exact_dup
