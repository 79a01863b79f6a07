"""From a stored raw file to canonical rows: the file parsed whole, or a large SMT interval CSV
read as a stream, goes through the one chunk pipeline of ``ingest.pipeline``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.locks import retry_on_deadlock
from intelliwatt_pipelines.cdm.normalize import add_placeholders
from intelliwatt_pipelines.cdm.precedence import DEFAULT_PRECEDENCE, Precedence
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.hints import Hints, file_hints
from intelliwatt_pipelines.ingest.pipeline import FileOutcome, Refused, write_chunks
from intelliwatt_pipelines.ingest.stream import is_smt_interval_csv, smt_interval_chunks
from intelliwatt_pipelines.ingest.writes import Chunk
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources import ParsedIntervals, ParseError, parse_usage_file, smt_interval
from intelliwatt_pipelines.sources.frames import ReadingWindow
from intelliwatt_pipelines.sources.smt_billing import ParsedBillingReads
from intelliwatt_pipelines.sources.smt_meter_info import ParsedMeterInfo

# SMT interval CSVs from this size on are read from the raw store as a stream and written in chunks
# of whole days: parsed whole, a file costs about 20x its size in memory. Chunks of 10,000 rows keep
# `intelliwatt ingest` under 400 MB for any file or package (bench/package_memory.py).
STREAM_MIN_BYTES = 4 * 1024 * 1024
STREAM_CHUNK_ROWS = 10_000

EMPTY: Mapping[str, str] = MappingProxyType({})
Parsed = ParsedIntervals | ParsedBillingReads | ParsedMeterInfo


def _parse(store: RawStore, row, hints: Hints, window: ReadingWindow) -> Parsed:
    """The whole file parsed (rebuilding parses with this too)."""
    return parse_usage_file(store.get(row.sha256), row.filename, esiid=hints.esiid, meter=hints.meter,
                            usage_points=hints.usage_points, window=window)


def _canonical(parsed: Parsed) -> pd.DataFrame:
    # only intervals get placeholders; reads and meters are stored as parsed
    return add_placeholders(parsed.frame) if isinstance(parsed, ParsedIntervals) else parsed.frame


def _whole_file(store: RawStore, row, hints: Hints, window: ReadingWindow) -> Iterator[Chunk]:
    """The file parsed whole, as one chunk. A parser defect refuses this file, not the batch."""
    try:
        parsed = _parse(store, row, hints, window)  # the span is refused here, before any placeholder
        frame = _canonical(parsed)
    except ParseError:
        raise
    except Exception as exc:
        raise Refused(f"could not parse ({type(exc).__name__}): {exc}") from exc
    yield Chunk(parsed, frame)


@retry_on_deadlock
def normalize_raw_file(engine: sa.Engine, store: RawStore, raw_file_id: int, *, run_id: str | None = None,
                       max_invalid_fraction: float = 0.0, fallback_esiid: str | None = None,
                       tolerance: Tolerance = Tolerance(), precedence: Precedence = DEFAULT_PRECEDENCE,
                       window: ReadingWindow = ReadingWindow(), refused: Mapping[str, str] = EMPTY) -> FileOutcome:
    """Parse a stored raw file and merge it into the canonical tables in one transaction: its
    intervals or reads, coverage, completeness, reconciliation and its ``normalized`` status commit
    together or not at all.

    A file that cannot be parsed, has more invalid rows than allowed, or a series spanning more
    days than ``window`` allows, or of a kind ``refused`` maps to a reason (a feature flag that is
    off), writes no rows: its raw bytes stay and its status becomes ``failed`` with the reason. A large SMT interval CSV is read as a stream, in chunks of whole
    days, with the same outcome: memory stays bounded by the chunk size, not the file's.
    """
    with engine.connect() as conn:
        row = conn.execute(sa.select(raw_file).where(raw_file.c.id == raw_file_id)).one()
        hints = file_hints(conn, row, fallback_esiid)
    rules = dict(run_id=run_id, max_invalid_fraction=max_invalid_fraction, tolerance=tolerance, precedence=precedence)
    if row.kind in refused:
        return write_chunks(engine, row, hints, _refuse(refused[row.kind]), _outcome(row, row.kind), **rules)
    if row.size_bytes >= STREAM_MIN_BYTES and is_smt_interval_csv(store, row):
        chunks = smt_interval_chunks(store, row, hints, window, rows=STREAM_CHUNK_ROWS)
        try:
            return write_chunks(engine, row, hints, chunks, _outcome(row, smt_interval.KIND), **rules)
        except smt_interval.NotGroupedByDay:
            pass  # rolled back: parsed whole below
    return write_chunks(engine, row, hints, _whole_file(store, row, hints, window), _outcome(row, row.kind), **rules)


def _refuse(reason: str) -> Iterator[Chunk]:
    raise Refused(reason)
    yield  # a generator: write_chunks records the refusal as the file's failure


def _outcome(row, kind: str) -> FileOutcome:
    return FileOutcome(raw_file_id=row.id, filename=row.filename, status="failed", kind=kind, parent_id=row.parent_id)
