"""From a stored raw file to canonical rows, and rebuilding (ESIID, days) from stored raw files."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import pandas as pd
import psycopg
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import billing as cdm_billing
from intelliwatt_pipelines.cdm import store as cdm_store
from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.precedence import DEFAULT_PRECEDENCE, Precedence
from intelliwatt_pipelines.cdm.normalize import SERIES, add_placeholders, day_bounds_utc, local_dates, touched_days
from intelliwatt_pipelines.cdm.tables import billing_read_coverage, raw_file, raw_file_coverage, upload, usage_interval
from intelliwatt_pipelines.ingest.capture import detect_kind
from intelliwatt_pipelines.ingest.sidecar import SidecarHint, stored_hint
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources import ParsedIntervals, ParseError, parse_usage_file
from intelliwatt_pipelines.sources import smt_interval
from intelliwatt_pipelines.sources.detect import USAGE_SOURCES, esiid_from_filename, meter_from_filename
from intelliwatt_pipelines.sources.frames import ReadingWindow, SpanTracker
from intelliwatt_pipelines.sources.smt_billing import ParsedBillingReads

MAX_ERROR_CHARS = 4000
# SMT interval CSVs from this size on are read from the raw store as a stream and written in chunks
# of whole days: parsed whole, a file costs about 20x its size in memory. Chunks of 10,000 rows keep
# `intelliwatt ingest` under 400 MB for any file or package (bench/package_memory.py).
STREAM_MIN_BYTES = 4 * 1024 * 1024
STREAM_CHUNK_ROWS = 10_000
# Errors that say "these rows are wrong", as opposed to "the database is unreachable" (those fail the run).
REFUSED = (sa.exc.DataError, sa.exc.IntegrityError, psycopg.errors.DataError, psycopg.errors.IntegrityError)


@dataclass
class FileOutcome:
    raw_file_id: int
    filename: str
    status: str
    kind: str = "unknown"
    rows_read: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    rows_skipped: int = 0
    rows_written: int = 0
    kwh: float = 0.0
    error: str | None = None
    parent_id: int | None = None
    days: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SERIES + ["local_date"]))
    completeness: pd.DataFrame = field(default_factory=pd.DataFrame)
    reads: pd.DataFrame = field(default_factory=pd.DataFrame)  # billing reads this file holds
    reconciliation: pd.DataFrame = field(default_factory=pd.DataFrame)  # reconciliation rows recomputed
    unmapped: list[str] = field(default_factory=list)  # columns of a billing file no family knows


def _raw_row(conn: sa.Connection, raw_file_id: int):
    return conn.execute(sa.select(raw_file).where(raw_file.c.id == raw_file_id)).one()


@dataclass(frozen=True)
class Hints:
    """ESIID and meter for files that do not carry them (e.g. ``timestamp,kwh`` CSVs)."""

    esiid: str | None = None
    meter: str | None = None
    fallback_used: bool = False
    usage_points: dict = field(default_factory=dict)  # Green Button UsagePoint id -> (esiid, meter)
    sidecar_error: str | None = None


def _hints(conn: sa.Connection, row, fallback_esiid: str | None = None) -> Hints:
    """What the binding upload said (for the file or the package it came from), else its sidecar
    file, else the file name, else the development fallback. Only the upload that registered the bytes binds them (or
    one that re-bound a failed file): a later duplicate can never move rows already written. A
    child of a package is named ``<package>!<member>``, so the package's name counts too."""
    up = upload.c
    given = conn.execute(
        sa.select(up.esiid, up.meter).where(up.raw_file_id.in_([row.id, row.parent_id or row.id]),
                                            up.binds_hints.is_(True))
        .order_by(up.id.desc()).limit(1)).first()
    side = stored_hint(conn, [row.id, row.parent_id or row.id]) or SidecarHint()
    esiid = (given and given.esiid) or side.esiid or esiid_from_filename(row.filename)
    meter = (given and given.meter) or side.meter or meter_from_filename(row.filename)
    return Hints(esiid or fallback_esiid, meter, fallback_used=not esiid and bool(fallback_esiid),
                 usage_points=side.usage_points, sidecar_error=side.error)


