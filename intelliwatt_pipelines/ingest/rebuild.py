"""Rebuilding (ESIIDs, local days) from the stored raw files: the canonical rows become what the
raw files say, whatever the tables held before."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import billing as cdm_billing
from intelliwatt_pipelines.cdm import usage_buckets
from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.completeness_store import refresh_completeness
from intelliwatt_pipelines.cdm.coverage import day_span, series_bounds
from intelliwatt_pipelines.cdm.intervals import upsert_intervals
from intelliwatt_pipelines.cdm.locks import lock_homes, retry_on_deadlock
from intelliwatt_pipelines.cdm.normalize import SERIES, day_bounds_utc, local_dates
from intelliwatt_pipelines.cdm.precedence import DEFAULT_PRECEDENCE, Precedence
from intelliwatt_pipelines.cdm.tables import billing_read_coverage, raw_file, raw_file_coverage, usage_interval
from intelliwatt_pipelines.ingest import normalize  # files are parsed as normalize parses them whole
from intelliwatt_pipelines.ingest.hints import file_hints
from intelliwatt_pipelines.ingest.registers import derived
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources.detect import USAGE_SOURCES
from intelliwatt_pipelines.sources.frames import ParsedRegisterReads, ReadingWindow


@dataclass
class RebuildOutcome:
    esiids: list[str]
    start: dt.date
    end: dt.date
    raw_file_ids: list[int]
    rows_deleted: int
    rows_written: int
    completeness: pd.DataFrame
    reconciliation: pd.DataFrame = field(default_factory=pd.DataFrame)


def _covering_files(conn: sa.Connection, coverage: sa.Table, esiids: list[str], start: dt.date, end: dt.date) -> list:
    """Normalized raw files whose coverage rows hold these ESIIDs on local days [start, end], oldest first."""
    cov = coverage.c
    ids = sa.select(cov.raw_file_id).where(cov.esiid.in_(esiids), cov.first_local_date <= end,
                                           cov.last_local_date >= start)
    return conn.execute(sa.select(raw_file).where(raw_file.c.id.in_(ids), raw_file.c.status == "normalized")
                        .order_by(raw_file.c.id)).all()


def homes_covered(engine: sa.Engine, start: dt.date, end: dt.date, *, billing: bool = False) -> list[str]:
    """ESIIDs that normalized raw files hold on local days [start, end] (interval or billing coverage)."""
    coverage = billing_read_coverage if billing else raw_file_coverage
    cov = coverage.c
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(cov.esiid).distinct().join(raw_file, cov.raw_file_id == raw_file.c.id)
            .where(cov.first_local_date <= end, cov.last_local_date >= start, raw_file.c.status == "normalized")
            .order_by(cov.esiid)).scalars())


def rebuild_esiid_days(engine: sa.Engine, store: RawStore, esiid: str, start: dt.date, end: dt.date,
                       **options) -> RebuildOutcome:
    """One ESIID's days: see ``rebuild_homes_days``."""
    return rebuild_homes_days(engine, store, [esiid], start, end, **options)


