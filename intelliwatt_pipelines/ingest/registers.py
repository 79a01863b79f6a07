"""Register reads of a raw file -> stored reads -> interval deltas, written like any intervals.

The deltas of a meter are derived from this file's reads together with the stored reads next to them
(``cdm.registers.reads_around``), so a batch boundary or a late batch between two stored ones loses no
energy and invents none. Resets and rejected jumps become the file's problems (reasons on raw_file).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines import markets, pii
from intelliwatt_pipelines.cdm.normalize import add_placeholders, day_bounds_utc, local_dates
from intelliwatt_pipelines.cdm.registers import reads_around, store_register_reads
from intelliwatt_pipelines.model import INTERVAL_COLUMNS, typed_frame
from intelliwatt_pipelines.sources import ParsedIntervals
from intelliwatt_pipelines.sources.frames import ParsedRegisterReads
from intelliwatt_pipelines.sources.register_days import daily_reads
from intelliwatt_pipelines.sources.registers import DEFAULT_RULES, RegisterRules, register_intervals
from intelliwatt_pipelines.sources.smt_billing import ParsedBillingReads

CHANNEL = "consumption"


@dataclass(frozen=True)
class Derived:
    intervals: ParsedIntervals  # the deltas of the days recomputed
    frame: pd.DataFrame  # the deltas with their placeholders (the canonical frame)
    reads: ParsedBillingReads  # the register at local midnights: one billing read per whole day
    problems: list[str]  # resets and rejected jumps next to this file's reads
    windows: list[tuple[str, str, pd.Timestamp, pd.Timestamp]]  # (esiid, meter, start, end) recomputed


def derived(conn: sa.Connection, parsed: ParsedRegisterReads, raw_file_id: int,
            rules: RegisterRules = DEFAULT_RULES) -> Derived:
    """Store the reads, then recompute each touched meter's intervals and daily reads over the whole local
    days its new pairs reach (from the stored read before the file's first to the one after its last), from
    every stored read of those days and the ones beside them: the same reads always give the same days,
    whichever file came last and in whatever order the files came."""
    store_register_reads(conn, parsed.frame, source=parsed.source, raw_file_id=raw_file_id)
    frames, days, problems, windows = [], [], [], []
    spans = parsed.frame.groupby(["esiid", "meter"], sort=True)["ts_utc"].agg(["min", "max"])
    for (esiid, meter), (first, last) in spans.iterrows():
        near = reads_around(conn, esiid, meter, first, last)["ts_utc"]  # this file's pairs: near.min()..max()
        (start, _), (_, end) = (day_bounds_utc(d) for d in local_dates(pd.Series([near.min(), near.max()])))
        reads = reads_around(conn, esiid, meter, start, end)
        intervals, events = register_intervals(reads[["meter", "ts_utc", "register_kwh"]], rules)
        frames.append(intervals[(intervals["ts_utc"] >= start) & (intervals["ts_utc"] < end)]
                      .assign(esiid=esiid, channel=CHANNEL, revised_at=pd.NaT))
        daily = daily_reads(reads, markets.local_tz(), rules)
        days.append(daily[(daily["read_start"] >= start) & (daily["read_end"] <= end)])
        problems += _events(esiid, meter, events, near.min(), near.max())
        windows.append((esiid, meter, start, end))
    frame = typed_frame(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INTERVAL_COLUMNS))
    intervals = ParsedIntervals(kind=parsed.kind, frame=frame, rows_read=parsed.rows_read)
    reads = ParsedBillingReads(kind=parsed.kind, frame=pd.concat(days, ignore_index=True), rows_read=parsed.rows_read,
                               source=parsed.source)
    return Derived(intervals, add_placeholders(frame), reads, problems, windows)


def _events(esiid: str, meter: str, events: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> list[str]:
    """The resets and rejected jumps among this file's pairs (not those of the rest of the day, reported by
    their own files), the account masked."""
    mine = events[(events["start_utc"] >= lo) & (events["end_utc"] <= hi)]
    return [f"{kind} on {pii.mask(esiid)} meter {meter} {start:%Y-%m-%d %H:%M}..{end:%H:%M}Z: {detail}"
            for _meter, start, end, kind, detail in mine.itertuples(index=False)]
