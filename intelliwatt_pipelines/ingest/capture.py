"""Raw first: a file's exact bytes go to the raw store and get a ``raw_file`` row before parsing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.sources.detect import detect_kind


@dataclass(frozen=True)
class Captured:
    raw_file_id: int
    sha256: str
    status: str
    new: bool


def capture_file(engine: sa.Engine, store: LocalRawStore, path: Path, *, source: str,
                 filename: str | None = None) -> Captured:
    """Store the bytes and register them once. The same bytes again return the existing row."""
    sha, size, uri = store.put_file(path)
    existing = _find(engine, sha)
    if existing:
        return Captured(existing.id, sha, existing.status, new=False)
    with open(path, "rb") as fh:
        kind = detect_kind(fh.read(4096))
    try:
        with engine.begin() as conn:
            new_id = conn.execute(raw_file.insert().values(
                sha256=sha, filename=filename or path.name, source=source, kind=kind, size_bytes=size,
                storage_uri=uri, received_at=dt.datetime.now(dt.timezone.utc), status="received",
            ).returning(raw_file.c.id)).scalar_one()
        return Captured(new_id, sha, "received", new=True)
    except sa.exc.IntegrityError:
        # Another run registered the same bytes a moment ago: theirs is the row.
        existing = _find(engine, sha)
        return Captured(existing.id, sha, existing.status, new=False)


def _find(engine: sa.Engine, sha: str):
    with engine.connect() as conn:
        return conn.execute(sa.select(raw_file.c.id, raw_file.c.status).where(raw_file.c.sha256 == sha)).first()
