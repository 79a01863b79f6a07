"""Per-home write locks: runs that write the same home at once (overlapping deliveries on two
workers, a rebuild beside an ingest) take turns on that home, so completeness and reconciliation
are always computed from every committed interval, never from a half-seen set. Homes are locked in
ascending order; a transaction that locks more homes later (a streamed file's next chunk) can still
meet another in a deadlock, which PostgreSQL breaks by failing one: ``retry_on_deadlock`` runs that
one again from the start."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import psycopg
import sqlalchemy as sa

T = TypeVar("T")
HOME_LOCK_SPACE = "intelliwatt/home:"  # prefix of the lock keys: apart from other advisory locks' keys
ATTEMPTS = 5

# Volatile functions in the target list run after ORDER BY: the locks are taken in key order.
LOCK_HOMES = sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:space || k, 0)) "
                     "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k")


def lock_homes(conn: sa.Connection, esiids: Iterable[str]) -> None:
    """Hold these homes until the transaction ends (PostgreSQL; SQLite has one writer at a time)."""
    keys = sorted({str(e) for e in esiids})
    if keys and conn.dialect.name == "postgresql":
        conn.execute(LOCK_HOMES, {"space": HOME_LOCK_SPACE, "keys": keys})


def is_deadlock(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure)


def retry_on_deadlock(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` (one whole transaction) again when PostgreSQL chose it as a deadlock's victim:
    it was rolled back, so running it again is what the other side's commit leaves to do."""
    @functools.wraps(fn)
    def run(*args, **kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except (sa.exc.OperationalError, sa.exc.DBAPIError, psycopg.Error) as exc:
                if attempt == ATTEMPTS or not is_deadlock(exc):
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")
    return run
