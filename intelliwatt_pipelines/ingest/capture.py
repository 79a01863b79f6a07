"""Raw first: a file's exact bytes go to the raw store and get a ``raw_file`` row before parsing."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.store import dialect_insert
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.ingest.unpack import package_kind
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources import detect

# Bump on a change to how bytes are stored and registered: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
CAPTURE_VERSION = "1"

HEAD_BYTES = 4096


def detect_kind(head: bytes, filename: str = "") -> str:
    """The file kind: ``pgp_package``/``zip_package`` for a package (unpacking is ingest's job, so the
    parsers in ``sources`` never see one), else what ``sources.detect`` recognizes."""
    if package := package_kind(head, filename):
        return f"{package}_package"
    return detect.detect_kind(head, filename)


@dataclass(frozen=True)
class Captured:
    raw_file_id: int
    sha256: str
    status: str
    new: bool


class _Head:
    """Passes reads through and keeps the first bytes, to detect the kind without reading twice."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.head = stream, b""

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        return chunk


def capture_stream(engine: sa.Engine, store: RawStore, stream: BinaryIO, *, filename: str, source: str,
                   parent_id: int | None = None, on_chunk=None) -> Captured:
    """Store the bytes (hashing while streaming) and register them once.

    If the stream breaks off, nothing is stored or registered. The same bytes again return the
    existing row.
    """
    head = _Head(stream)
    sha, size, uri = store.put_stream(head, on_chunk=on_chunk) if on_chunk else store.put_stream(head)
    with engine.begin() as conn:
        return register(conn, sha=sha, size=size, uri=uri, filename=filename, source=source,
                        kind=detect_kind(head.head, filename), parent_id=parent_id)


def register(conn: sa.Connection, *, sha: str, size: int, uri: str, filename: str, source: str, kind: str,
             parent_id: int | None = None) -> Captured:
    """Give stored bytes their raw_file row, in the caller's transaction. The same bytes again
    (identical content, nothing new to record) return the existing row."""
    existing = _find(conn, sha)
    if existing:
        return Captured(existing.id, sha, existing.status, new=False)
    new_id = conn.execute(dialect_insert(conn, raw_file).values(
        sha256=sha, filename=filename, source=source, kind=kind, size_bytes=size, storage_uri=uri,
        received_at=dt.datetime.now(dt.timezone.utc), status="received", parent_id=parent_id,
    ).on_conflict_do_nothing(index_elements=["sha256"]).returning(raw_file.c.id)).scalar()
    if new_id is None:  # another transaction registered the same bytes a moment ago: theirs is the row
        existing = _find(conn, sha)
        return Captured(existing.id, sha, existing.status, new=False)
    return Captured(new_id, sha, "received", new=True)


def capture_file(engine: sa.Engine, store: RawStore, path: Path, *, source: str,
                 filename: str | None = None) -> Captured:
    with open(path, "rb") as fh:
        return capture_stream(engine, store, fh, filename=filename or path.name, source=source)


def capture_bytes(engine: sa.Engine, store: RawStore, data: bytes, *, filename: str, source: str,
                  parent_id: int | None = None) -> Captured:
    return capture_stream(engine, store, io.BytesIO(data), filename=filename, source=source, parent_id=parent_id)


def _find(conn: sa.Connection, sha: str):
    return conn.execute(sa.select(raw_file.c.id, raw_file.c.status).where(raw_file.c.sha256 == sha)).first()
