"""Writing one chunk of a raw file: its intervals or billing reads, and what derives from them
(completeness, reconciliation), gathered over the chunks for the file's outcome and coverage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import billing as cdm_billing
from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.completeness_store import refresh_completeness, stored_completeness
from intelliwatt_pipelines.cdm.coverage import coverage_of, previous_spans, write_coverage
from intelliwatt_pipelines.cdm.intervals import upsert_intervals
from intelliwatt_pipelines.cdm.locks import lock_homes
from intelliwatt_pipelines.cdm.meter_info import store_meter_info
from intelliwatt_pipelines.cdm.meter_roles import store_meter_roles
from intelliwatt_pipelines.cdm.normalize import touched_days
from intelliwatt_pipelines.cdm.precedence import Precedence
from intelliwatt_pipelines.cdm.registers import replace_derived, withdraw_reads
from intelliwatt_pipelines.ingest.registers import derived
from intelliwatt_pipelines.sources import ParsedIntervals
from intelliwatt_pipelines.sources.detect import USAGE_SOURCES
from intelliwatt_pipelines.sources.frames import ParsedMeterRoles, ParsedRegisterReads
from intelliwatt_pipelines.sources.smt_billing import ParsedBillingReads
from intelliwatt_pipelines.sources.smt_meter_info import ParsedMeterInfo


@dataclass(frozen=True)
class Chunk:
    """A parsed part of a raw file (or all of it) and its canonical frame: intervals with their
    placeholders, or billing reads as parsed."""

    parsed: ParsedIntervals | ParsedBillingReads | ParsedMeterInfo | ParsedRegisterReads | ParsedMeterRoles
    frame: pd.DataFrame


@dataclass
class Written:
    """What the chunks of one file wrote so far."""

    rows: int = 0
    kwh: float = 0.0
    days: list[pd.DataFrame] = field(default_factory=list)
    coverage: list[pd.DataFrame] = field(default_factory=list)
    completeness: list[pd.DataFrame] = field(default_factory=list)
    reconciliation: list[pd.DataFrame] = field(default_factory=list)
    reads: list[pd.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # found while writing (register resets, rejected jumps)

    def finish(self, conn: sa.Connection, raw_file_id: int, outcome) -> None:
        """Record the file's interval coverage and put what was written on its ``FileOutcome``
        (``pipeline.FileOutcome``, not imported: the pipeline imports this module)."""
        if self.coverage:
            write_coverage(conn, raw_file_id, coverage=gather(self.coverage))
        outcome.rows_written, outcome.kwh = self.rows, self.kwh
        if self.days:
            outcome.days = gather(self.days).drop_duplicates()
        for name in ("completeness", "reconciliation", "reads"):
            if getattr(self, name):
                setattr(outcome, name, gather(getattr(self, name)))


def gather(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts as one frame (a file parsed whole has one: no copy)."""
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def write_chunk(conn: sa.Connection, row, chunk: Chunk, written: Written, tolerance: Tolerance,
                precedence: Precedence) -> None:
    if isinstance(chunk.parsed, ParsedBillingReads):
        _write_reads(conn, row, chunk.parsed, written, tolerance)
    elif isinstance(chunk.parsed, ParsedRegisterReads):  # 1PWR registers: stored, then their deltas
        _write_registers(conn, row, chunk.parsed, written, tolerance, precedence)
    elif isinstance(chunk.parsed, ParsedMeterRoles):  # the 1PWR meter registry: roles, no readings
        written.rows += store_meter_roles(conn, chunk.parsed.frame, raw_file_id=row.id,
                                          now=dt.datetime.now(dt.timezone.utc))
    elif isinstance(chunk.parsed, ParsedMeterInfo):  # meters (smt_meter_info): no readings, nothing derived
        written.rows += store_meter_info(conn, chunk.parsed.rows(), raw_file_id=row.id,
                                         now=dt.datetime.now(dt.timezone.utc))
    else:
        _write_intervals(conn, row, chunk, written, tolerance, precedence)


def _write_intervals(conn: sa.Connection, row, chunk: Chunk, written: Written, tolerance: Tolerance,
                     precedence: Precedence, source: str | None = None) -> None:
    frame = chunk.frame
    lock_homes(conn, frame["esiid"].unique())  # before reading what is stored: see cdm/locks.py
    previous = previous_spans(conn, frame)
    rows = upsert_intervals(conn, frame, source=source or USAGE_SOURCES[chunk.parsed.kind], raw_file_id=row.id,
                            precedence=precedence)
    days = touched_days(frame)
    written.rows += rows
    written.kwh += float(chunk.parsed.frame["kwh"].sum())
    written.days.append(days)
    written.coverage.append(coverage_of(frame, days))
    completeness, reconciliation = _derived(conn, days, previous, rows, tolerance)
    written.completeness.append(completeness)
    written.reconciliation.append(reconciliation)


def _write_registers(conn: sa.Connection, row, parsed: ParsedRegisterReads, written: Written, tolerance: Tolerance,
                     precedence: Precedence) -> None:
    lock_homes(conn, parsed.frame["esiid"].unique())
    found = derived(conn, parsed, row.id)
    written.notes += found.problems
    replace_derived(conn, found.windows, parsed.source, found.frame)  # the recomputed days replace what was stored
    withdraw_reads(conn, found.windows, parsed.source, found.reads.frame)
    _write_intervals(conn, row, Chunk(found.intervals, found.frame), written, tolerance, precedence,
                     source=parsed.source)
    if not found.reads.frame.empty:
        _write_reads(conn, row, found.reads, written, tolerance)


def _derived(conn: sa.Connection, days: pd.DataFrame, previous: dict, rows: int,
             tolerance: Tolerance) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Completeness and reconciliation after writing intervals on ``days``. When no interval
    changed (a re-delivery), nothing derived from them can have: the stored completeness rows are
    returned (the run still reports those days) and no read needs reconciling again."""
    if not rows:
        return stored_completeness(conn, days), pd.DataFrame()
    # the intervals under billing reads changed: their reconciliation may have too
    return refresh_completeness(conn, days, previous), cdm_billing.reconcile_days(conn, days, tolerance)


def _write_reads(conn: sa.Connection, row, parsed: ParsedBillingReads, written: Written,
                 tolerance: Tolerance) -> None:
    lock_homes(conn, parsed.frame["esiid"].unique())
    written.rows += cdm_billing.upsert_billing_reads(conn, parsed.frame, source=parsed.source, raw_file_id=row.id)
    cdm_billing.write_billing_coverage(conn, row.id, parsed.frame)
    written.reads.append(parsed.frame.assign(source=parsed.source,
                                             local_date=cdm_billing.end_dates(parsed.frame["read_end"])))
    written.reconciliation.append(cdm_billing.reconcile_file_reads(conn, parsed.frame, tolerance))
    written.kwh += float(parsed.frame["kwh_total"].sum())
