"""One pipeline from the parsed chunks of a raw file to canonical rows, in one transaction.

A chunk is a parsed part of the file with its canonical frame: a file parsed whole is one chunk, a
large SMT interval CSV read as a stream gives many (``ingest.stream``). Each chunk is written as it
comes (``ingest.writes``); counts and problems add up over the chunks. The file's rows, coverage,
completeness, reconciliation and its ``normalized`` status commit together or not at all: a file
that cannot be parsed, has more invalid rows than allowed, holds no readings, or holds rows the
warehouse refuses, rolls back whatever its chunks wrote and becomes ``failed`` with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd
import psycopg
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.normalize import SERIES
from intelliwatt_pipelines.cdm.precedence import Precedence
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.hints import Hints
from intelliwatt_pipelines.ingest.writes import Chunk, Written, write_chunk
from intelliwatt_pipelines.sources import ParseError

MAX_ERROR_CHARS = 4000
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


class Refused(Exception):
    """The file must not land (too many invalid rows, no readings, a parser defect): the message says why."""


@dataclass
class _Tally:
    """What the chunks' parses add up to, beyond the counts kept on the outcome."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # reported on the raw file whether or not a row is invalid
    fallback_seen: bool = False  # rows were given the development fallback ESIID


def write_chunks(engine: sa.Engine, row, hints: Hints, chunks: Iterator[Chunk], outcome: FileOutcome, *,
                 run_id: str | None, max_invalid_fraction: float, tolerance: Tolerance,
                 precedence: Precedence) -> FileOutcome:
    """Write every chunk of ``row`` and mark the file ``normalized``, or roll all of it back and
    mark it ``failed``. Exceptions other than refusals (the database unreachable, a stream that
    must be parsed whole) leave the file unmarked and reach the caller."""
    tally, written = _Tally(), Written()
    try:
        with engine.begin() as conn, contextlib.closing(chunks):
            for chunk, last in _with_last(chunks):
                _count(chunk, outcome, tally, hints)
                if last:  # the counts are complete: a refused file parsed whole writes nothing at all
                    _refuse_if_bad(outcome, tally, max_invalid_fraction)
                if not chunk.frame.empty:
                    write_chunk(conn, row, chunk, written, tolerance, precedence)
            _refuse_if_bad(outcome, tally, max_invalid_fraction)  # also a stream that gave no chunk
            written.finish(conn, row.id, outcome)
            tally.notes += written.notes
            _finish(conn, outcome, tally, run_id)
        return outcome
    except ParseError as exc:
        _uncount(outcome)  # as a file parsed whole: a parse that fails counts no rows
        outcome.error = str(exc) + (f" ({hints.sidecar_error})" if hints.sidecar_error else "")
    except Refused as exc:
        outcome.error = str(exc)
    except REFUSED as exc:
        # The database refused these rows (a value too long for its column, a check): the file
        # fails with the reason instead of failing its run, and being offered again, forever.
        orig = getattr(exc, "orig", None) or exc  # COPY raises psycopg's own errors, unwrapped
        outcome.error = f"the warehouse refused the rows ({type(orig).__name__}): {str(orig).splitlines()[0]}"
    _fail(engine, outcome, run_id)
    return outcome


def _with_last(chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, bool]]:
    """Each chunk and whether it is the last one (the next chunk is parsed before this one is written)."""
    held = next(chunks, None)
    while held is not None:
        following = next(chunks, None)
        yield held, following is None
        held = following


def _count(chunk: Chunk, outcome: FileOutcome, tally: _Tally, hints: Hints) -> None:
    parsed = chunk.parsed
    outcome.kind = parsed.kind
    outcome.rows_read += parsed.rows_read
    outcome.rows_valid += parsed.rows_valid
    outcome.rows_invalid += parsed.rows_invalid
    outcome.rows_skipped += parsed.rows_skipped
    outcome.unmapped += getattr(parsed, "unmapped", [])
    tally.problems += parsed.problems
    tally.notes += parsed.notes
    tally.fallback_seen = tally.fallback_seen or (hints.fallback_used and hints.esiid in set(parsed.frame["esiid"]))


def _uncount(outcome: FileOutcome) -> None:
    outcome.rows_read = outcome.rows_valid = outcome.rows_invalid = outcome.rows_skipped = 0
    outcome.unmapped = []


def _refuse_if_bad(outcome: FileOutcome, tally: _Tally, max_invalid_fraction: float) -> None:
    if outcome.rows_invalid and outcome.rows_invalid / max(outcome.rows_read, 1) > max_invalid_fraction:
        raise Refused(f"{outcome.rows_invalid} of {outcome.rows_read} rows invalid; " + "; ".join(tally.problems))
    if not outcome.rows_valid:
        raise Refused("file holds no readings")


def _finish(conn: sa.Connection, outcome: FileOutcome, tally: _Tally, run_id: str | None) -> None:
    outcome.status = "normalized"
    notes = []
    if outcome.rows_invalid:  # tolerated by the setting, but still reported
        notes.append(f"{outcome.rows_invalid} invalid rows tolerated; " + "; ".join(tally.problems))
    notes += tally.notes
    if outcome.unmapped:
        notes.append(f"unmapped columns: {outcome.unmapped}")
    if tally.fallback_seen:
        notes.append("DEV FALLBACK ESIID USED: the file named no ESIID (INTELLIWATT_DEV_FALLBACK_ESIID)")
    outcome.error = "; ".join(notes) or None
    _mark(conn, outcome, run_id)


def _fail(engine: sa.Engine, outcome: FileOutcome, run_id: str | None) -> None:
    """Mark the file ``failed`` (in a transaction of its own: the file's rolled back)."""
    outcome.status, outcome.rows_written, outcome.kwh = "failed", 0, 0.0
    outcome.days = pd.DataFrame(columns=SERIES + ["local_date"])
    outcome.completeness = outcome.reads = outcome.reconciliation = pd.DataFrame()
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
