"""Raw first: a file's exact bytes go to the raw store and get a ``raw_file`` row before parsing
(``cdm.raw_files.register``, which the API's uploads use too)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.raw_files import Captured, register
from intelliwatt_pipelines.kinds import HEAD_BYTES, detect_kind
from intelliwatt_pipelines.rawstore import RawStore

# Bump on a change to how bytes are stored and registered: the assets built with it show
# "Unsynced" (code version) in the Dagster UI until their days are rebuilt (defs/versions.py).
CAPTURE_VERSION = "1"


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


def capture_file(engine: sa.Engine, store: RawStore, path: Path, *, source: str,
                 filename: str | None = None) -> Captured:
    with open(path, "rb") as fh:
        return capture_stream(engine, store, fh, filename=filename or path.name, source=source)


def capture_bytes(engine: sa.Engine, store: RawStore, data: bytes, *, filename: str, source: str,
                  parent_id: int | None = None) -> Captured:
    return capture_stream(engine, store, io.BytesIO(data), filename=filename, source=source, parent_id=parent_id)
