"""Monthly partitions of usage_interval and daily_completeness in Dagster (PostgreSQL; see
``cdm.partitions``): the job ``warehouse_partitions_job`` and its daily ``warehouse_partitions_schedule``.

Each run creates the partitions of every month through the current UTC month plus
``partition_months_ahead`` (``INTELLIWATT_PARTITION_MONTHS_AHEAD``, default 3) that are missing, moving in
any rows the DEFAULT partition already holds for them, so months exist well before their first row.
Retention: only when ``usage_retention_months`` (``INTELLIWATT_USAGE_RETENTION_MONTHS``) is above 0,
the same run then drops (detach + drop) every whole month before the current UTC month minus that many
months, in both tables: with 24 on 2026-12-03 it keeps 2024-12 onwards and drops 2024-11 and earlier.
Dropped rows are gone from the warehouse (the raw files stay). The DEFAULT partition is never dropped.
On SQLite the run does nothing. Calls no vendor, so the schedule starts RUNNING.
"""

import datetime as dt

import dagster as dg

from intelliwatt_pipelines.cdm import partitions
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import WarehouseResource

PARTITIONS_JOB = "warehouse_partitions_job"
SCHEDULE = "warehouse_partitions_schedule"


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def horizon(today: dt.date, months_ahead: int) -> dt.date:
    """The last month to have partitions: ``months_ahead`` months after ``today``'s."""
    return partitions.add_months(partitions.month_start(today), months_ahead)


def retention_cutoff(today: dt.date, retention_months: int) -> dt.date | None:
    """Months wholly before this day are dropped; None keeps everything (``retention_months`` 0)."""
    if retention_months <= 0:
        return None
    return partitions.add_months(partitions.month_start(today), -retention_months)


def build_partitions_job(settings: Settings) -> dg.JobDefinition:
    months_ahead, retention = settings.partition_months_ahead, settings.usage_retention_months

    @dg.op(name="warehouse_partitions_ensured",
           description=f"Create the missing monthly partitions of usage_interval and daily_completeness through "
                       f"{months_ahead} month(s) after the current UTC month"
                       + (f"; drop months older than {retention} month(s)" if retention else "") + ".")
    @redacted_errors
    def warehouse_partitions_ensured(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output:
        engine, today = warehouse.engine(), utc_today()
        through = horizon(today, months_ahead)
        created = partitions.ensure_month_partitions(engine, through)
        cutoff = retention_cutoff(today, retention)
        dropped = partitions.drop_months_before(engine, cutoff) if cutoff else []
        found = partitions.month_partitions(engine)
        context.log.info(f"warehouse partitions through {through:%Y-%m}: {len(created)} created "
                         f"({', '.join(created) or 'none'}), {len(dropped)} dropped, {len(found)} in all")
        result = {"through": through.isoformat(), "created": created, "dropped": dropped}
        in_default = sum(p["approx_rows"] or 0 for p in found if p["month"] is None)
        return dg.Output(result, metadata={
            "dialect": engine.dialect.name, "through": through.isoformat(), "created": len(created),
            "created_partitions": dg.MetadataValue.json(created), "dropped": len(dropped),
            "dropped_partitions": dg.MetadataValue.json(dropped),
            "retention_cutoff": cutoff.isoformat() if cutoff else "none (keep everything)",
            "partitions": len(found), "default_partition_rows_approx": in_default})

    @dg.job(name=PARTITIONS_JOB, tags={"intelliwatt/kind": "maintenance"},
            description="PostgreSQL warehouse: create monthly partitions of usage_interval and daily_completeness "
                        "ahead of time (and apply INTELLIWATT_USAGE_RETENTION_MONTHS when set). Nothing on SQLite.")
    def warehouse_partitions_job():
        warehouse_partitions_ensured()

    return warehouse_partitions_job


def build_partition_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """Daily 03:40 UTC: months are made months ahead, so a missed day or two costs nothing."""
    return dg.ScheduleDefinition(
        name=SCHEDULE, cron_schedule="40 3 * * *", job=job, execution_timezone="UTC",
        description="Daily 03:40 UTC: create the coming months' partitions of usage_interval and "
                    "daily_completeness (PostgreSQL). Calls no vendor, so no feature flag: on by default.",
        default_status=dg.DefaultScheduleStatus.RUNNING, tags={"intelliwatt/schedule": SCHEDULE})


def build_partition_defs(settings: Settings) -> dict:
    """The partition maintenance definitions for ``defs/definitions.py`` (``warehouse`` comes from there)."""
    job = build_partitions_job(settings)
    return {"assets": [], "asset_checks": [], "jobs": [job], "schedules": [build_partition_schedule(job)],
            "sensors": [], "resources": {}}
