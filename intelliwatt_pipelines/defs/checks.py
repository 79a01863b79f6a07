"""Asset checks. pandera is called directly (dagster-pandera pins pandas below 3).

Each check looks at what its own run wrote, found in the warehouse: an ingest run's raw files (by
run id) and the homes and days they cover, or a rebuild run's days (its partition range) and homes
(its config, or every home with raw coverage). Dagster's partition keys are never enumerated.
"""


import datetime as dt

import dagster as dg
import pandas as pd
import pandera.errors
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.normalize import day_bounds_utc
from intelliwatt_pipelines.cdm.schemas import usage_interval_schema
from intelliwatt_pipelines.cdm.store import stored_intervals
from intelliwatt_pipelines.cdm.tables import (
    billing_read,
    billing_read_coverage,
    billing_reconciliation,
    daily_completeness,
    raw_file,
    raw_file_coverage,
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
from intelliwatt_pipelines.ingest.normalize import homes_covered
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.model import typed_frame

RANGE_START, RANGE_END, PARTITION = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end",
                                     "dagster/partition")
Windows = dict[str, tuple[dt.date, dt.date]]  # ESIID -> first and last Central day written
ESIIDS_PER_QUERY = 500
VALIDATE_ROWS = 250_000


def grouped_windows(windows: Windows):
    """(ESIIDs, first, last): homes with the same window together, ESIIDS_PER_QUERY per query (a
    rebuild of every home's days is one window for all of them)."""
    by_window: dict[tuple, list[str]] = {}
    for esiid, window in sorted(windows.items()):
        by_window.setdefault(window, []).append(esiid)
    for (first, last), esiids in sorted(by_window.items()):
        for i in range(0, len(esiids), ESIIDS_PER_QUERY):
            yield esiids[i:i + ESIIDS_PER_QUERY], first, last


def written_in_run(context: dg.AssetCheckExecutionContext, engine: sa.Engine, *, billing: bool = False) -> Windows:
    """ESIID -> (first, last) local day this run wrote."""
    run = context.run
    tags = run.tags
    if PARTITION in tags or RANGE_START in tags:
        start = dt.date.fromisoformat(tags.get(RANGE_START, tags.get(PARTITION)))
        end = dt.date.fromisoformat(tags.get(RANGE_END, tags.get(PARTITION)))
        ops = (run.run_config or {}).get("ops", {})
        configured = {e for op in ops.values() for e in (op.get("config") or {}).get("esiids", [])}
        homes = configured or set(homes_covered(engine, start, end)) | set(homes_covered(engine, start, end, billing=True))
        return {e: (start, end) for e in sorted(homes)}
    windows: Windows = {}
    with engine.connect() as conn:
        for coverage in (raw_file_coverage, billing_read_coverage) if billing else (raw_file_coverage,):
            cov = coverage.c
            rows = conn.execute(sa.select(cov.esiid, sa.func.min(cov.first_local_date), sa.func.max(cov.last_local_date))
                                .join(raw_file, raw_file.c.id == cov.raw_file_id)
                                .where(raw_file.c.run_id == run.run_id, raw_file.c.status == "normalized")
                                .group_by(cov.esiid)).all()
            for esiid, first, last in rows:
                old = windows.get(esiid, (first, last))
                windows[esiid] = (min(old[0], first), max(old[1], last))
    return windows


@dg.asset_check(asset=USAGE_INTERVALS, additional_deps=[RAW_FILES], blocking=False,
                description="pandera: the intervals of the partitions this run wrote match the canonical "
                            "schema (ESIID form, channel, quality, kWh ≥ 0, unique UTC keys, placeholders are 0).")
@redacted_errors
def usage_intervals_schema(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine())
    checked, pending = 0, []
    with warehouse.engine().connect() as conn:
        # read one ESIID at a time, validate batches of about VALIDATE_ROWS: memory stays bounded
        # (a 50-file run wrote 1.75M intervals) and pandera runs a few times, not once per home
        for i, (esiid, (first, last)) in enumerate(sorted(touched.items())):
            pending.append(_intervals(conn, esiid, first, last))
            if sum(map(len, pending)) < VALIDATE_ROWS and i < len(touched) - 1:
                continue
            frame, pending = pd.concat([f for f in pending if len(f)] or [pending[0]], ignore_index=True), []
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
    lo, _ = day_bounds_utc(first)
    _, hi = day_bounds_utc(last)
    return typed_frame(stored_intervals(conn, esiid, lo.to_pydatetime(), hi.to_pydatetime()))


@dg.asset_check(asset=DAILY_COMPLETENESS, additional_deps=[RAW_FILES], blocking=False,
                description="Days this run wrote whose completeness is below the threshold with real gaps "
                            "(days cut by the edge of the delivered range are not counted).")
@redacted_errors
def daily_completeness_threshold(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 rules: IngestRulesResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine())
    c = daily_completeness.c
    low, days = [], 0
    with warehouse.engine().connect() as conn:
        for esiids, first, last in grouped_windows(touched):
            window = (c.esiid.in_(esiids), c.local_date >= first, c.local_date <= last)
            days += conn.execute(sa.select(sa.func.count()).where(*window)).scalar_one()
            low += conn.execute(sa.select(c.esiid, c.channel, c.local_date, c.completeness, c.status).where(
                *window, c.status == "gaps", c.completeness < rules.completeness_threshold)).all()
    return dg.AssetCheckResult(
        passed=not low, severity=dg.AssetCheckSeverity.WARN,
        metadata={"series_days_checked": days, "days_below_threshold": len(low),
                  "homes_below_threshold": len({r.esiid for r in low}), "threshold": rules.completeness_threshold,
                  **({"homes_short_by_day": short_by_day(low)} if low else {})})


