"""``rebuild_homes_job``: one or a few homes' days rebuilt from raw in one run.

The Launchpad shows its config as a form (ESIIDs, first and last Central day); ``intelliwatt backfill
--esiid … --start … --end …`` launches the same job. The run carries the masked ESIID as a tag, so the
Runs page filters everything done to a home, and every day it rebuilt gets a materialization of
usage_intervals and daily_completeness where the homes have a series that day, and of billing_reads and
billing_reconciliation where they have reads (so the rebuild shows in each day's history; a day without
rows gets no materialization).
"""

import datetime as dt

import dagster as dg

from intelliwatt_pipelines.cdm.day_summaries import combined_by_day
from intelliwatt_pipelines.defs.assets import RUN_EXECUTOR
from intelliwatt_pipelines.defs.from_raw import HomesConfig, billing_rebuild, selected_homes, usage_rebuild
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.reporting import (
    log_events,
    rebuilt_read_events,
    reconciliation_day_events,
    usage_day_events,
)
from intelliwatt_pipelines.defs.resources import IngestRulesResource, RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ingest.rebuild_groups import RebuildTotals, rebuild_in_groups
from intelliwatt_pipelines.pii import mask

REBUILD_HOMES_JOB = "rebuild_homes_job"
ESIID_TAG = "intelliwatt/esiid"
MAX_DAYS = 3 * 366  # one home's days are held in memory together


class RebuildHomesConfig(HomesConfig):
    """ESIIDs (17 or 22 digits, at least one) and the first and last Central day, YYYY-MM-DD."""

    start: str
    end: str


def home_tags(esiids: list[str]) -> dict[str, str]:
    """Run tags naming the homes, masked: one home filters exactly on ``intelliwatt/esiid``."""
    masked = sorted({mask(e) for e in esiids})
    return {ESIID_TAG: masked[0] if len(masked) == 1 else f"{len(masked)} homes",
            **({"intelliwatt/esiids": ",".join(masked)} if len(masked) > 1 else {})}


def checked_days(config: RebuildHomesConfig) -> tuple[dt.date, dt.date]:
    try:
        start, end = dt.date.fromisoformat(config.start), dt.date.fromisoformat(config.end)
    except ValueError as exc:
        raise dg.Failure(description=f"start and end must be days as YYYY-MM-DD: {exc}") from None
    if start > end:
        raise dg.Failure(description=f"start {start} is after end {end}: nothing to rebuild")
    if (end - start).days >= MAX_DAYS:
        raise dg.Failure(description=f"{(end - start).days + 1} days asked; rebuild at most {MAX_DAYS} "
                                     "days per run (or backfill the days for all homes from the UI)")
    return start, end


def build_rebuild_homes_job(days_def: dg.DailyPartitionsDefinition) -> dg.JobDefinition:
    @dg.op(name="rebuilt_homes", description="Rebuild the configured homes' intervals, completeness, billing "
                                             "reads and reconciliation on the configured days from raw.")
    @redacted_errors
    def rebuilt_homes(context: dg.OpExecutionContext, config: RebuildHomesConfig, warehouse: WarehouseResource,
                      raw_store: RawStoreResource, rules: IngestRulesResource) -> None:
        if not config.esiids:
            raise dg.Failure(description="no ESIIDs configured: name at least one home (to rebuild days for all "
                                         "homes, backfill the day partitions of usage_intervals instead)")
        start, end = checked_days(config)
        engine, store = warehouse.engine(), raw_store.store()
        homes = selected_homes(config, engine, start, end)
        context.instance.add_run_tags(context.run_id, home_tags(homes))
        usage = rebuild_in_groups(homes, usage_rebuild(rules, engine, store, start, end), context.log.info,
                                  keep_home_days=True)
        billing = rebuild_in_groups(homes, billing_rebuild(rules, engine, store, start, end), context.log.info)
        report_rebuilt_days(context, days_def, homes, start, end, usage, billing)

    @dg.job(name=REBUILD_HOMES_JOB, executor_def=RUN_EXECUTOR, tags={"intelliwatt/kind": "rebuild_homes"},
            description="Rebuild one or a few homes' days from the stored raw files, in one run (ESIIDs, "
                        "first and last Central day). Other homes' rows are not touched.")
    def rebuild_homes_job():
        rebuilt_homes()

    return rebuild_homes_job


def report_rebuilt_days(context, days_def, homes: list[str], start: dt.date, end: dt.date,
                        usage: RebuildTotals, billing: RebuildTotals) -> None:
    """One materialization per asset per rebuilt day that holds rows, so each day's history shows the
    rebuild. A day none of these homes has a series (or a read) on gets none: a materialization
    would claim data the warehouse does not hold."""
    valid = set(days_def.get_partition_keys())
    days = [d for d in (str(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)) if d in valid]
    extra = {"rebuilt_homes": len(homes), "esiids": ", ".join(mask(e) for e in homes[:20])}
    events = usage_day_events(usage.completeness(), {}, valid, extra)
    # the billing rebuild ran last and reconciled every stored read of these days: one row per read
    per_day = combined_by_day(billing.reconciliation)
    events += rebuilt_read_events(per_day, valid, extra) + reconciliation_day_events(per_day, valid, extra)
    log_events(context, events)
    if outside := (end - start).days + 1 - len(days):
        context.log.warning(f"{outside} day(s) outside the partition range were rebuilt but are not partitions")
