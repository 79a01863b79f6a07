"""Taking files from an inbox (local folder or SFTP): which are new and ready, and taking them in.

Listing is cheap (a directory or SFTP listing and one query), so the sensor can do it every tick;
downloading, unpacking and parsing happen in runs. An entry is a file's (path, size, mtime): a
file rewritten in place is a new entry, and its bytes are deduplicated by sha256 anyway.

Several processes may take from one inbox (the sensor's runs, ``intelliwatt ingest``): each claims
an entry in ``inbox_claim`` before taking it and skips the entries another process holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.billing import Tolerance
from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.precedence import DEFAULT_PRECEDENCE, Precedence
from intelliwatt_pipelines.cdm.raw_files import PACKAGE_MEMBER_SEPARATOR, Captured
from intelliwatt_pipelines.cdm.tables import inbox_claim, inbox_entry, raw_file
from intelliwatt_pipelines.ingest.capture import capture_stream
from intelliwatt_pipelines.ingest.normalize import normalize_raw_file
from intelliwatt_pipelines.ingest.pipeline import FileOutcome
from intelliwatt_pipelines.ingest.sidecar import SUFFIX, read_sidecar, record_sidecar, sidecar_is_news
from intelliwatt_pipelines.ingest.unpack import Member, QuarantineError, UnpackLimits, unpacked
from intelliwatt_pipelines.kinds import package_kind
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources.frames import ReadingWindow
from intelliwatt_pipelines.transport import RemoteEntry


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
    window: ReadingWindow = ReadingWindow()
    refused: Mapping[str, str] = field(default_factory=dict)  # kind -> why it is not taken (a flag is off)


def known_keys(engine: sa.Engine, source: str, among: list[RemoteEntry] | None = None) -> set[str]:
    """Keys of the entries of ``source`` already taken (only those of ``among``'s paths, if given)."""
    t = inbox_entry.c
    query = sa.select(t.path, t.size_bytes, t.mtime_ns).where(t.source == source)
    if among is not None:
        query = query.where(t.path.in_({e.path for e in among}))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {RemoteEntry(*r).key for r in rows}


def new_entries(engine: sa.Engine, source: str, listing: list[RemoteEntry]) -> list[RemoteEntry]:
    known = known_keys(engine, source)
    return [e for e in listing if e.key not in known]


@dataclass(frozen=True)
class Claim:
    """Who is taking inbox entries, and after how long another taker's claim counts as abandoned
    (its process crashed): the entry may then be taken over."""

    owner: str
    stale_after_seconds: float = 3600.0


def claim_owner(run_id: str | None) -> str:
    """``<host>:<pid>:<run id or cli>``: enough to find the process holding an entry."""
    return f"{socket.gethostname()}:{os.getpid()}:{run_id or 'cli'}"[:200]


def _claim_key(source: str, entry: RemoteEntry) -> dict:
    return {"source": source, "path": entry.path, "size_bytes": entry.size_bytes, "mtime_ns": entry.mtime_ns}


def _where_claim(source: str, entry: RemoteEntry):
    return sa.and_(*(inbox_claim.c[k] == v for k, v in _claim_key(source, entry).items()))


def claim_entry(engine: sa.Engine, source: str, entry: RemoteEntry, claim: Claim) -> bool:
    """Claim an entry for this process, each step in its own short transaction. False when another
    process holds a live claim on it, or took it already (between our listing and our claim)."""
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        mine = conn.execute(dialect_insert(conn, inbox_claim).values(
            **_claim_key(source, entry), owner=claim.owner, claimed_at=now,
        ).on_conflict_do_nothing().returning(inbox_claim.c.owner)).first()
    if mine is None:
        # Taken over only if still stale when the update runs: of two processes, one wins.
        cutoff = now - dt.timedelta(seconds=claim.stale_after_seconds)
        with engine.begin() as conn:
            taken_over = conn.execute(inbox_claim.update().where(
                _where_claim(source, entry), inbox_claim.c.claimed_at < cutoff,
            ).values(owner=claim.owner, claimed_at=now)).rowcount
        if not taken_over:
            return False
    if entry.key in known_keys(engine, source, [entry]):
        with engine.begin() as conn:
            release_claim(conn, source, entry, claim)
        return False
    return True


def release_claim(conn: sa.Connection, source: str, entry: RemoteEntry, claim: Claim) -> None:
    """Drop our claim (not one another process took over from us meanwhile)."""
    conn.execute(inbox_claim.delete().where(_where_claim(source, entry), inbox_claim.c.owner == claim.owner))


def claim_holder(conn: sa.Connection, source: str, entry: RemoteEntry) -> str | None:
    """The owner of the claim on an entry, if any."""
    return conn.execute(sa.select(inbox_claim.c.owner).where(_where_claim(source, entry))).scalar()


def take_claimed(engine: sa.Engine, store: RawStore, inbox, entry: RemoteEntry, claim: Claim,
                 **kwargs) -> list[FileOutcome] | None:
    """``take_entry`` when other processes may take from the same inbox: None (skipped) when
    another one holds or took the entry. The claim ends with the entry's record, or at once when
    taking fails (a claim left behind by a broken connection goes stale)."""
    with _sqlite_turn(engine):
        if not claim_entry(engine, inbox.source, entry, claim):
            return None
        try:
            return take_entry(engine, store, inbox, entry, claim=claim, **kwargs)
        except BaseException:
            with contextlib.suppress(sa.exc.SQLAlchemyError), engine.begin() as conn:
                release_claim(conn, inbox.source, entry, claim)
            raise


@contextlib.contextmanager
def _sqlite_turn(engine: sa.Engine):
    """On a SQLite warehouse, processes take entries in turns (an exclusive lock on a file beside the
    database, freed by the kernel if a process dies): SQLite has one writer at a time, and a file's
    transaction, which reads before it writes, fails at once ("database is locked") if another
    process wrote in between, instead of waiting."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.take-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def take_entry(engine: sa.Engine, store: RawStore, inbox, entry: RemoteEntry, *, run_id: str | None = None,
               options: IngestOptions = IngestOptions(), on_chunk=None,
               claim: Claim | None = None) -> list[FileOutcome]:
    """Stream one inbox file into the raw store and process it if its bytes are new.

    A broken transfer raises TransportError before anything is registered. The entry is recorded
    as taken only once its bytes are safe and processed (and ``claim``, if any, released with it).
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
    _record(engine, inbox.source, entry, captured.raw_file_id, claim)
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
    if package_kind(head, row.filename):
        return _process_package(engine, store, row, run_id=run_id, options=options)
    return [normalize_raw_file(engine, store, row.id, run_id=run_id, max_invalid_fraction=options.max_invalid_fraction,
                               fallback_esiid=options.dev_fallback_esiid, tolerance=options.tolerance,
                               precedence=options.precedence, window=options.window, refused=options.refused)]


def _process_package(engine: sa.Engine, store: RawStore, row, *, run_id: str | None,
                     options: IngestOptions) -> list[FileOutcome]:
    """Unpack a package read from the raw store as a stream and take each CSV in it as a child raw
    file, one member at a time: memory stays bounded whatever the package's size."""
    package = FileOutcome(raw_file_id=row.id, filename=row.filename, status="normalized", kind=row.kind)
    with store.open(row.sha256) as stream, contextlib.ExitStack() as package_files:
        try:
            members = package_files.enter_context(unpacked(
                stream, row.filename, gnupghome=options.gnupghome, passphrase=options.gpg_passphrase,
                limits=options.limits))
        except Exception as exc:  # QuarantineError, or anything else a hostile package provokes
            reason = str(exc) if isinstance(exc, QuarantineError) else f"cannot unpack ({type(exc).__name__}): {exc}"
            package.status, package.error = "quarantined", reason
            _set_status(engine, row.id, "quarantined", reason, run_id)
            return [package]
        outcomes = [package] + [_take_member(engine, store, row, member, run_id=run_id, options=options)
                                for member in members]
    package.rows_read = package.rows_valid = len(members)
    _set_status(engine, row.id, "normalized", None, run_id, rows=len(members))
    return outcomes


def _take_member(engine: sa.Engine, store: RawStore, package, member: Member, *, run_id: str | None,
                 options: IngestOptions) -> FileOutcome:
    """Stream one member into the raw store and normalize it from there if its bytes are new."""
    with member.open() as data:
        child = capture_stream(engine, store, data, source=package.source, parent_id=package.id,
                               filename=f"{package.filename}{PACKAGE_MEMBER_SEPARATOR}{member.name}")
    if child.status != "received":
        return FileOutcome(raw_file_id=child.raw_file_id, filename=member.name, status="known")
    # Members are parsed as CSVs, never unpacked again: one level, one size budget.
    return normalize_raw_file(engine, store, child.raw_file_id, run_id=run_id,
                              max_invalid_fraction=options.max_invalid_fraction,
                              fallback_esiid=options.dev_fallback_esiid, tolerance=options.tolerance,
                              precedence=options.precedence, window=options.window, refused=options.refused)


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


def _record(engine: sa.Engine, source: str, entry: RemoteEntry, raw_file_id: int, claim: Claim | None) -> None:
    """The entry is taken; its claim ends in the same transaction, so another process sees one or the other."""
    with engine.begin() as conn:
        stmt = dialect_insert(conn, inbox_entry).values(
            source=source, path=entry.path, size_bytes=entry.size_bytes, mtime_ns=entry.mtime_ns,
            raw_file_id=raw_file_id, taken_at=dt.datetime.now(dt.timezone.utc))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source", "path", "size_bytes", "mtime_ns"],
            set_={"raw_file_id": stmt.excluded.raw_file_id}))
        if claim is not None:
            release_claim(conn, source, entry, claim)


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