Parsed = ParsedIntervals | ParsedBillingReads


def _parse(store: RawStore, row, hints: Hints, window: ReadingWindow) -> Parsed:
    return parse_usage_file(store.get(row.sha256), row.filename, esiid=hints.esiid, meter=hints.meter,
                            usage_points=hints.usage_points, window=window)


def _canonical(parsed: Parsed) -> pd.DataFrame:
    return parsed.frame if isinstance(parsed, ParsedBillingReads) else add_placeholders(parsed.frame)


def _invalid_error(parsed: Parsed, max_invalid_fraction: float) -> str | None:
    if not parsed.rows_invalid:
        return None
    share = parsed.rows_invalid / max(parsed.rows_read, 1)
    summary = f"{parsed.rows_invalid} of {parsed.rows_read} rows invalid; " + "; ".join(parsed.problems)
    return summary if share > max_invalid_fraction else None


def normalize_raw_file(engine: sa.Engine, store: RawStore, raw_file_id: int, *, run_id: str | None = None,
                       max_invalid_fraction: float = 0.0, fallback_esiid: str | None = None,
                       tolerance: Tolerance = Tolerance(), precedence: Precedence = DEFAULT_PRECEDENCE,
                       window: ReadingWindow = ReadingWindow()) -> FileOutcome:
    """Parse a stored raw file and merge it into the canonical tables in one transaction: its
    intervals or reads, coverage, completeness, reconciliation and its ``normalized`` status commit
    together or not at all.

    A file that cannot be parsed, has more invalid rows than allowed, or a series spanning more
    days than ``window`` allows, writes no rows: its raw bytes stay and its status becomes
    ``failed`` with the reason.
    """
    with engine.connect() as conn:
        row = _raw_row(conn, raw_file_id)
        hints = _hints(conn, row, fallback_esiid)
    if row.size_bytes >= STREAM_MIN_BYTES and _is_smt_interval_csv(store, row):
        streamed = _normalize_streamed(engine, store, row, hints, run_id=run_id, max_invalid_fraction=max_invalid_fraction,
                                       tolerance=tolerance, precedence=precedence, window=window)
        if streamed is not None:
            return streamed
    outcome = FileOutcome(raw_file_id=row.id, filename=row.filename, status="failed", kind=row.kind,
                          parent_id=row.parent_id)
    try:
        parsed = _parse(store, row, hints, window)  # the span is refused here, before any placeholder
        frame = _canonical(parsed)
    except ParseError as exc:
        outcome.error = str(exc) + (f" ({hints.sidecar_error})" if hints.sidecar_error else "")
    except Exception as exc:  # a parser defect must fail this file, not the batch
        outcome.error = f"could not parse ({type(exc).__name__}): {exc}"
    if outcome.error:
        _fail(engine, outcome, run_id)
        return outcome
    outcome.kind = parsed.kind
    outcome.unmapped = list(getattr(parsed, "unmapped", []))
    outcome.rows_read, outcome.rows_valid = parsed.rows_read, parsed.rows_valid
    outcome.rows_invalid, outcome.rows_skipped = parsed.rows_invalid, parsed.rows_skipped
    outcome.error = _invalid_error(parsed, max_invalid_fraction)
    if outcome.error or parsed.frame.empty:
        outcome.error = outcome.error or "file holds no readings"
        _fail(engine, outcome, run_id)
        return outcome

    try:
        with engine.begin() as conn:
            if isinstance(parsed, ParsedBillingReads):
                _write_reads(conn, row, parsed, outcome, tolerance)
            else:
                _write_intervals(conn, row, parsed, frame, outcome, tolerance, precedence)
            _finish(conn, parsed, frame, hints, outcome, run_id)
    except REFUSED as exc:
        # The database refused these rows (a value too long for its column, a check): the file
        # fails with the reason instead of failing its run, and being offered again, forever.
        orig = getattr(exc, "orig", None) or exc  # COPY raises psycopg's own errors, unwrapped
        outcome.status, outcome.rows_written = "failed", 0
        outcome.error = f"the warehouse refused the rows ({type(orig).__name__}): {str(orig).splitlines()[0]}"
        outcome.days = pd.DataFrame(columns=SERIES + ["local_date"])
        outcome.completeness = outcome.reads = outcome.reconciliation = pd.DataFrame()
        _fail(engine, outcome, run_id)
    return outcome


