"""Uploads: bytes already spooled (hashed, fsynced) become a raw file, within a durable rate limit.

The ``upload`` table is both the record of who sent what and the log the limits count, so a restart
of the API resets nothing. The check and the insert happen in one transaction, serialized per
(role, account) so two concurrent uploads cannot both take the last slot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import os
import threading
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import raw_file, upload
from intelliwatt_pipelines.ingest.capture import Captured, register
from intelliwatt_pipelines.rawstore import RawStore
from intelliwatt_pipelines.sources.detect import detect_kind

UPLOAD_SOURCE = "upload"
_SQLITE_LOCK = threading.Lock()  # SQLite (one embedded API process) serializes in-process


class HintConflict(Exception):
    """Known bytes uploaded again with another ESIID/meter than the ones they are bound to."""


class RateLimited(Exception):
    def __init__(self, retry_after: int, limit: int, window_seconds: int):
        super().__init__(f"upload limit of {limit} per {window_seconds} s reached")
        self.retry_after, self.limit, self.window_seconds = retry_after, limit, window_seconds


@dataclass(frozen=True)
class UploadMeta:
    role: str
    account_key: str
    filename: str
    via: str
    esiid: str | None = None
    meter: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Accepted:
    upload_id: int
    captured: Captured
    size_bytes: int


def account_hash(account_key: str) -> str:
    """Account keys may be emails: only a salted hash is stored or compared. The salt is its own
    setting (changing the log salt must not reset every rate limit); set a secret one in production."""
    salt = os.environ.get("INTELLIWATT_ACCOUNT_SALT", "intelliwatt-accounts")
    return hashlib.sha256(f"{salt}:account:{account_key}".encode()).hexdigest()


def _retry_after(conn: sa.Connection, role: str, account: str, limit: tuple[int, int], now: dt.datetime) -> int | None:
    """Seconds until a slot frees up, or None when an upload may go ahead now."""
    count, window = limit
    since = now - dt.timedelta(seconds=window)
    u = upload.c
    recent = conn.execute(sa.select(u.received_at).where(u.role == role, u.account_hash == account,
                                                         u.received_at > since)
                          .order_by(u.received_at.desc()).limit(count)).scalars().all()
    if len(recent) < count:
        return None
    frees_at = recent[-1] + dt.timedelta(seconds=window)  # the oldest upload that still counts
    return max(1, math.ceil((frees_at - now).total_seconds()))


def check_quota(engine: sa.Engine, role: str, account_key: str, limit: tuple[int, int]) -> None:
    """Raise RateLimited if this account has no upload left now (a read-only early check)."""
    with engine.connect() as conn:
        wait = _retry_after(conn, role, account_hash(account_key), limit, dt.datetime.now(dt.timezone.utc))
    if wait is not None:
        raise RateLimited(wait, *limit)


def accept_upload(engine: sa.Engine, store: RawStore, spooled: tuple[str, str, int], head: bytes, meta: UploadMeta,
                  limit: tuple[int, int]) -> Accepted:
    """Take a slot, keep the spooled bytes in the raw store and register them, all or nothing.

    The temp file is consumed either way. Raises RateLimited (nothing kept) when no slot is left.
    """
    tmp, sha, size = spooled
    account = account_hash(meta.account_key)
    try:
        with _serialized(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                             {"k": f"upload:{meta.role}:{account}"})
            now = dt.datetime.now(dt.timezone.utc)
            wait = _retry_after(conn, meta.role, account, limit, now)
            if wait is not None:
                raise RateLimited(wait, *limit)
            _, _, uri = store.put_spooled(tmp, sha, size)
            captured = register(conn, sha=sha, size=size, uri=uri, filename=meta.filename, source=UPLOAD_SOURCE,
                                kind=detect_kind(head, meta.filename))
            binds = captured.new or _rebind(conn, captured, meta)
            if binds and not captured.new:
                captured = dataclasses.replace(captured, status="received")
            upload_id = conn.execute(upload.insert().values(
                raw_file_id=captured.raw_file_id, role=meta.role, account_hash=account, esiid=meta.esiid,
                meter=meta.meter, filename=meta.filename, size_bytes=size, via=meta.via, binds_hints=binds,
                received_at=now, correlation_id=meta.correlation_id).returning(upload.c.id)).scalar_one()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Accepted(upload_id, captured, size)


def _rebind(conn: sa.Connection, captured: Captured, meta: UploadMeta) -> bool:
    """Known bytes with an ESIID/meter given: a file that failed (no rows came from it) is bound to
    the new values and queued again; one whose rows exist, or are being written, keeps its binding,
    and different values are refused rather than silently ignored."""
    if not (meta.esiid or meta.meter):
        return False
    up = upload.c
    bound = conn.execute(sa.select(up.esiid, up.meter).where(up.raw_file_id == captured.raw_file_id,
                                                            up.binds_hints.is_(True))
                         .order_by(up.id.desc()).limit(1)).first()
    if bound is not None and (bound.esiid, bound.meter) == (meta.esiid, meta.meter):
        return False
    if captured.status != "failed":
        raise HintConflict(f"these bytes are already stored as raw file {captured.raw_file_id} ({captured.status}) "
                           "with another ESIID/meter binding; an admin can reprocess it")
    conn.execute(raw_file.update().where(raw_file.c.id == captured.raw_file_id)
                 .values(status="received", error=None))
    return True


def pending_uploads(engine: sa.Engine, limit: int = 10_000) -> list[tuple[int, int]]:
    """(raw_file id, size) of uploaded files not yet processed (status ``received``), oldest first.
    Processing sets another status, so a file stays pending exactly until a run has handled it."""
    r = raw_file.c
    uploaded = sa.select(upload.c.raw_file_id)  # also inbox files re-bound by an upload
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.id, r.size_bytes).where(
            r.id.in_(uploaded), r.status == "received", r.parent_id.is_(None)).order_by(r.id).limit(limit)).all()
    return [(row.id, row.size_bytes) for row in rows]


class _serialized:
    def __init__(self, engine: sa.Engine):
        self.lock = _SQLITE_LOCK if engine.dialect.name == "sqlite" else None

    def __enter__(self):
        if self.lock:
            self.lock.acquire()

    def __exit__(self, *exc):
        if self.lock:
            self.lock.release()
