"""The day-partitioned assets rebuilt from the stored raw files: ``usage_from_raw`` (usage_intervals,
daily_completeness) and ``billing_from_raw`` (billing_reads, billing_reconciliation). A materialization
(UI backfill, Launchpad, CLI) rebuilds the selected days in one run for the range, home group by
home group, for the ESIIDs in its config or every home with raw coverage."""

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.cdm.day_summaries import combined_by_day, reconciliation_totals
from intelliwatt_pipelines.cdm.tables import billing_read, billing_reconciliation, daily_completeness, usage_interval
from intelliwatt_pipelines.defs.assets import BILLING_GROUP, GROUP, table_spec
from intelliwatt_pipelines.defs.keys import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RAW_FILES,
    RECONCILIATION,
    USAGE_INTERVALS,
)
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.partitions import day_range
from intelliwatt_pipelines.defs.reporting import log_events, reconciliation_day_events
from intelliwatt_pipelines.defs.resources import IngestRulesResource, RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ingest.rebuild import homes_covered, rebuild_billing_days, rebuild_homes_days
from intelliwatt_pipelines.ingest.rebuild_groups import RebuildTotals, rebuild_in_groups
from intelliwatt_pipelines.pii import mask, unlike_esiid


class HomesConfig(dg.Config):
    """Which homes to rebuild for the selected days. Empty: every home with raw coverage in them."""

    esiids: list[str] = []


def _unlike_ids(ids: list[str]) -> str | None:
    """Why configured homes are refused, naming them by mask only; None when all are the market's ids."""
    market = markets.active()
    if market.key == markets.DEFAULT_MARKET:
        bad = [named for e in ids if (named := unlike_esiid(e))]
        what = "ESIID(s) are not 17 or 22 ASCII digits"
    else:  # 1PWR: account numbers
        bad = [mask(e) for e in ids if not market.identity.match(e)]
        what = f"id(s) are not {market.identity_name}s ({market.identity_rule})"
    return f"{len(bad)} configured {what}: " + ", ".join(bad[:5]) if bad else None


def selected_homes(config: HomesConfig, engine: sa.Engine, start, end, *, billing: bool = False) -> list[str]:
    """The configured ESIIDs (checked) or every home the raw files cover on [start, end]."""
    if problem := _unlike_ids(config.esiids):
        raise dg.Failure(description=problem)
    return sorted(set(config.esiids)) or homes_covered(engine, start, end, billing=billing)


def nothing_stored(context, totals: RebuildTotals, start, end) -> bool:
    """True (and says so) when no raw file covers these homes and days and no row was there: the
    run then records no materialization, so a backfill of empty days leaves them empty in the UI."""
    if not totals.empty():
        return False
    context.log.warning(f"no stored raw data for {len(totals.homes)} home(s) on {start}..{end}: nothing to "
                        "rebuild, no materialization recorded")
    return True


def usage_rebuild(rules: IngestRulesResource, engine: sa.Engine, store, start, end):
    """``rebuild(esiids)`` of intervals and completeness on [start, end] under the ingest rules."""
    return lambda esiids: rebuild_homes_days(engine, store, esiids, start, end,
                                             fallback_esiid=rules.dev_fallback_esiid or None,
                                             tolerance=rules.tolerance(), precedence=rules.precedence(),
                                             window=rules.window())


def billing_rebuild(rules: IngestRulesResource, engine: sa.Engine, store, start, end, *, reads: bool = True):
    """``rebuild(esiids)`` of billing reads (``reads``) and their reconciliation on [start, end]."""
    return lambda esiids: rebuild_billing_days(engine, store, esiids, start, end,
                                               fallback_esiid=rules.dev_fallback_esiid or None,
                                               tolerance=rules.tolerance(), reads=reads, window=rules.window())