def _write_intervals(conn: sa.Connection, row, parsed: ParsedIntervals, frame: pd.DataFrame,
                     outcome: FileOutcome, tolerance: Tolerance, precedence: Precedence) -> None:
    previous = cdm_store.previous_spans(conn, frame)
    outcome.rows_written = cdm_store.upsert_intervals(conn, frame, source=USAGE_SOURCES[parsed.kind], raw_file_id=row.id,
                                                      precedence=precedence)
    outcome.days = touched_days(frame)
    cdm_store.write_coverage(conn, row.id, coverage=cdm_store.coverage_of(frame, outcome.days))
    outcome.completeness, outcome.reconciliation = _derived(conn, outcome.days, previous, outcome.rows_written,
                                                            tolerance)
    outcome.kwh = float(parsed.frame["kwh"].sum())


def _is_smt_interval_csv(store: RawStore, row) -> bool:
    with store.open(row.sha256) as stream:
        head = stream.read(65536)
    return b"\x00" not in head and detect_kind(head, row.filename) == smt_interval.KIND


class _Refused(Exception):
    """A streamed file turned out to be one that must not land (too many invalid rows, no readings)."""


def _normalize_streamed(engine: sa.Engine, store: RawStore, row, hints: Hints, *, run_id: str | None,
                        max_invalid_fraction: float, tolerance: Tolerance, precedence: Precedence,
                        window: ReadingWindow) -> FileOutcome | None:
    """``normalize_raw_file`` for a large SMT interval CSV: read from the raw store as a stream and
    written in chunks of whole days, in one transaction, so memory stays bounded by the chunk size,
    not the file's. The outcome is the one the whole-file path gives. None when the file's days are
    not grouped (the caller parses it whole)."""
    outcome = FileOutcome(raw_file_id=row.id, filename=row.filename, status="failed", kind=smt_interval.KIND,
                          parent_id=row.parent_id)
    totals = ParsedIntervals(kind=smt_interval.KIND, frame=pd.DataFrame(columns=["esiid"]), rows_read=0)
    parts: dict[str, list[pd.DataFrame]] = {"days": [], "completeness": [], "reconciliation": [], "coverage": []}
    esiids: set[str] = set()
    spans = SpanTracker(window)  # across chunks: a series too long fails the file, rolling back what was written
    try:
        with engine.begin() as conn, store.open(row.sha256) as raw, \
                io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            last = pd.DataFrame()  # each series' last interval so far: placeholders across chunk edges
            for parsed in smt_interval.parse_chunks(text, meter=hints.meter, rows=STREAM_CHUNK_ROWS, window=window):
                totals.rows_read += parsed.rows_read
                totals.rows_invalid += parsed.rows_invalid
                totals.rows_skipped += parsed.rows_skipped
                totals.problems += parsed.problems
                if parsed.frame.empty:
                    continue
                spans.add(parsed.frame)
                frame = _placeholders_after(parsed.frame, last)
                last = _last_per_series(pd.concat([last, frame], ignore_index=True))
                esiids |= set(parsed.frame["esiid"])
                outcome.rows_valid += len(parsed.frame)
                outcome.kwh += float(parsed.frame["kwh"].sum())
                _write_chunk(conn, row, frame, outcome, parts, tolerance, precedence)
            totals.frame = pd.DataFrame({"esiid": sorted(esiids)})
            outcome.rows_read, outcome.rows_invalid, outcome.rows_skipped = \
                totals.rows_read, totals.rows_invalid, totals.rows_skipped
            if error := _invalid_error(totals, max_invalid_fraction):
                raise _Refused(error)
            if not esiids:
                raise _Refused("file holds no readings")
            cdm_store.write_coverage(conn, row.id, coverage=pd.concat(parts["coverage"], ignore_index=True))
            outcome.days = pd.concat(parts["days"], ignore_index=True).drop_duplicates()
            outcome.completeness = pd.concat(parts["completeness"], ignore_index=True)
            outcome.reconciliation = pd.concat(parts["reconciliation"], ignore_index=True)
            _finish(conn, totals, totals.frame, hints, outcome, run_id)
    except smt_interval.NotGroupedByDay:
        return None
    except (ParseError, _Refused) as exc:
        outcome.status, outcome.error = "failed", str(exc)
    except REFUSED as exc:
        orig = getattr(exc, "orig", None) or exc
        outcome.status = "failed"
        outcome.error = f"the warehouse refused the rows ({type(orig).__name__}): {str(orig).splitlines()[0]}"
    if outcome.status == "failed":  # the transaction rolled back: nothing of the file was written
        outcome.rows_written, outcome.kwh = 0, 0.0
        outcome.days = pd.DataFrame(columns=SERIES + ["local_date"])
        outcome.completeness = outcome.reconciliation = pd.DataFrame()
        _fail(engine, outcome, run_id)
    return outcome


