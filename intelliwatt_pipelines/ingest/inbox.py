"""Taking files from an inbox (local folder or SFTP): which are new and ready, and taking them in.

Listing is cheap (a directory or SFTP listing and one query), so the sensor can do it every tick;
downloading, unpacking and parsing happen in runs. An entry is a file's (path, size, mtime): a
file rewritten in place is a new entry, and its bytes are deduplicated by sha256 anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.precedence import DEFAULT_PRECEDENCE, Precedence
from intelliwatt_pipelines.cdm.store import dialect_insert
from intelliwatt_pipelines.cdm.tables import inbox_entry, raw_file
from intelliwatt_pipelines.ingest.capture import Captured, capture_bytes, capture_stream
from intelliwatt_pipelines.ingest.normalize import FileOutcome, normalize_raw_file
from intelliwatt_pipelines.ingest.sidecar import SUFFIX, read_sidecar, record_sidecar, sidecar_is_news
from intelliwatt_pipelines.ingest.unpack import QuarantineError, UnpackLimits, package_kind, unpack
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.transport import RemoteEntry

PACKAGE_MEMBER_SEPARATOR = "!"


@dataclass(frozen=True)
class IngestOptions:
    max_invalid_fraction: float = 0.0
    gnupghome: str | None = None
    gpg_passphrase: str | None = field(default=None, repr=False)
    limits: UnpackLimits = UnpackLimits()
    dev_fallback_esiid: str | None = None
    delete_after_ingest: bool = False
    tolerance: Tolerance = Tolerance()
    precedence: Precedence = DEFAULT_PRECEDENCE


def known_keys(engine: sa.Engine, source: str) -> set[str]:
    t = inbox_entry.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.path, t.size_bytes, t.mtime_ns).where(t.source == source)).all()
    return {RemoteEntry(*r).key for r in rows}


def new_entries(engine: sa.Engine, source: str, listing: list[RemoteEntry]) -> list[RemoteEntry]:
    known = known_keys(engine, source)
    return [e for e in listing if e.key not in known]


def take_entry(engine: sa.Engine, store: RawStore, inbox, entry: RemoteEntry, *, run_id: str | None = None,
               options: IngestOptions = IngestOptions(), on_chunk=None) -> list[FileOutcome]:
    """Stream one inbox file into the raw store and process it if its bytes are new.

    A broken transfer raises TransportError before anything is registered. The entry is recorded
    as taken only once its bytes are safe and processed.
    """
    with inbox.open(entry) as stream:
        captured = capture_stream(engine, store, stream, filename=entry.name, source=inbox.source, on_chunk=on_chunk)
    sidecar = read_sidecar(inbox, entry)
    if captured.status == "received" or (sidecar is not None and sidecar_is_news(engine, captured.raw_file_id, sidecar)):
        # new bytes, a capture whose processing never finished, or a failed file given its sidecar late
        if sidecar is not None:
            # back to received first: a crash before the end leaves the file to be offered again
            _set_status(engine, captured.raw_file_id, "received", None, run_id)
            record_sidecar(engine, captured.raw_file_id, entry.name + SUFFIX, sidecar)
        outcomes = process_raw_file(engine, store, captured, run_id=run_id, options=options)
    else:
        outcomes = [FileOutcome(raw_file_id=captured.raw_file_id, filename=entry.name, status="known")]
    _record(engine, inbox.source, entry, captured.raw_file_id)
    if options.delete_after_ingest:
        inbox.delete(entry)
    return outcomes


def process_raw_file(engine: sa.Engine, store: RawStore, captured: Captured, *, run_id: str | None,
                     options: IngestOptions) -> list[FileOutcome]:
    """Normalize a captured file; a package is unpacked first, each CSV becoming a child raw file."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(raw_file).where(raw_file.c.id == captured.raw_file_id)).one()
    with store.open(row.sha256) as stream:  # the head decides; a large CSV is never read whole here
        head = stream.read(64)
    if not package_kind(head, row.filename):
        return [normalize_raw_file(engine, store, row.id, run_id=run_id, max_invalid_fraction=options.max_invalid_fraction,
                                   fallback_esiid=options.dev_fallback_esiid, tolerance=options.tolerance,
                                   precedence=options.precedence)]
    package = FileOutcome(raw_file_id=row.id, filename=row.filename, status="normalized", kind=row.kind)
    data = store.get(row.sha256)
    try:
        members = unpack(data, row.filename, gnupghome=options.gnupghome, passphrase=options.gpg_passphrase,
                         limits=options.limits)
    except Exception as exc:  # QuarantineError, or anything else a hostile package provokes
        reason = str(exc) if isinstance(exc, QuarantineError) else f"cannot unpack ({type(exc).__name__}): {exc}"
        package.status, package.error = "quarantined", reason
        _set_status(engine, row.id, "quarantined", reason, run_id)
        return [package]
    outcomes = [package]
    for member in members:
        child = capture_bytes(engine, store, member.data, source=row.source, parent_id=row.id,
                              filename=f"{row.filename}{PACKAGE_MEMBER_SEPARATOR}{member.name}")
        if child.status == "received":
            # Members are parsed as CSVs, never unpacked again: one level, one size budget.
            outcomes.append(normalize_raw_file(engine, store, child.raw_file_id, run_id=run_id,
                                               max_invalid_fraction=options.max_invalid_fraction,
                                               fallback_esiid=options.dev_fallback_esiid,
                                               tolerance=options.tolerance, precedence=options.precedence))
        else:
            outcomes.append(FileOutcome(raw_file_id=child.raw_file_id, filename=member.name, status="known"))
    package.rows_read = package.rows_valid = len(members)
    _set_status(engine, row.id, "normalized", None, run_id, rows=len(members))
    return outcomes


