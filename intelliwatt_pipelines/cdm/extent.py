"""Where the data starts: the earliest Central day any stored raw file covers (usage or reads)."""

import datetime as dt

import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import billing_read_coverage, raw_file_coverage


def first_data_day(engine: sa.Engine) -> dt.date | None:
    """None when nothing is stored yet. Two index probes (migration 0007), whatever the size."""
    with engine.connect() as conn:
        firsts = [conn.scalar(sa.select(sa.func.min(t.c.first_local_date)))
                  for t in (raw_file_coverage, billing_read_coverage)]
    days = [d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for d in firsts if d is not None]
    return min(days) if days else None