def build_usage_asset(days_def: dg.DailyPartitionsDefinition, days_per_run: int,
                      freshness: dg.FreshnessPolicy | None = None, links: dict | None = None) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="usage_from_raw",
        specs=[
            table_spec(USAGE_INTERVALS, usage_interval, deps=[RAW_FILES], group=GROUP, layer="canonical",
                       domain="usage", freshness=freshness, links=links,
                       description="Canonical 15-minute (or coarser) usage intervals per ESIID, meter and "
                                   "channel, UTC-keyed and revision-aware. Partitioned by Central day; "
                                   "a materialization rebuilds the selected days from raw, for the ESIIDs "
                                   "in config or every home with raw coverage."),
            table_spec(DAILY_COMPLETENESS, daily_completeness, deps=[USAGE_INTERVALS], group=GROUP,
                       layer="canonical", domain="usage", links=links,
                       description="Per ESIID, meter, channel and Central day: expected vs found intervals "
                                   "(96/92/100), estimated and filled counts, kWh, and a status."),
        ],
        partitions_def=days_def,
        # a range of days for all homes is cut into runs of days_per_run days; each run goes home by home
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run),
    )
    @redacted_errors
    def usage_from_raw(context: dg.AssetExecutionContext, config: HomesConfig, warehouse: WarehouseResource,
                       raw_store: RawStoreResource, rules: IngestRulesResource):
        """Rebuild the selected days from the stored raw files, in one run for the range."""
        engine, store = warehouse.engine(), raw_store.store()
        start, end = day_range(context.partition_keys)
        homes = selected_homes(config, engine, start, end)
        totals = rebuild_in_groups(homes, usage_rebuild(rules, engine, store, start, end), context.log.info)
        if nothing_stored(context, totals, start, end):
            return
        # the intervals under billing reads changed: their reconciliation was recomputed too
        log_events(context, reconciliation_day_events(combined_by_day(totals.reconciliation),
                                                      set(context.partition_keys), {"rebuilt": True}))
        yield dg.MaterializeResult(asset_key=USAGE_INTERVALS, metadata=totals.metadata())
        yield dg.MaterializeResult(asset_key=DAILY_COMPLETENESS, metadata={
            "homes": len(homes), "series_days": sum(totals.statuses.values()),
            **{f"days_{s}": totals.statuses.get(s, 0) for s in ("complete", "partial", "gaps")}})

    return usage_from_raw


def build_billing_asset(days_def: dg.DailyPartitionsDefinition, days_per_run: int,
                        freshness: dg.FreshnessPolicy | None = None) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="billing_from_raw",
        specs=[
            table_spec(BILLING_READS, billing_read, deps=[RAW_FILES], group=BILLING_GROUP, layer="canonical",
                       domain="billing", freshness=freshness,
                       description="SMT meter reads (daily usage CSV, monthly billing JSON): one row per ESIID, "
                                   "meter, channel, read period and source. Partitioned by the Central day "
                                   "the read period ends on."),
            table_spec(RECONCILIATION, billing_reconciliation, deps=[BILLING_READS, USAGE_INTERVALS],
                       group=BILLING_GROUP, layer="derived", domain="billing",
                       description="Each billing read against the real intervals over the same local-time "
                                   "window: difference and match | mismatch | insufficient_intervals."),
        ],
        partitions_def=days_def,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run),
        can_subset=True,
    )
    @redacted_errors
    def billing_from_raw(context: dg.AssetExecutionContext, config: HomesConfig, warehouse: WarehouseResource,
                         raw_store: RawStoreResource, rules: IngestRulesResource):
        """Rebuild the selected days' billing reads from raw (if selected) and reconcile them."""
        engine, store = warehouse.engine(), raw_store.store()
        start, end = day_range(context.partition_keys)
        with_reads = BILLING_READS in context.selected_asset_keys
        homes = selected_homes(config, engine, start, end, billing=True)
        totals = rebuild_in_groups(homes, billing_rebuild(rules, engine, store, start, end, reads=with_reads),
                                   context.log.info)
        if nothing_stored(context, totals, start, end):
            return
        if with_reads:
            yield dg.MaterializeResult(asset_key=BILLING_READS, metadata=totals.metadata())
        if RECONCILIATION in context.selected_asset_keys:
            counts = reconciliation_totals(combined_by_day(totals.reconciliation))
            yield dg.MaterializeResult(asset_key=RECONCILIATION, metadata={
                "homes": len(homes), "reads": sum(counts.values()), **counts})

    return billing_from_raw
