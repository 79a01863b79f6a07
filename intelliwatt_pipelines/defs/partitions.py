"""Partitions: local days in the market's time zone (America/Chicago for Texas). A home is not a partition: ESIIDs are run config.

The partition count is the number of days whatever the number of homes, and its definition never
changes when a home arrives (only its start, when data older than it arrives and the code location
reloads), so Dagster's status cache stays valid (a dynamic ESIID dimension hashed
every key into the definition id and rebuilt the status from the whole event log for each new home).
"""

import datetime as dt
import logging

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm.extent import first_data_day
from intelliwatt_pipelines.cdm.warehouse import create_engine
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.samples import SAMPLE_FIRST_DAY

# The dynamic ESIID partitions of earlier releases, deleted from the instance by `intelliwatt migrate`.
LEGACY_ESIID_PARTITIONS = "esiid"


def day_partitions(start_date: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1 so today's (partial) day already has a partition.
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone=markets.local_tz(), end_offset=1)


def partition_start(settings: Settings) -> str:
    """INTELLIWATT_PARTITION_START, else the first of the month of the earliest day with raw data,
    else (nothing stored yet) the month the generated sample starts. Read when the code location
    loads, so the axis opens where the data is rather than on years of empty days."""
    if settings.partition_start:
        return settings.partition_start
    engine = create_engine(settings.warehouse_url)
    try:
        first = first_data_day(engine)
    except sa.exc.SQLAlchemyError as exc:  # no warehouse yet (not migrated, or unreachable)
        logging.getLogger(__name__).info("partition start: warehouse not readable (%s); starting at the sample",
                                            type(exc).__name__)
        first = None
    finally:
        engine.dispose()
    return str((first or SAMPLE_FIRST_DAY).replace(day=1))


def day_range(keys) -> tuple[dt.date, dt.date]:
    """(first, last) local day of a run's partition keys."""
    days = sorted(dt.date.fromisoformat(k) for k in keys)
    return days[0], days[-1]


def drop_legacy_partitions(instance: dg.DagsterInstance) -> int:
    """Delete the old per-ESIID dynamic partitions (their materializations stay in history)."""
    keys = instance.get_dynamic_partitions(LEGACY_ESIID_PARTITIONS)
    for key in keys:
        instance.delete_dynamic_partition(LEGACY_ESIID_PARTITIONS, key)
    return len(keys)
