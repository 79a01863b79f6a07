"""usage_interval and daily_completeness partitioned by month (PostgreSQL; SQLite is left as it is).

usage_interval by RANGE (ts_utc), UTC months; daily_completeness by RANGE (local_date). Each table is
renamed aside, a partitioned parent with the same columns, checks, primary key name and secondary
indexes takes its name, monthly partitions (schema ``intelliwatt_partitions``, see ``cdm.partitions``)
cover every month from the earliest row through three months after the current one, a DEFAULT partition
takes anything else, the rows are copied and the old table dropped. The primary keys (which hold the
partition key) are built after the copy: one index build per partition instead of row-by-row upkeep.
Later months are added by ``cdm.partitions.ensure_month_partitions`` (the ``warehouse_partitions_job``).

Downgrade makes plain tables again, rows included.

Revision ID: 0012
Revises: 0011
"""
import datetime as dt

from alembic import op

from intelliwatt_pipelines.cdm.partitions import SCHEMA, TABLES, add_months, create_month, default_name, months

revision = "0012"
down_revision = "0011"

MONTHS_AHEAD = 3
# secondary indexes of the two tables (0007), made again on each new parent
INDEXES = {"usage_interval": [],
           "daily_completeness": [("ix_daily_completeness_gaps", "(local_date, esiid) WHERE status = 'gaps'")]}


def _key(spec) -> str:
    return f"esiid, meter, channel, {spec.column}"


def _set_aside(conn, table: str, suffix: str) -> str:
    """Rename ``table`` and its indexes so the names are free for the new one; returns the new name."""
    aside = f"{table}_{suffix}"
    conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {aside}")
    for index in [f"{table}_pkey"] + [name for name, _ in INDEXES[table]]:
        conn.exec_driver_sql(f"ALTER INDEX {index} RENAME TO {index}_{suffix}")
    return aside


def _keys_and_indexes(conn, spec) -> None:
    conn.exec_driver_sql(f"ALTER TABLE {spec.table} ADD CONSTRAINT {spec.table}_pkey PRIMARY KEY ({_key(spec)})")
    for name, definition in INDEXES[spec.table]:
        conn.exec_driver_sql(f"CREATE INDEX {name} ON {spec.table} {definition}")


def _data_months(conn, spec, old: str) -> tuple[dt.date | None, dt.date | None]:
    utc = f"{spec.column} AT TIME ZONE 'UTC'" if spec.timestamp else spec.column
    return conn.exec_driver_sql(f"SELECT min({utc})::date, max({utc})::date FROM {old}").one()


def _partition(conn, spec, this_month: dt.date) -> None:
    old = _set_aside(conn, spec.table, "unpartitioned")
    conn.exec_driver_sql(f"CREATE TABLE {spec.table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                         f"PARTITION BY RANGE ({spec.column})")
    first, last = _data_months(conn, spec, old)
    for month in months(min(first or this_month, this_month), max(last or this_month,
                                                                 add_months(this_month, MONTHS_AHEAD))):
        create_month(conn, spec, month, has_default=False)
    conn.exec_driver_sql(f'CREATE TABLE {SCHEMA}."{default_name(spec.table)}" PARTITION OF {spec.table} DEFAULT')
    conn.exec_driver_sql(f"INSERT INTO {spec.table} SELECT * FROM {old}")  # same column order (LIKE)
    conn.exec_driver_sql(f"DROP TABLE {old}")
    _keys_and_indexes(conn, spec)
    conn.exec_driver_sql(f"ANALYZE {spec.table}")


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    for spec in TABLES:
        _partition(conn, spec, this_month)


def downgrade():
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for spec in TABLES:
        old = _set_aside(conn, spec.table, "partitioned")
        conn.exec_driver_sql(f"CREATE TABLE {spec.table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        conn.exec_driver_sql(f"INSERT INTO {spec.table} SELECT * FROM {old}")
        conn.exec_driver_sql(f"DROP TABLE {old}")  # and its partitions
        _keys_and_indexes(conn, spec)
        conn.exec_driver_sql(f"ANALYZE {spec.table}")
    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA}")  # not CASCADE: only partitions were ever in it
