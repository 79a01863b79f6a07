"""The inbox: which files are there, which are new, and taking them in.

Listing is cheap (a directory scan and one query), so the sensor can do it every tick; capture and
parsing happen in runs. An entry is a file's (path, size, mtime): a file rewritten in place is a new
entry, and its bytes are deduplicated by sha256 anyway.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.store import dialect_insert
from intelliwatt_pipelines.cdm.tables import inbox_entry
from intelliwatt_pipelines.ingest.capture import capture_file
from intelliwatt_pipelines.ingest.normalize import FileOutcome, normalize_raw_file
from intelliwatt_pipelines.rawstore import LocalRawStore


@dataclass(frozen=True)
class InboxEntry:
    path: str
    size_bytes: int
    mtime_ns: int

    @property
    def key(self) -> str:
        return f"{self.path}|{self.size_bytes}|{self.mtime_ns}"


def list_inbox(root: Path, *, min_age_seconds: float = 0.0, now: float | None = None) -> list[InboxEntry]:
    """Files under ``root`` old enough not to be still written, oldest first. Hidden files are skipped."""
    now = time.time() if now is None else now
    entries = []
    if not root.is_dir():
        return entries
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or name.endswith(".meta.json"):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime >= min_age_seconds:
                entries.append(InboxEntry(str(path.resolve()), st.st_size, st.st_mtime_ns))
    return sorted(entries, key=lambda e: (e.mtime_ns, e.path))


def known_keys(engine: sa.Engine, source: str) -> set[str]:
    t = inbox_entry.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.path, t.size_bytes, t.mtime_ns).where(t.source == source)).all()
    return {InboxEntry(*r).key for r in rows}


def new_entries(engine: sa.Engine, source: str, listing: list[InboxEntry]) -> list[InboxEntry]:
    known = known_keys(engine, source)
    return [e for e in listing if e.key not in known]


def take_entry(engine: sa.Engine, store: LocalRawStore, source: str, entry: InboxEntry, *,
               run_id: str | None = None, max_invalid_fraction: float = 0.0) -> FileOutcome:
    """Capture one inbox file and normalize it if its bytes are new. Records the entry as taken."""
    path = Path(entry.path)
    if not path.is_file():
        return FileOutcome(raw_file_id=0, filename=path.name, status="missing",
                           error="file disappeared from the inbox before it was taken")
    captured = capture_file(engine, store, path, source=source)
    if captured.status == "received":  # new bytes, or a capture whose normalization never finished
        outcome = normalize_raw_file(engine, store, captured.raw_file_id, run_id=run_id,
                                     max_invalid_fraction=max_invalid_fraction)
    else:
        outcome = FileOutcome(raw_file_id=captured.raw_file_id, filename=path.name, status="known")
    _record(engine, source, entry, captured.raw_file_id)
    return outcome


def _record(engine: sa.Engine, source: str, entry: InboxEntry, raw_file_id: int) -> None:
    with engine.begin() as conn:
        stmt = dialect_insert(conn, inbox_entry).values(
            source=source, path=entry.path, size_bytes=entry.size_bytes, mtime_ns=entry.mtime_ns,
            raw_file_id=raw_file_id, taken_at=dt.datetime.now(dt.timezone.utc))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source", "path", "size_bytes", "mtime_ns"],
            set_={"raw_file_id": stmt.excluded.raw_file_id}))
