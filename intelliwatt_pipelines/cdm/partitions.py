"""Monthly partitions of ``usage_interval`` (by ``ts_utc``, UTC months) and ``daily_completeness`` (by
``local_date``), PostgreSQL only (migration 0012); on SQLite every function here does nothing.

Partitions live in their own schema, ``intelliwatt_partitions``, named ``<table>_pYYYY_MM`` plus one
``<table>_default`` (the DEFAULT partition: rows of a month that has no partition yet land there, never
lost). Keeping them out of the default schema keeps the warehouse's tables exactly the declared ones
(``cdm.tables``), for alembic's schema comparison and for anyone listing tables.

A month is always made as a plain table that is then ATTACHed: ATTACH takes only a SHARE UPDATE
EXCLUSIVE lock on the parent, so reads and writes go on while a month is added (CREATE ... PARTITION OF
would lock the parent ACCESS EXCLUSIVE), and rows the DEFAULT partition already holds for that month are
moved into the new table first, in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import metadata

SCHEMA = "intelliwatt_partitions"
PARTITION_LOCK = 0x1E57A7F  # pg_advisory_xact_lock key held while partitions change (migrations: 0x1E57A7E)
LOCK_TIMEOUT = "30s"  # wait this long for the parent's lock, then fail (the next daily run tries again)


@dataclasses.dataclass(frozen=True)
class Partitioned:
    table: str
    column: str  # the partition key
    timestamp: bool  # timestamptz split at UTC midnights, else a date


TABLES = (Partitioned("usage_interval", "ts_utc", True), Partitioned("daily_completeness", "local_date", False))


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def months(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first days of the months from ``first``'s to ``last``'s, both included."""
    out, month = [], month_start(first)
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y_%m}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _bound(spec: Partitioned, month: dt.date) -> str:
    # an explicit +00 offset: the bound is a UTC instant whatever the session's TimeZone
    return f"'{month.isoformat()} 00:00:00+00'" if spec.timestamp else f"'{month.isoformat()}'"


def _range(spec: Partitioned, month: dt.date) -> str:
    return f"FROM ({_bound(spec, month)}) TO ({_bound(spec, add_months(month, 1))})"


def _lock(conn: sa.Connection) -> None:
    """One process at a time changes partitions; the lock is released when the transaction ends."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_LOCK})
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _children(conn: sa.Connection, table: str) -> list[sa.Row]:
    """(name, bound, reltuples) of the partitions of ``table`` in the current schema."""
    return conn.execute(sa.text(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound, c.reltuples AS reltuples "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(CAST(:table AS text)) ORDER BY c.relname"), {"table": table}).all()


def _month_of(table: str, name: str) -> dt.date | None:
    found = re.fullmatch(rf"{re.escape(table)}_p(\d{{4}})_(\d{{2}})", name)
    return dt.date(int(found[1]), int(found[2]), 1) if found else None


def _is_partitioned(conn: sa.Connection, table: str) -> bool:
    kind = conn.execute(sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(CAST(:t AS text))"),
                        {"t": table}).scalar()
    return kind == "p"


def create_month(conn: sa.Connection, spec: Partitioned, month: dt.date, *, has_default: bool) -> str:
    """Add ``month``'s partition of ``spec.table``, moving in the rows the DEFAULT partition holds for it
    (ATTACH would refuse while they are there). Call it inside a transaction, under ``_lock``."""
    name, parent = partition_name(spec.table, month), spec.table
    qualified = f'{SCHEMA}."{name}"'
    conn.exec_driver_sql(f"CREATE TABLE {qualified} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    if has_default:
        columns = ", ".join(c.name for c in metadata.tables[parent].columns)
        lo, hi = _bound(spec, month), _bound(spec, add_months(month, 1))
        conn.exec_driver_sql(
            f'WITH moved AS (DELETE FROM {SCHEMA}."{default_name(parent)}" WHERE {spec.column} >= {lo} '
            f"AND {spec.column} < {hi} RETURNING {columns}) "
            f"INSERT INTO {qualified} ({columns}) SELECT {columns} FROM moved")
    # ATTACH builds the parent's indexes (primary key, ix_daily_completeness_gaps) on the new table
    conn.exec_driver_sql(f"ALTER TABLE {parent} ATTACH PARTITION {qualified} FOR VALUES {_range(spec, month)}")
    return name


def _earliest_default_month(conn: sa.Connection, spec: Partitioned) -> dt.date | None:
    utc = f"{spec.column} AT TIME ZONE 'UTC'" if spec.timestamp else spec.column
    first = conn.exec_driver_sql(f'SELECT min({utc})::date FROM {SCHEMA}."{default_name(spec.table)}"').scalar()
    return month_start(first) if first else None


def _ensure_table(conn: sa.Connection, spec: Partitioned, last: dt.date, since: dt.date | None) -> list[str]:
    if not _is_partitioned(conn, spec.table):
        raise RuntimeError(f"{spec.table} is not partitioned: migrate the warehouse first")
    names = [row.name for row in _children(conn, spec.table)]
    have = {m for m in (_month_of(spec.table, n) for n in names) if m}
    has_default = default_name(spec.table) in names
    earliest = [m for m in (min(have, default=None), since,
                            _earliest_default_month(conn, spec) if has_default else None) if m]
    first = min(earliest, default=last)
    return [create_month(conn, spec, m, has_default=has_default) for m in months(first, last) if m not in have]


def ensure_month_partitions(engine: sa.Engine, through: dt.date, *, since: dt.date | None = None) -> list[str]:
    """Create every missing monthly partition of both tables from the earliest one there is (or the month
    of ``since``, or of the earliest row in the DEFAULT partition, if earlier) through the month of
    ``through``; rows the DEFAULT partition holds for a month created here move into it. Returns the new
    partitions' names (empty when nothing was missing). Idempotent, and safe to call from two processes at
    once (an advisory lock: the second waits, then finds the months there). Nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    since = month_start(since) if since else None
    with engine.begin() as conn:
        _lock(conn)
        return [name for spec in TABLES for name in _ensure_table(conn, spec, month_start(through), since)]


def month_partitions(engine: sa.Engine) -> list[dict]:
    """Every partition of both tables, for reporting: table, name, month (None for DEFAULT), range (as
    PostgreSQL states it) and approx_rows (the planner's estimate; None before the first ANALYZE)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        return [{"table": spec.table, "name": row.name, "month": _month_of(spec.table, row.name),
                 "range": row.bound, "approx_rows": int(row.reltuples) if row.reltuples >= 0 else None}
                for spec in TABLES for row in _children(conn, spec.table)]


def drop_months_before(engine: sa.Engine, before: dt.date) -> list[str]:
    """Retention: detach and drop the monthly partitions of both tables whose whole month is before
    ``before`` (2025-03-15 drops February 2025 and earlier, keeps March). The DEFAULT partition is never
    touched. Returns the dropped partitions' names. Nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    dropped = []
    with engine.begin() as conn:
        _lock(conn)
        for spec in TABLES:
            for row in _children(conn, spec.table):
                month = _month_of(spec.table, row.name)
                if month is None or add_months(month, 1) > before:
                    continue
                conn.exec_driver_sql(f'ALTER TABLE {spec.table} DETACH PARTITION {SCHEMA}."{row.name}"')
                conn.exec_driver_sql(f'DROP TABLE {SCHEMA}."{row.name}"')
                dropped.append(row.name)
    return dropped
