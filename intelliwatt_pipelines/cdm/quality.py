"""What the asset checks read: the homes and days a run wrote, and the rows of those days that
break a rule (``defs.checks`` turns the findings into check results; tables come back as markdown).

Homes with the same window are queried together, ESIIDS_PER_QUERY at a time, and intervals are
validated in batches of about VALIDATE_ROWS: memory stays bounded whatever the run wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pandera.errors
import sqlalchemy as sa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm.intervals import stored_intervals
from intelliwatt_pipelines.cdm.normalize import day_bounds_utc
from intelliwatt_pipelines.cdm.schemas import interval_schema
from intelliwatt_pipelines.cdm.tables import (
    billing_read,
    billing_read_coverage,
    billing_reconciliation,
    daily_completeness,
    raw_file,
    raw_file_coverage,
)
from intelliwatt_pipelines.model import typed_frame
from intelliwatt_pipelines.pii import mask

Windows = dict[str, tuple[dt.date, dt.date]]  # ESIID -> first and last Central day written
ESIIDS_PER_QUERY = 500
VALIDATE_ROWS = 250_000
MAX_READ_DAYS = 62  # a monthly bill covers about 30 days; twice that is not one read period


def grouped_windows(windows: Windows) -> Iterator[tuple[list[str], dt.date, dt.date]]:
    """(ESIIDs, first, last): homes with the same window together, ESIIDS_PER_QUERY per query (a
    rebuild of every home's days is one window for all of them)."""
    by_window: dict[tuple, list[str]] = {}
    for esiid, window in sorted(windows.items()):
        by_window.setdefault(window, []).append(esiid)
    for (first, last), esiids in sorted(by_window.items()):
        for i in range(0, len(esiids), ESIIDS_PER_QUERY):
            yield esiids[i:i + ESIIDS_PER_QUERY], first, last


def run_windows(engine: sa.Engine, run_id: str, *, billing: bool = False) -> Windows:
    """ESIID -> (first, last) local day the raw files an ingest run normalized cover (interval
    coverage, and billing coverage too with ``billing``)."""
    windows: Windows = {}
    with engine.connect() as conn:
        for coverage in (raw_file_coverage, billing_read_coverage) if billing else (raw_file_coverage,):
            cov = coverage.c
            rows = conn.execute(sa.select(cov.esiid, sa.func.min(cov.first_local_date), sa.func.max(cov.last_local_date))
                                .join(raw_file, raw_file.c.id == cov.raw_file_id)
                                .where(raw_file.c.run_id == run_id, raw_file.c.status == "normalized")
                                .group_by(cov.esiid)).all()
            for esiid, first, last in rows:
                old = windows.get(esiid, (first, last))
                windows[esiid] = (min(old[0], first), max(old[1], last))
    return windows


def _intervals(conn: sa.Connection, esiid: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    """One ESIID's intervals on local days [first, last], typed as the parsers type them."""
    lo, _ = day_bounds_utc(first)
    _, hi = day_bounds_utc(last)
    return typed_frame(stored_intervals(conn, esiid, lo.to_pydatetime(), hi.to_pydatetime()))


def schema_failures(engine: sa.Engine, windows: Windows) -> tuple[int, str | None]:
    """(intervals checked, the first failure cases as markdown or None) of the canonical schema
    over these homes' days: read one ESIID at a time, validated in batches of about VALIDATE_ROWS
    (a 50-file run wrote 1.75M intervals; pandera runs a few times, not once per home)."""
    checked, pending = 0, []
    with engine.connect() as conn:
        for i, (esiid, (first, last)) in enumerate(sorted(windows.items())):
            pending.append(_intervals(conn, esiid, first, last))
            if sum(map(len, pending)) < VALIDATE_ROWS and i < len(windows) - 1:
                continue
            frame, pending = pd.concat([f for f in pending if len(f)] or [pending[0]], ignore_index=True), []
            if frame.empty:
                continue
            checked += len(frame)
            try:
                interval_schema(markets.active()).validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as exc:
                return checked, exc.failure_cases.head(20).astype(str).to_markdown(index=False)
    return checked, None


def low_completeness(engine: sa.Engine, windows: Windows, threshold: float) -> tuple[int, list]:
    """(series-days in these windows, the rows of those below ``threshold`` with real gaps)."""
    c = daily_completeness.c
    low, days = [], 0
    with engine.connect() as conn:
        for esiids, first, last in grouped_windows(windows):
            window = (c.esiid.in_(esiids), c.local_date >= first, c.local_date <= last)
            days += conn.execute(sa.select(sa.func.count()).where(*window)).scalar_one()
            low += conn.execute(sa.select(c.esiid, c.channel, c.local_date, c.completeness, c.status).where(
                *window, c.status == "gaps", c.completeness < threshold)).all()
    return days, low


def short_by_day(low: list) -> str:
    """Markdown, per day (the 50 worst days): how many homes fall short and which (masked), lowest first."""
    frame = pd.DataFrame([(str(r.local_date), mask(r.esiid), r.completeness) for r in low],
                         columns=["local_date", "esiid", "completeness"]).sort_values(["local_date", "completeness"])
    table = frame.groupby("local_date").agg(
        homes_short=("esiid", "nunique"), lowest=("completeness", "min"),
        homes=("esiid", lambda s: ", ".join(list(dict.fromkeys(s))[:5]))).reset_index()
    return table.sort_values("lowest").head(50).to_markdown(index=False)


def mismatched_reads(engine: sa.Engine, windows: Windows) -> tuple[int, list, str]:
    """(reads reconciled on these windows, the mismatched ones, a markdown table of the first 50).
    Every read whose period overlaps the days: those are the ones reconciled again."""
    c = billing_reconciliation.c
    rows, bad = 0, []
    with engine.connect() as conn:
        for esiids, first, last in grouped_windows(windows):
            lo, _ = day_bounds_utc(first)
            _, hi = day_bounds_utc(last)
            window = (c.esiid.in_(esiids), c.read_start < hi.to_pydatetime(), c.read_end > lo.to_pydatetime())
            rows += conn.execute(sa.select(sa.func.count()).where(*window)).scalar_one()
            bad += conn.execute(sa.select(c.esiid, c.meter, c.local_date, c.source, c.billing_kwh, c.interval_kwh,
                                          c.difference_kwh, c.tolerance_kwh, c.status)
                                .where(*window, c.status == "mismatch")).all()
    table = pd.DataFrame([(mask(r.esiid), str(r.local_date), r.source, r.billing_kwh, r.interval_kwh,
                           r.difference_kwh, r.tolerance_kwh) for r in bad[:50]],
                         columns=["esiid", "read_end_day", "source", "billing_kwh", "interval_kwh",
                                  "difference_kwh", "tolerance_kwh"])
    return rows, bad, table.to_markdown(index=False)


def implausible_in(engine: sa.Engine, windows: Windows) -> tuple[int, list, str]:
    """(reads checked, the implausible ones, a markdown table of the first 50). Reads ending up to
    MAX_READ_DAYS before a window count too: an overlap with the read before the window shows."""
    c = billing_read.c
    reads, bad = 0, []
    with engine.connect() as conn:
        for esiids, first, last in grouped_windows(windows):
            lo, _ = day_bounds_utc(first - dt.timedelta(days=MAX_READ_DAYS))
            _, hi = day_bounds_utc(last)
            frame = pd.read_sql(sa.select(c.esiid, c.meter, c.channel, c.source, c.read_start, c.read_end, c.kwh_total)
                                .where(c.esiid.in_(esiids), c.read_end > lo.to_pydatetime(),
                                       c.read_end <= hi.to_pydatetime()), conn)
            reads += len(frame)
            bad += implausible_reads(frame)
    table = pd.DataFrame([(mask(e), m, ch, src, str(start), str(end), kwh, why) for e, m, ch, src, start, end, kwh, why
                          in bad[:50]],
                         columns=["esiid", "meter", "channel", "source", "read_start", "read_end", "kwh_total", "problem"])
    return reads, bad, table.to_markdown(index=False)


def implausible_reads(frame: pd.DataFrame) -> list[tuple]:
    """(esiid, meter, channel, source, start, end, kWh, problem) of each implausible read."""
    if frame.empty:
        return []
    frame = frame.assign(read_start=pd.to_datetime(frame["read_start"], utc=True),
                         read_end=pd.to_datetime(frame["read_end"], utc=True)).sort_values(
        ["esiid", "meter", "channel", "source", "read_start"])
    previous_end = frame.groupby(["esiid", "meter", "channel", "source"])["read_end"].shift()
    problems = pd.Series("", index=frame.index)
    problems[frame["kwh_total"] < 0] = "negative kWh"
    problems[(frame["read_end"] - frame["read_start"]) > pd.Timedelta(days=MAX_READ_DAYS)] = \
        f"period longer than {MAX_READ_DAYS} days"
    problems[previous_end.notna() & (frame["read_start"] < previous_end)] = "overlaps the previous read"
    hits = frame[problems != ""]
    rows = hits[["esiid", "meter", "channel", "source", "read_start", "read_end", "kwh_total"]].itertuples(index=False)
    return [(*row, problems[i]) for i, row in zip(hits.index, rows, strict=True)]
