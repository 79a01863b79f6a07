"""Requests per vendor organization and UTC day (``vendor_request_count``): a daily request budget read before
a run and added to after it, so it holds over every run of the day. Runs of one vendor are queued one at a
time (deploy/celery, deploy/k8s), and the count is added (never set), so a run that overlaps another still
only ever adds its own requests."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.merge import dialect_insert
from intelliwatt_pipelines.cdm.tables import vendor_request_count


def used_on(engine: sa.Engine, vendor: str, day: dt.date) -> dict[tuple[str, str], int]:
    """(organization, ISO day) -> requests already made on ``day``."""
    c = vendor_request_count.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.organization, c.requests).where(c.vendor == vendor, c.utc_day == day)).all()
    return {(org, day.isoformat()): n for org, n in rows}


def add_requests(engine: sa.Engine, vendor: str, made: dict[tuple[str, str], int]) -> None:
    """Add ``made`` ((organization, ISO day) -> requests) to the stored counts."""
    with engine.begin() as conn:
        for (org, day), n in made.items():
            if n <= 0:
                continue
            stmt = dialect_insert(conn, vendor_request_count).values(
                vendor=vendor, organization=org, utc_day=dt.date.fromisoformat(day), requests=n)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["vendor", "organization", "utc_day"],
                set_={"requests": vendor_request_count.c.requests + stmt.excluded.requests}))