@retry_on_deadlock
def rebuild_homes_days(engine: sa.Engine, store: RawStore, esiids: list[str], start: dt.date, end: dt.date, *,
                       fallback_esiid: str | None = None, tolerance: Tolerance = Tolerance(),
                       precedence: Precedence = DEFAULT_PRECEDENCE,
                       window: ReadingWindow = ReadingWindow()) -> RebuildOutcome:
    """Rewrite these ESIIDs' intervals and completeness for local days [start, end] from raw bytes.

    Deletes the range and replays every normalized raw file that covers it, each file parsed once
    for all these homes, in one transaction: the result is what the raw files say, whatever the
    table held before. Other homes' rows are not touched. Billing reads are not touched; their
    reconciliation over these days is recomputed.
    """
    lo, _ = day_bounds_utc(start)
    _, hi = day_bounds_utc(end)
    with engine.begin() as conn:
        lock_homes(conn, esiids)  # all at once, in order: see cdm/locks.py
        files = _covering_files(conn, raw_file_coverage, esiids, start, end)
        u = usage_interval.c
        stored = conn.execute(sa.select(u.esiid, u.meter, u.channel).distinct().where(u.esiid.in_(esiids))).all()
        previous = {tuple(key): day_span(series_bounds(conn, *key)) for key in stored}
        deleted = conn.execute(usage_interval.delete().where(
            u.esiid.in_(esiids), u.ts_utc >= lo.to_pydatetime(), u.ts_utc < hi.to_pydatetime())).rowcount
        written = 0
        series = set()
        for row in files:
            frame, source = _file_intervals(conn, store, row, file_hints(conn, row, fallback_esiid), window)
            days = local_dates(frame["ts_utc"])
            frame = frame[frame["esiid"].isin(esiids) & (days >= start) & (days <= end)]
            series |= set(frame[SERIES].drop_duplicates().itertuples(index=False, name=None))
            written += upsert_intervals(conn, frame, source=source, raw_file_id=row.id, precedence=precedence)
        series |= set(previous)
        usage_buckets.invalidate_homes(conn, esiids)  # their monthly buckets follow the rewritten intervals
        dates = pd.date_range(start, end, freq="D").date
        days = pd.DataFrame([(*s, d) for s in sorted(series) for d in dates], columns=SERIES + ["local_date"])
        completeness = refresh_completeness(conn, days, previous) if len(days) else pd.DataFrame()
        reconciliation = cdm_billing.reconcile_days(conn, days, tolerance) if len(days) else pd.DataFrame()
    return RebuildOutcome(list(esiids), start, end, [r.id for r in files], deleted, written, completeness,
                          reconciliation)


def _file_intervals(conn: sa.Connection, store: RawStore, row, hints, window: ReadingWindow) -> tuple[pd.DataFrame, str]:
    """A covering file's canonical intervals and their source; a register file's are derived again from the
    stored reads of the days it reaches (``ingest.registers``)."""
    parsed = normalize._parse(store, row, hints, window)
    if isinstance(parsed, ParsedRegisterReads):
        return derived(conn, parsed, row.id).frame, parsed.source
    return normalize._canonical(parsed), USAGE_SOURCES[row.kind]


@retry_on_deadlock
def rebuild_billing_days(engine: sa.Engine, store: RawStore, esiids: list[str] | str, start: dt.date,
                         end: dt.date, *, fallback_esiid: str | None = None, tolerance: Tolerance = Tolerance(),
                         reads: bool = True, window: ReadingWindow = ReadingWindow()) -> RebuildOutcome:
    """Rewrite these ESIIDs' billing reads ending on local days [start, end] from raw bytes (each file
    parsed once), and their reconciliation; with ``reads=False`` only the reconciliation is recomputed."""
    esiids = [esiids] if isinstance(esiids, str) else list(esiids)
    with engine.begin() as conn:
        lock_homes(conn, esiids)
        files, deleted, written = [], 0, 0
        if reads:
            files = _covering_files(conn, billing_read_coverage, esiids, start, end)
            deleted = sum(cdm_billing.delete_reads_ending(conn, e, start, end) for e in esiids)
            for row in files:
                parsed = normalize._parse(store, row, file_hints(conn, row, fallback_esiid), window)
                if isinstance(parsed, ParsedRegisterReads):  # 1PWR: the registers at local midnights
                    parsed = derived(conn, parsed, row.id).reads
                frame = parsed.frame.assign(local_date=cdm_billing.end_dates(parsed.frame["read_end"]))
                frame = frame[frame["esiid"].isin(esiids) & (frame["local_date"] >= start)
                              & (frame["local_date"] <= end)]
                written += cdm_billing.upsert_billing_reads(conn, frame, source=parsed.source, raw_file_id=row.id)
        stored = [r for r in (cdm_billing.reads_ending(conn, e, start, end) for e in esiids) if len(r)]
        reconciliation = cdm_billing.refresh_reconciliation(conn, pd.concat(stored, ignore_index=True), tolerance) \
            if stored else pd.DataFrame()
        for e in esiids:
            cdm_billing.drop_orphan_reconciliation(conn, e, start, end)
    return RebuildOutcome(esiids, start, end, [r.id for r in files], deleted, written, pd.DataFrame(), reconciliation)
