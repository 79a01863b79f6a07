"""Raw files: stored bytes get one ``raw_file`` row, whoever brought them (inbox, upload, CLI)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import raw_file

# A package member's raw_file name: the package's name, this, the member's name ("a.zip!b.csv").
PACKAGE_MEMBER_SEPARATOR = "!"


@dataclass(frozen=True)
class Captured:
    raw_file_id: int
    sha256: str
    status: str
    new: bool


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


def _find(conn: sa.Connection, sha: str):
    return conn.execute(sa.select(raw_file.c.id, raw_file.c.status).where(raw_file.c.sha256 == sha)).first()