def short_by_day(low: list) -> dg.MetadataValue:
    """Per day (the 50 worst days): how many homes fall short and which (masked), lowest first."""
    frame = pd.DataFrame([(str(r.local_date), mask(r.esiid), r.completeness) for r in low],
                         columns=["local_date", "esiid", "completeness"]).sort_values(["local_date", "completeness"])
    table = frame.groupby("local_date").agg(
        homes_short=("esiid", "nunique"), lowest=("completeness", "min"),
        homes=("esiid", lambda s: ", ".join(list(dict.fromkeys(s))[:5]))).reset_index()
    return dg.MetadataValue.md(table.sort_values("lowest").head(50).to_markdown(index=False))


# After whichever of these a run materializes: raw files (ingest), intervals (rebuild), the asset itself.
@dg.asset_check(asset=RECONCILIATION, additional_deps=[RAW_FILES, USAGE_INTERVALS], blocking=False,
                description="Billing reads this run reconciled whose kWh differs from the intervals' by more "
                            "than the tolerance (INTELLIWATT_RECONCILE_TOLERANCE_KWH / _PCT).")
@redacted_errors
def billing_reconciliation_mismatches(context: dg.AssetCheckExecutionContext,
                                      warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine(), billing=True)
    c = billing_reconciliation.c
    rows, bad = 0, []
    with warehouse.engine().connect() as conn:
        for esiids, first, last in grouped_windows(touched):
            # every read whose period overlaps the days: those are the ones reconciled again
            lo, _ = day_bounds_utc(first)
            _, hi = day_bounds_utc(last)
            window = (c.esiid.in_(esiids), c.read_start < hi.to_pydatetime(), c.read_end > lo.to_pydatetime())
            rows += conn.execute(sa.select(sa.func.count()).where(*window)).scalar_one()
            bad += conn.execute(sa.select(c.esiid, c.meter, c.local_date, c.source, c.billing_kwh, c.interval_kwh,
                                          c.difference_kwh, c.tolerance_kwh, c.status)
                                .where(*window, c.status == "mismatch")).all()
    table = pd.DataFrame([(mask(r.esiid), str(r.local_date), r.source, r.billing_kwh, r.interval_kwh,
                           r.difference_kwh, r.tolerance_kwh) for r in bad[:50]],
                         columns=["esiid", "read_end_day", "source", "billing_kwh", "interval_kwh",
                                  "difference_kwh", "tolerance_kwh"])
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"reads_checked": rows, "mismatches": len(bad),
                  **({"mismatched_reads": dg.MetadataValue.md(table.to_markdown(index=False))} if bad else {})})


MAX_READ_DAYS = 62  # a monthly bill covers about 30 days; twice that is not one read period


@dg.asset_check(asset=BILLING_READS, additional_deps=[RAW_FILES], blocking=False,
                description="Billing reads this run wrote are plausible: kWh not negative, a period of at most "
                            f"{MAX_READ_DAYS} days, and no two reads of one meter, channel and source overlapping "
                            "(which would count the same energy twice).")
@redacted_errors
def billing_reads_plausible(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    touched = written_in_run(context, warehouse.engine(), billing=True)
    c = billing_read.c
    reads, bad = 0, []
    with warehouse.engine().connect() as conn:
        for esiids, first, last in grouped_windows(touched):
            # reads ending up to MAX_READ_DAYS earlier too: an overlap with the read before the window shows
            lo, _ = day_bounds_utc(first - dt.timedelta(days=MAX_READ_DAYS))
            _, hi = day_bounds_utc(last)
            frame = pd.read_sql(sa.select(c.esiid, c.meter, c.channel, c.source, c.read_start, c.read_end, c.kwh_total)
                                .where(c.esiid.in_(esiids), c.read_end > lo.to_pydatetime(),
                                       c.read_end <= hi.to_pydatetime()), conn)
            reads += len(frame)
            bad += implausible_reads(frame)
    table = pd.DataFrame([(mask(e), m, ch, src, str(start), str(end), kwh, why) for e, m, ch, src, start, end, kwh, why
                          in bad[:50]],
                         columns=["esiid", "meter", "channel", "source", "read_start", "read_end", "kwh_total", "problem"])
    return dg.AssetCheckResult(
        passed=not bad, severity=dg.AssetCheckSeverity.WARN,
        metadata={"reads_checked": reads, "implausible_reads": len(bad),
                  **({"implausible": dg.MetadataValue.md(table.to_markdown(index=False))} if bad else {})})


def implausible_reads(frame: pd.DataFrame) -> list[tuple]:
    """(esiid, meter, channel, source, start, end, kWh, problem) of each implausible read."""
    if frame.empty:
        return []
    frame = frame.assign(read_start=pd.to_datetime(frame["read_start"], utc=True),
                         read_end=pd.to_datetime(frame["read_end"], utc=True)).sort_values(
        ["esiid", "meter", "channel", "source", "read_start"])
    previous_end = frame.groupby(["esiid", "meter", "channel", "source"])["read_end"].shift()
    problems = pd.Series("", index=frame.index)
    problems[frame["kwh_total"] < 0] = "negative kWh"
    problems[(frame["read_end"] - frame["read_start"]) > pd.Timedelta(days=MAX_READ_DAYS)] = \
        f"period longer than {MAX_READ_DAYS} days"
    problems[previous_end.notna() & (frame["read_start"] < previous_end)] = "overlaps the previous read"
    hits = frame[problems != ""]
    return [(*row, problems[i]) for i, row in zip(hits.index, hits[["esiid", "meter", "channel", "source", "read_start",
                                                                      "read_end", "kwh_total"]].itertuples(index=False))]


ALL_CHECKS = [usage_intervals_schema, daily_completeness_threshold, billing_reconciliation_mismatches,
              billing_reads_plausible]