def _placeholders_after(frame: pd.DataFrame, last: pd.DataFrame) -> pd.DataFrame:
    """``add_placeholders`` for one chunk, seeing each series' last interval of earlier chunks, so a
    hole across a chunk edge is filled as it would be in the whole file."""
    anchors = last.merge(frame[SERIES].drop_duplicates(), on=SERIES) if len(last) else last
    if anchors.empty:
        return add_placeholders(frame)
    return add_placeholders(pd.concat([anchors, frame], ignore_index=True)).iloc[len(anchors):] \
        .reset_index(drop=True)


def _last_per_series(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("ts_utc", kind="mergesort").drop_duplicates(SERIES, keep="last")[frame.columns]


def _write_chunk(conn: sa.Connection, row, frame: pd.DataFrame, outcome: FileOutcome, parts: dict,
                 tolerance: Tolerance, precedence: Precedence) -> None:
    previous = cdm_store.previous_spans(conn, frame)
    written = cdm_store.upsert_intervals(conn, frame, source=USAGE_SOURCES[smt_interval.KIND], raw_file_id=row.id,
                                         precedence=precedence)
    outcome.rows_written += written
    days = touched_days(frame)
    parts["coverage"].append(cdm_store.coverage_of(frame, days))
    parts["days"].append(days)
    completeness, reconciliation = _derived(conn, days, previous, written, tolerance)
    parts["completeness"].append(completeness)
    parts["reconciliation"].append(reconciliation)


def _derived(conn: sa.Connection, days: pd.DataFrame, previous: dict, written: int,
             tolerance: Tolerance) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Completeness and reconciliation after writing intervals on ``days``. When no interval
    changed (a re-delivery), nothing derived from them can have: the stored completeness rows are
    returned (the run still reports those days) and no read needs reconciling again."""
    if not written:
        return cdm_store.stored_completeness(conn, days), pd.DataFrame()
    # the intervals under billing reads changed: their reconciliation may have too
    return cdm_store.refresh_completeness(conn, days, previous), cdm_billing.reconcile_days(conn, days, tolerance)


def _write_reads(conn: sa.Connection, row, parsed: ParsedBillingReads, outcome: FileOutcome,
                 tolerance: Tolerance) -> None:
    outcome.rows_written = cdm_billing.upsert_billing_reads(conn, parsed.frame, source=parsed.source,
                                                            raw_file_id=row.id)
    cdm_billing.write_billing_coverage(conn, row.id, parsed.frame)
    outcome.reads = parsed.frame.assign(source=parsed.source, local_date=cdm_billing.end_dates(parsed.frame["read_end"]))
    outcome.reconciliation = cdm_billing.reconcile_file_reads(conn, parsed.frame, tolerance)
    outcome.kwh = float(parsed.frame["kwh_total"].sum())


def _finish(conn: sa.Connection, parsed: Parsed, frame: pd.DataFrame, hints: Hints, outcome: FileOutcome,
            run_id: str | None) -> None:
    outcome.status = "normalized"
    notes = []
    if parsed.rows_invalid:  # tolerated by the setting, but still reported
        notes.append(f"{parsed.rows_invalid} invalid rows tolerated; " + "; ".join(parsed.problems))
    if outcome.unmapped:
        notes.append(f"unmapped columns: {outcome.unmapped}")
    if hints.fallback_used and hints.esiid in set(frame["esiid"]):
        notes.append("DEV FALLBACK ESIID USED: the file named no ESIID (INTELLIWATT_DEV_FALLBACK_ESIID)")
    outcome.error = "; ".join(notes) or None
    _mark(conn, outcome, run_id)


def _fail(engine: sa.Engine, outcome: FileOutcome, run_id: str | None) -> None:
    with engine.begin() as conn:
        _mark(conn, outcome, run_id)


def _mark(conn: sa.Connection, outcome: FileOutcome, run_id: str | None) -> None:
    values = dict(
        status=outcome.status, kind=outcome.kind, error=(outcome.error or None) and outcome.error[:MAX_ERROR_CHARS],
        rows_read=outcome.rows_read, rows_valid=outcome.rows_valid, rows_invalid=outcome.rows_invalid,
        rows_skipped=outcome.rows_skipped, run_id=run_id,
        normalized_at=dt.datetime.now(dt.timezone.utc) if outcome.status == "normalized" else None,
    )
    conn.execute(raw_file.update().where(raw_file.c.id == outcome.raw_file_id).values(**values))


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
        files = _covering_files(conn, raw_file_coverage, esiids, start, end)
        u = usage_interval.c
        stored = conn.execute(sa.select(u.esiid, u.meter, u.channel).distinct().where(u.esiid.in_(esiids))).all()
        previous = {tuple(key): cdm_store.day_span(cdm_store.series_bounds(conn, *key)) for key in stored}
        deleted = conn.execute(usage_interval.delete().where(
            u.esiid.in_(esiids), u.ts_utc >= lo.to_pydatetime(), u.ts_utc < hi.to_pydatetime())).rowcount
        written = 0
        series = set()
        for row in files:
            frame = _canonical(_parse(store, row, _hints(conn, row, fallback_esiid), window))
            days = local_dates(frame["ts_utc"])
            frame = frame[frame["esiid"].isin(esiids) & (days >= start) & (days <= end)]
            series |= set(frame[SERIES].drop_duplicates().itertuples(index=False, name=None))
            written += cdm_store.upsert_intervals(conn, frame, source=USAGE_SOURCES[row.kind], raw_file_id=row.id,
                                                  precedence=precedence)
        series |= set(previous)
        dates = pd.date_range(start, end, freq="D").date
        days = pd.DataFrame([(*s, d) for s in sorted(series) for d in dates], columns=SERIES + ["local_date"])
        completeness = cdm_store.refresh_completeness(conn, days, previous) if len(days) else pd.DataFrame()
        reconciliation = cdm_billing.reconcile_days(conn, days, tolerance) if len(days) else pd.DataFrame()
    return RebuildOutcome(list(esiids), start, end, [r.id for r in files], deleted, written, completeness,
                          reconciliation)


def rebuild_billing_days(engine: sa.Engine, store: RawStore, esiids: list[str] | str, start: dt.date,
                         end: dt.date, *, fallback_esiid: str | None = None, tolerance: Tolerance = Tolerance(),
                         reads: bool = True, window: ReadingWindow = ReadingWindow()) -> RebuildOutcome:
    """Rewrite these ESIIDs' billing reads ending on local days [start, end] from raw bytes (each file
    parsed once), and their reconciliation; with ``reads=False`` only the reconciliation is recomputed."""
    esiids = [esiids] if isinstance(esiids, str) else list(esiids)
    with engine.begin() as conn:
        files, deleted, written = [], 0, 0
        if reads:
            files = _covering_files(conn, billing_read_coverage, esiids, start, end)
            deleted = sum(cdm_billing.delete_reads_ending(conn, e, start, end) for e in esiids)
            for row in files:
                parsed = _parse(store, row, _hints(conn, row, fallback_esiid), window)
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