def reprocess_raw_files(engine: sa.Engine, store: RawStore, raw_file_ids: list[int], *, run_id: str | None,
                        options: IngestOptions) -> list[FileOutcome]:
    """Process stored raw files again from their bytes, whatever their status (idempotent for the
    normalized ones). Children of packages are reprocessed through their package."""
    outcomes = []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(raw_file.c.id, raw_file.c.sha256).where(raw_file.c.id.in_(raw_file_ids))).all()
    missing = set(raw_file_ids) - {r.id for r in rows}
    outcomes += [FileOutcome(raw_file_id=i, filename="?", status="missing", error="no such raw_file") for i in missing]
    for row in rows:
        _set_status(engine, row.id, "received", None, run_id)
        outcomes += process_raw_file(engine, store, Captured(row.id, row.sha256, "received", new=False),
                                     run_id=run_id, options=options)
    return outcomes


def _set_status(engine: sa.Engine, raw_file_id: int, status: str, error: str | None, run_id: str | None,
                rows: int | None = None) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(raw_file.update().where(raw_file.c.id == raw_file_id).values(
            status=status, error=error, run_id=run_id, rows_read=rows, rows_valid=rows,
            normalized_at=now if status == "normalized" else None))


def _record(engine: sa.Engine, source: str, entry: RemoteEntry, raw_file_id: int) -> None:
    with engine.begin() as conn:
        stmt = dialect_insert(conn, inbox_entry).values(
            source=source, path=entry.path, size_bytes=entry.size_bytes, mtime_ns=entry.mtime_ns,
            raw_file_id=raw_file_id, taken_at=dt.datetime.now(dt.timezone.utc))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source", "path", "size_bytes", "mtime_ns"],
            set_={"raw_file_id": stmt.excluded.raw_file_id}))


@dataclass
class SensorState:
    """What the sensor remembers between ticks (its cursor).

    ``seen``: size and mtime of new files at the last listing, to tell a file still being written.
    ``claims``: entries handed to a run, with the run key, until the run records them.
    """

    seen: dict[str, list[int]] = field(default_factory=dict)
    claims: dict[str, list] = field(default_factory=dict)


def ready_entries(fresh: list[RemoteEntry], state: SensorState, *, now: float, min_age_seconds: float,
                  finished_run_keys: set[str], active_run_keys: set[str],
                  reclaim_after_seconds: float) -> tuple[list[RemoteEntry], SensorState]:
    """New entries that are complete and not handed to a live run, and the next state.

    A file is complete when its size and mtime did not change since the last listing, or its mtime
    is at least ``min_age_seconds`` old. A claim ends when the entry is recorded (it is no longer
    fresh) or its run finished without recording it (a failed transfer). A claim whose run is
    queued or running stays; one whose run never appeared ends after ``reclaim_after_seconds``.
    """
    fresh_keys = {e.key for e in fresh}
    claims = {k: c for k, c in state.claims.items()
              if k in fresh_keys and c[1] not in finished_run_keys
              and (c[1] in active_run_keys or now - c[0] < reclaim_after_seconds)}
    ready = [e for e in fresh if e.key not in claims and (
        state.seen.get(e.path) == [e.size_bytes, e.mtime_ns] or now - e.mtime_ns / 1e9 >= min_age_seconds)]
    seen = {e.path: [e.size_bytes, e.mtime_ns] for e in fresh}
    return ready, SensorState(seen=seen, claims=claims)
