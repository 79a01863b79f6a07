"""What runs wrote, read back from the warehouse: the outcome of an inbox entry or a raw file, the
homes and days the normalized raw files cover. The command line reports from these (the Dagster
definitions and the commands only wire; the queries live here, next to the tables)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import billing_read_coverage, inbox_entry, raw_file, raw_file_coverage

COVERAGE_TABLES = (raw_file_coverage, billing_read_coverage)  # intervals, billing reads


def entry_outcome(conn: sa.Connection, source: str, entry):
    """The raw file an inbox entry (path, size, mtime) became: id, filename, status, rows, error; or None."""
    e, r = inbox_entry.c, raw_file.c
    return conn.execute(sa.select(r.id, r.filename, r.status, r.rows_valid, r.rows_invalid, r.error)
                        .join(inbox_entry, e.raw_file_id == r.id)
                        .where(e.source == source, e.path == entry.path, e.size_bytes == entry.size_bytes,
                               e.mtime_ns == entry.mtime_ns)).first()


def known_raw_files(engine: sa.Engine, ids: list[int]) -> set[int]:
    """Those of these raw_file ids the warehouse holds."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(raw_file.c.id).where(raw_file.c.id.in_(ids))).scalars())


def raw_file_outcomes(engine: sa.Engine, ids: list[int]) -> list:
    """id, filename, status, rows_valid and error of these raw files, by id."""
    r = raw_file.c
    with engine.connect() as conn:
        return conn.execute(sa.select(r.id, r.filename, r.status, r.rows_valid, r.error).where(r.id.in_(ids))
                            .order_by(r.id)).all()


def homes_written(engine: sa.Engine, *, run_ids: list[str] = (), raw_file_ids: list[int] = ()) -> int:
    """Homes the raw files written by these runs (or these raw files, members of packages included) hold."""
    if not run_ids and not raw_file_ids:
        return 0
    r = raw_file.c
    which = sa.or_(r.run_id.in_(run_ids), r.id.in_(raw_file_ids), r.parent_id.in_(raw_file_ids))
    homes = sa.union(*(sa.select(cov.c.esiid).join(raw_file, cov.c.raw_file_id == r.id).where(which)
                       for cov in COVERAGE_TABLES)).subquery()
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(homes)).scalar_one()


def coverage_on(engine: sa.Engine, start: dt.date, end: dt.date, esiids: list[str] | None = None) -> list[list]:
    """[interval coverage, billing coverage] of normalized raw files on [start, end]: rows of
    (esiid, first_local_date, last_local_date), for these homes or all."""
    out = []
    with engine.connect() as conn:
        for table in COVERAGE_TABLES:
            cov = table.c
            query = (sa.select(cov.esiid, cov.first_local_date, cov.last_local_date).distinct()
                     .join(raw_file, cov.raw_file_id == raw_file.c.id)
                     .where(cov.first_local_date <= end, cov.last_local_date >= start,
                            raw_file.c.status == "normalized"))
            out.append(conn.execute(query.where(cov.esiid.in_(esiids)) if esiids else query).all())
    return out
