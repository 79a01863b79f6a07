"""Warehouse engines and migrations. SQLite for embedded use, PostgreSQL (psycopg 3) in production."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "intelliwatt_schema_version"  # also set in migrations/env.py


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the webserver read while a run writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, pre_ping: bool = True, autocommit: bool = False) -> sa.Engine:
    """``autocommit`` is for read-only use: no BEGIN/ROLLBACK round trips around each request.

    Every engine hides bound parameters from its errors: they hold ESIIDs, and errors reach logs,
    stderr and Dagster's event log (a connection cut mid-ingest fails the statement in flight)."""
    url = normalize_url(url)
    extra = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, hide_parameters=True, **extra)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=pre_ping, hide_parameters=True, **extra)


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    """One engine (and pool) per URL per process."""
    return create_engine(url)


def _alembic_config(connection: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


MIGRATION_LOCK = 0x1E57A7E  # pg_advisory_xact_lock key held while migrating


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration. Safe to call on every start."""
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
        if current == head:
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes starting together (a run, the API) must not migrate at the same time: the
            # second waits here, then finds the schema current and does nothing.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(_alembic_config(conn), "head")
