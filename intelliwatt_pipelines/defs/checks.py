"""Asset checks: declared here, the rows read and judged in ``cdm.quality`` (pandera called
directly there: dagster-pandera pins pandas below 3).

Each check looks at what its own run wrote, found in the warehouse: an ingest run's raw files (by
run id) and the homes and days they cover, or a rebuild run's days (its partition range) and homes
(its config, or every home with raw coverage). Dagster's partition keys are never enumerated.
"""


import datetime as dt

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.meter_roles import check_meter_disagreements, disagreement_table
from intelliwatt_pipelines.cdm.quality import (
    MAX_READ_DAYS,
    Windows,
    implausible_in,
    low_completeness,
    mismatched_reads,
    run_windows,
    schema_failures,
    short_by_day,
)
from intelliwatt_pipelines.defs.keys import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RAW_FILES,
    RECONCILIATION,
    USAGE_INTERVALS,
)
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import IngestRulesResource, WarehouseResource
from intelliwatt_pipelines.ingest.rebuild import homes_covered

RANGE_START, RANGE_END, PARTITION = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end",
                                     "dagster/partition")


def written_in_run(context: dg.AssetCheckExecutionContext, engine: sa.Engine, *, billing: bool = False) -> Windows:
    """ESIID -> (first, last) local day this run wrote: a rebuild's partition range for its configured
    homes (or every home with raw coverage), an ingest run's raw files' coverage."""
    run = context.run
    tags = run.tags
    if PARTITION in tags or RANGE_START in tags:
        start = dt.date.fromisoformat(tags.get(RANGE_START, tags.get(PARTITION)))
        end = dt.date.fromisoformat(tags.get(RANGE_END, tags.get(PARTITION)))
        ops = (run.run_config or {}).get("ops", {})
        configured = {e for op in ops.values() for e in (op.get("config") or {}).get("esiids", [])}
        homes = configured or set(homes_covered(engine, start, end)) | set(homes_covered(engine, start, end, billing=True))
        return {e: (start, end) for e in sorted(homes)}
    return run_windows(engine, run.run_id, billing=billing)


@dg.asset_check(asset=USAGE_INTERVALS, additional_deps=[RAW_FILES], blocking=False,
                description="pandera: the intervals of the partitions this run wrote match the canonical "
                            "schema (ESIID form, channel, quality, kWh ≥ 0, unique UTC keys, placeholders are 0).")
@redacted_errors
def usage_intervals_schema(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine())
    checked, failures = schema_failures(warehouse.engine(), touched)
    if failures is not None:
        return dg.AssetCheckResult(passed=False, metadata={
            "rows_checked": checked, "failure_cases": dg.MetadataValue.md(failures)})
    if not checked:
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": 0, "note": "no partitions written in this run"})
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": checked, "esiids": len(touched)})


@dg.asset_check(asset=DAILY_COMPLETENESS, additional_deps=[RAW_FILES], blocking=False,
                description="Days this run wrote whose completeness is below the threshold with real gaps "
                            "(days cut by the edge of the delivered range are not counted).")
@redacted_errors
def daily_completeness_threshold(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 rules: IngestRulesResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine())
    days, low = low_completeness(warehouse.engine(), touched, rules.completeness_threshold)
    return dg.AssetCheckResult(
        passed=not low, severity=dg.AssetCheckSeverity.WARN,
        metadata={"series_days_checked": days, "days_below_threshold": len(low),
                  "homes_below_threshold": len({r.esiid for r in low}), "threshold": rules.completeness_threshold,
                  **({"homes_short_by_day": dg.MetadataValue.md(short_by_day(low))} if low else {})})


# After whichever of these a run materializes: raw files (ingest), intervals (rebuild), the asset itself.
@dg.asset_check(asset=RECONCILIATION, additional_deps=[RAW_FILES, USAGE_INTERVALS], blocking=False,
                description="Billing reads this run reconciled whose kWh differs from the intervals' by more "
                            "than the tolerance (INTELLIWATT_RECONCILE_TOLERANCE_KWH / _PCT).")
@redacted_errors
def billing_reconciliation_mismatches(context: dg.AssetCheckExecutionContext,
                                      warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine(), billing=True)
    rows, bad, table = mismatched_reads(warehouse.engine(), touched)
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"reads_checked": rows, "mismatches": len(bad),
                  **({"mismatched_reads": dg.MetadataValue.md(table)} if bad else {})})


@dg.asset_check(asset=BILLING_READS, additional_deps=[RAW_FILES], blocking=False,
                description="Billing reads this run wrote are plausible: kWh not negative, a period of at most "
                            f"{MAX_READ_DAYS} days, and no two reads of one meter, channel and source overlapping "
                            "(which would count the same energy twice).")
@redacted_errors
def billing_reads_plausible(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine(), billing=True)
    reads, bad, table = implausible_in(warehouse.engine(), touched)
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.WARN,
        metadata={"reads_checked": reads, "implausible_reads": len(bad),
                  **({"implausible": dg.MetadataValue.md(table)} if bad else {})})


@dg.asset_check(asset=DAILY_COMPLETENESS, additional_deps=[RAW_FILES], blocking=False,
                description="1PWR meter roles: on the days this run wrote, each check meter's kWh agrees with its "
                            "account's primary meter within the reconciliation tolerance "
                            "(INTELLIWATT_RECONCILE_TOLERANCE_KWH / _PCT).")
@redacted_errors
def check_meters_agree(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                       rules: IngestRulesResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine())
    days, bad = check_meter_disagreements(warehouse.engine(), touched, rules.tolerance())
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"days_compared": days, "days_disagreeing": len(bad),
                  **({"disagreements": dg.MetadataValue.md(disagreement_table(bad))} if len(bad) else {})})


ALL_CHECKS = [usage_intervals_schema, daily_completeness_threshold, billing_reconciliation_mismatches,
              billing_reads_plausible]
ONEPWR_CHECKS = [check_meters_agree]  # meter roles exist in 1PWR's markets only (defs/definitions.py)
