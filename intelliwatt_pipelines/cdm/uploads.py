"""Uploads: bytes already spooled (hashed, fsynced) become a raw file, within durable rate limits.

The ``upload`` table (with ``upload_esiid``) is both the record of who sent what and the log the
limits count, so a restart of the API resets nothing. The limits are keyed on what the caller cannot
choose freely: the API key it authenticated with, the account key normalized (so case, width and
invisible characters give no fresh quota) and the ESIIDs the file concerns. The check and the insert
happen in one transaction, serialized per limit key, so two concurrent uploads cannot both take the
last slot of any limit.

A repeat (the same bytes from the same API key for the same account, with the same ESIID/meter
given) is answered with the first such upload: no new row, so it takes no slot of any limit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import os
import threading
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.raw_files import Captured, register
from intelliwatt_pipelines.cdm.tables import raw_file, upload, upload_esiid
from intelliwatt_pipelines.cdm.upload_esiids import concerned_esiids, given_esiids
from intelliwatt_pipelines.config import current
from intelliwatt_pipelines.kinds import detect_kind
from intelliwatt_pipelines.rawstore import RawStore

UPLOAD_SOURCE = "upload"
_SQLITE_LOCK = threading.Lock()  # SQLite (one embedded API process) serializes in-process


class HintConflict(Exception):
    """Known bytes uploaded again with another ESIID/meter than the ones they are bound to."""


class RateLimited(Exception):
    """No slot left in one or more limits; the message names them (never an ESIID or account key)."""

    def __init__(self, retry_after: int, hit: list[tuple[str, tuple[int, int]]]):
        said = "; ".join(f"{name}: {count} per {window} s" for name, (count, window) in hit)
        super().__init__(f"upload limit reached ({said})")
        self.retry_after, self.hit = retry_after, hit


@dataclass(frozen=True)
class UploadLimits:
    """(count, window seconds) of each limit, from settings."""
    admin: tuple[int, int]
    customer: tuple[int, int]
    customer_esiid: tuple[int, int]
    key: tuple[int, int]

    @classmethod
    def from_settings(cls, settings) -> UploadLimits:
        return cls(admin=settings.rate_limit_admin, customer=settings.rate_limit_customer,
                   customer_esiid=settings.rate_limit_customer_esiid, key=settings.rate_limit_key)


@dataclass(frozen=True)
class UploadMeta:
    role: str
    account_key: str
    filename: str
    via: str
    esiid: str | None = None
    meter: str | None = None
    correlation_id: str | None = None
    key_hash: str | None = None  # of the API key presented; None when the admin token authenticated


@dataclass(frozen=True)
class Accepted:
    upload_id: int
    captured: Captured
    size_bytes: int
    repeat: bool = False  # upload_id is this key's earlier upload of the same request; nothing was recorded


def normalize_account_key(account_key: str) -> str:
    """One account however it is typed: NFKC (fullwidth, ligatures), case-folded, format characters
    (zero-width space/joiners, BOM, word joiner: category Cf) removed, surrounding whitespace stripped."""
    folded = unicodedata.normalize("NFKC", account_key).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf").strip()


def _salted(kind: str, value: str) -> str:
    """Account and API keys are only stored or compared as salted hashes. The salt is its own setting
    (changing the log salt must not reset every rate limit); set a secret one in production."""
    salt = current("account_salt")
    return hashlib.sha256(f"{salt}:{kind}:{value}".encode()).hexdigest()


def account_hash(account_key: str) -> str:
    return _salted("account", normalize_account_key(account_key))


def key_hash(api_key: str) -> str:
    return _salted("api-key", api_key)


@dataclass(frozen=True)
class _Rule:
    """One limit as it applies to an upload: what it counts and the key it is serialized on."""
    name: str
    lock: str
    limit: tuple[int, int]
    at: sa.Column
    where: tuple

    def recent(self, since: dt.datetime) -> sa.Select:
        query = sa.select(self.at).where(*self.where, self.at > since)
        if self.at.table is upload_esiid:
            query = query.join(upload, upload.c.id == upload_esiid.c.upload_id)
        return query.order_by(self.at.desc())


def _rules(meta: UploadMeta, esiids: list[str], limits: UploadLimits) -> list[_Rule]:
    u, account = upload.c, account_hash(meta.account_key)
    if meta.role == "admin":
        return [_Rule("per account (admin)", f"admin:{account}", limits.admin, u.received_at,
                      (u.role == "admin", u.account_hash == account))]
    key = meta.key_hash
    same_key = u.key_hash.is_(None) if key is None else u.key_hash == key
    rules = [_Rule("per API key and account", f"customer:{key}:{account}", limits.customer, u.received_at,
                   (u.role == "customer", same_key, u.account_hash == account))]
    rules += [_Rule("per ESIID the file concerns", f"esiid:{esiid}", limits.customer_esiid,
                    upload_esiid.c.received_at, (upload_esiid.c.esiid == esiid, u.role == "customer"))
              for esiid in esiids]
    if key is not None:  # the admin token has no ceiling of its own
        rules.append(_Rule("per API key", f"key:{key}", limits.key, u.received_at, (u.key_hash == key,)))
    return rules


def _retry_after(conn: sa.Connection, rule: _Rule, now: dt.datetime) -> int | None:
    """Seconds until the rule has a slot again, or None when it has one now."""
    count, window = rule.limit
    recent = conn.execute(rule.recent(now - dt.timedelta(seconds=window)).limit(count)).scalars().all()
    if len(recent) < count:
        return None
    frees_at = recent[-1] + dt.timedelta(seconds=window)  # the oldest upload that still counts
    return max(1, math.ceil((frees_at - now).total_seconds()))


def _enforce(conn: sa.Connection, rules: list[_Rule], now: dt.datetime) -> None:
    """Raise RateLimited naming every limit without a slot; Retry-After is when all have one."""
    waits = [(rule, wait) for rule in rules if (wait := _retry_after(conn, rule, now)) is not None]
    if waits:
        raise RateLimited(max(wait for _, wait in waits), [(rule.name, rule.limit) for rule, _ in waits])


def _lock(conn: sa.Connection, rules: list[_Rule]) -> None:
    """PostgreSQL: a transaction advisory lock per limit key, in ascending lock-id order, so uploads
    sharing any limit key take their turns and two sharing several cannot deadlock."""
    if conn.dialect.name != "postgresql":
        return  # SQLite: _serialized holds the process-wide lock
    ids = sorted({int.from_bytes(hashlib.sha256(f"upload:{r.lock}".encode()).digest()[:8], "big", signed=True)
                  for r in rules})
    for lock_id in ids:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(CAST(:k AS bigint))"), {"k": lock_id})


def check_quota(engine: sa.Engine, meta: UploadMeta, limits: UploadLimits, sha256: str | None = None) -> None:
    """Raise RateLimited if an upload like this has no slot left now (a read-only early check, before
    the file's bytes are in: only the ESIIDs given or in the file name count here). What may be a
    repeat passes (a repeat takes no slot): the declared ``sha256``, else the file name, of an earlier
    upload; accept_upload decides on the bytes once they are in."""
    with engine.connect() as conn:
        try:
            _enforce(conn, _rules(meta, sorted(given_esiids(meta)), limits), dt.datetime.now(dt.timezone.utc))
        except RateLimited:
            if _earlier(conn, meta, sha256) is None:
                raise


def _earlier(conn: sa.Connection, meta: UploadMeta, sha: str | None):
    """The first upload with the same API key, account and ESIID/meter given, of these bytes (or,
    ``sha`` None, under the same file name: one it may repeat), or None. Only customer uploads with an
    API key repeat: the admin token is no one caller's identity, and an admin sending known bytes
    again means it (each is recorded, as before)."""
    if meta.key_hash is None or meta.role != "customer":
        return None
    u, r = upload.c, raw_file.c

    def same(column, value):
        return column.is_(None) if value is None else column == value

    return conn.execute(
        sa.select(u.id, u.size_bytes, r.id.label("raw_file_id"), r.status)
        .join(raw_file, r.id == u.raw_file_id)
        .where(r.sha256 == sha if sha else u.filename == meta.filename, u.key_hash == meta.key_hash,
               u.role == "customer", u.account_hash == account_hash(meta.account_key), same(u.esiid, meta.esiid),
               same(u.meter, meta.meter))
        .order_by(u.id).limit(1)).first()


def accept_upload(engine: sa.Engine, store: RawStore, spooled: tuple[str, str, int], head: bytes, meta: UploadMeta,
                  limits: UploadLimits) -> Accepted:
    """Take a slot of every limit, keep the spooled bytes in the raw store and register them, all or nothing.

    The temp file is consumed either way. Raises RateLimited (nothing kept) when a limit has no slot left.
    A repeat returns the earlier upload (``repeat=True``) whatever the limits say.
    """
    tmp, sha, size = spooled
    try:
        kind = detect_kind(head, meta.filename)
        esiids = concerned_esiids(tmp, kind, meta)  # before the locks: reading is the slow part
        rules = _rules(meta, esiids, limits)
        with _serialized(engine), engine.begin() as conn:
            _lock(conn, rules)  # a repeat racing its original waits for it here (same key and account)
            if (earlier := _earlier(conn, meta, sha)) is not None:  # before the limits: a repeat takes no slot
                return Accepted(earlier.id, Captured(earlier.raw_file_id, sha, earlier.status, new=False),
                                earlier.size_bytes, repeat=True)
            now = dt.datetime.now(dt.timezone.utc)
            _enforce(conn, rules, now)
            _, _, uri = store.put_spooled(tmp, sha, size)
            captured = register(conn, sha=sha, size=size, uri=uri, filename=meta.filename, source=UPLOAD_SOURCE,
                                kind=kind)
            binds = captured.new or _rebind(conn, captured, meta)
            if binds and not captured.new:
                captured = dataclasses.replace(captured, status="received")
            upload_id = conn.execute(upload.insert().values(
                raw_file_id=captured.raw_file_id, role=meta.role, account_hash=account_hash(meta.account_key),
                key_hash=meta.key_hash, esiid=meta.esiid, meter=meta.meter, filename=meta.filename, size_bytes=size,
                via=meta.via, binds_hints=binds, received_at=now, correlation_id=meta.correlation_id)
                .returning(upload.c.id)).scalar_one()
            if esiids:
                conn.execute(upload_esiid.insert(), [{"upload_id": upload_id, "esiid": e, "received_at": now}
                                                     for e in esiids])
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


class _serialized:
    """SQLite: every upload's check and insert under one process-wide lock, whatever limits it shares."""

    def __init__(self, engine: sa.Engine):
        self.lock = _SQLITE_LOCK if engine.dialect.name == "sqlite" else None

    def __enter__(self):
        if self.lock:
            self.lock.acquire()

    def __exit__(self, *exc):
        if self.lock:
            self.lock.release()
