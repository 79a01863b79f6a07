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
from intelliwatt_pipelines.cdm.normalize import add_placeholders
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
    intervals: ParsedIntervals  # the deltas, with resets and rejected jumps as problems
    frame: pd.DataFrame  # the deltas with their placeholders (the canonical frame)
    reads: ParsedBillingReads  # the register at local midnights: one billing read per whole day
    problems: list[str]


def derived(conn: sa.Connection, parsed: ParsedRegisterReads, raw_file_id: int,
            rules: RegisterRules = DEFAULT_RULES) -> Derived:
    """Store the reads, then derive each touched meter's intervals and daily reads over its reads and
    their stored neighbours."""
    store_register_reads(conn, parsed.frame, source=parsed.source, raw_file_id=raw_file_id)
    frames, days, problems = [], [], []
    spans = parsed.frame.groupby(["esiid", "meter"], sort=True)["ts_utc"].agg(["min", "max"])
    for (esiid, meter), (first, last) in spans.iterrows():
        reads = reads_around(conn, esiid, meter, first, last)
        days.append(daily_reads(reads, markets.local_tz(), rules))
        intervals, events = register_intervals(reads[["meter", "ts_utc", "register_kwh"]], rules)
        frames.append(intervals.assign(esiid=esiid, channel=CHANNEL, revised_at=pd.NaT))
        problems += [f"{kind} on {pii.mask(esiid)} meter {meter} {start:%Y-%m-%d %H:%M}..{end:%H:%M}Z: {detail}"
                     for _, _, start, end, kind, detail in events.itertuples(index=False)]
    frame = typed_frame(pd.concat(frames, ignore_index=True)) if frames else typed_frame(pd.DataFrame(columns=INTERVAL_COLUMNS))
    intervals = ParsedIntervals(kind=parsed.kind, frame=frame, rows_read=parsed.rows_read)
    reads = ParsedBillingReads(kind=parsed.kind, frame=pd.concat(days, ignore_index=True), rows_read=parsed.rows_read,
                               source=parsed.source)
    return Derived(intervals, add_placeholders(frame), reads, problems)
