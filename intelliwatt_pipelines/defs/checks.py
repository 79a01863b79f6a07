"""Asset checks. pandera is called directly (dagster-pandera pins pandas below 3).

Each check looks at what its own run wrote: the (ESIID, day) partitions materialized in the run, or
the raw files the run processed.
"""


import datetime as dt
from collections import defaultdict

import dagster as dg
import pandas as pd
import pandera.errors
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.normalize import day_bounds_utc
from intelliwatt_pipelines.cdm.schemas import usage_interval_schema
from intelliwatt_pipelines.cdm.tables import billing_reconciliation, daily_completeness, raw_file, usage_interval
from intelliwatt_pipelines.defs.assets import DAILY_COMPLETENESS, RAW_FILES, RECONCILIATION, USAGE_INTERVALS
from intelliwatt_pipelines.defs.partitions import split_key
from intelliwatt_pipelines.defs.resources import IngestRulesResource, WarehouseResource
from intelliwatt_pipelines.pii import mask, redact
from intelliwatt_pipelines.sources.frames import typed_frame


def _partitions_in_run(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> dict[str, set[dt.date]]:
    """ESIID -> local days of ``asset_key`` materialized in this run.

    With one event log for all runs (PostgreSQL), the partitions materialized since the run's first
    event come from Dagster's partition index, without reading the run's events back (a 50-file run
    reports ~36,000; reading them took seconds per check). A run alongside may add a few partitions
    of its own: they are checked too. SQLite keeps an event log per run, so there the run's
    materializations are read.
    """
    instance, run_id = context.instance, context.run.run_id
    keys: set[str] = set()
    if not getattr(instance.event_log_storage, "is_run_sharded", False):
        first = instance.get_records_for_run(run_id, limit=1).records
        if first:
            keys = instance.get_materialized_partitions(asset_key, after_cursor=first[0].storage_id - 1)
    else:
        for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            mat = event.asset_materialization
            if mat and mat.asset_key == asset_key and mat.partition:
                keys.add(mat.partition)
    out: dict[str, set[dt.date]] = defaultdict(set)
    for key in keys:
        esiid, day = split_key(key)
        out[esiid].add(dt.date.fromisoformat(day))
    return out


@dg.asset_check(asset=USAGE_INTERVALS, additional_deps=[RAW_FILES], blocking=False,
                description="pandera: the intervals of the partitions this run wrote match the canonical "
                            "schema (ESIID form, channel, quality, kWh ≥ 0, unique UTC keys, placeholders are 0).")
def usage_intervals_schema(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = _partitions_in_run(context, USAGE_INTERVALS)
    checked = 0
    with warehouse.engine().connect() as conn:
        # one ESIID at a time: a 50-file run wrote 1.75M intervals, too many to hold at once
        for esiid, dates in sorted(touched.items()):
            frame = _intervals(conn, esiid, min(dates), max(dates))
            if frame.empty:
                continue
            checked += len(frame)
            try:
                usage_interval_schema.validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as exc:
                failures = exc.failure_cases.head(20).astype(str)
                return dg.AssetCheckResult(passed=False, metadata={
                    "rows_checked": checked, "failure_cases": dg.MetadataValue.md(failures.to_markdown(index=False))})
    if not checked:
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": 0, "note": "no partitions written in this run"})
    return dg.AssetCheckResult(passed=True, metadata={"rows_checked": checked, "esiids": len(touched)})


def _intervals(conn: sa.Connection, esiid: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    """One ESIID's intervals on local days [first, last], typed as the parsers type them."""
    u = usage_interval.c
    lo, _ = day_bounds_utc(first)
    _, hi = day_bounds_utc(last)
    plain = {c: sa.type_coerce(u[c], sa.DateTime(timezone=True)) for c in ("ts_utc", "revised_at")}  # no per-row hook
    columns = ["esiid", "meter", "channel", "ts_utc", "interval_minutes", "kwh", "quality", "revised_at"]
    rows = conn.execute(sa.select(*[plain.get(c, u[c]).label(c) for c in columns])
                        .where(u.esiid == esiid, u.ts_utc >= lo.to_pydatetime(), u.ts_utc < hi.to_pydatetime())).all()
    return typed_frame(pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns))


@dg.asset_check(asset=DAILY_COMPLETENESS, additional_deps=[RAW_FILES], blocking=False,
                description="Days this run wrote whose completeness is below the threshold with real gaps "
                            "(days cut by the edge of the delivered range are not counted).")
def daily_completeness_threshold(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 rules: IngestRulesResource) -> dg.AssetCheckResult:
    touched = _partitions_in_run(context, DAILY_COMPLETENESS)
    c = daily_completeness.c
    low = []
    with warehouse.engine().connect() as conn:
        for esiid, dates in touched.items():
            low += conn.execute(sa.select(c.esiid, c.channel, c.local_date, c.completeness, c.status).where(
                c.esiid == esiid, c.local_date.in_(sorted(dates)), c.status == "gaps",
                c.completeness < rules.completeness_threshold)).all()
    days = sum(len(d) for d in touched.values())
    table = pd.DataFrame([(mask(r.esiid), r.channel, str(r.local_date), r.completeness) for r in low[:50]],
                         columns=["esiid", "channel", "local_date", "completeness"])
    return dg.AssetCheckResult(
        passed=not low, severity=dg.AssetCheckSeverity.WARN,
        metadata={"days_checked": days, "days_below_threshold": len(low), "threshold": rules.completeness_threshold,
                  **({"days": dg.MetadataValue.md(table.to_markdown(index=False))} if low else {})})


@dg.asset_check(asset=RAW_FILES, blocking=False,
                description="Files this run took that failed to parse or validate (raw bytes are kept).")
def raw_files_failures(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    r = raw_file.c
    with warehouse.engine().connect() as conn:
        failed = conn.execute(sa.select(r.id, r.filename, r.error).where(
            r.run_id == context.run.run_id, r.status.in_(["failed", "quarantined"]))).all()
    table = pd.DataFrame([(f.id, redact(f.filename), redact((f.error or "")[:200])) for f in failed],
                         columns=["raw_file_id", "filename", "error"])
    return dg.AssetCheckResult(
        passed=not failed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"files_failed": len(failed),
                  **({"failures": dg.MetadataValue.md(table.to_markdown(index=False))} if failed else {})})


# After whichever of these a run materializes: raw files (ingest), intervals (rebuild), the asset itself.
@dg.asset_check(asset=RECONCILIATION, additional_deps=[RAW_FILES, USAGE_INTERVALS], blocking=False,
                description="Billing reads this run reconciled whose kWh differs from the intervals' by more "
                            "than the tolerance (INTELLIWATT_RECONCILE_TOLERANCE_KWH / _PCT).")
def billing_reconciliation_mismatches(context: dg.AssetCheckExecutionContext,
                                      warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = _partitions_in_run(context, RECONCILIATION)
    c = billing_reconciliation.c
    rows, bad = 0, []
    with warehouse.engine().connect() as conn:
        for esiid, dates in touched.items():
            found = conn.execute(sa.select(c.esiid, c.meter, c.local_date, c.source, c.billing_kwh, c.interval_kwh,
                                           c.difference_kwh, c.tolerance_kwh, c.status)
                                 .where(c.esiid == esiid, c.local_date.in_(sorted(dates)))).all()
            rows += len(found)
            bad += [r for r in found if r.status == "mismatch"]
    table = pd.DataFrame([(mask(r.esiid), str(r.local_date), r.source, r.billing_kwh, r.interval_kwh,
                           r.difference_kwh, r.tolerance_kwh) for r in bad[:50]],
                         columns=["esiid", "read_end_day", "source", "billing_kwh", "interval_kwh",
                                  "difference_kwh", "tolerance_kwh"])
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"reads_checked": rows, "mismatches": len(bad),
                  **({"mismatched_reads": dg.MetadataValue.md(table.to_markdown(index=False))} if bad else {})})


ALL_CHECKS = [usage_intervals_schema, daily_completeness_threshold, raw_files_failures,
              billing_reconciliation_mismatches]
