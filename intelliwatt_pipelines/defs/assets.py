"""Assets: raw files in; canonical usage intervals, daily completeness, billing reads and their
reconciliation out.

``raw_files`` is what the inbox sensor runs: one run per batch of files, which captures, normalizes
and then reports every (ESIID, day) partition it wrote. The partitioned assets materialized
directly (UI, CLI, backfill) rebuild their partitions from the stored raw bytes, in one run for
any range.
"""


import datetime as dt
from collections import defaultdict
from itertools import groupby

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import (
    COLUMN_DOCS,
    billing_read,
    billing_reconciliation,
    daily_completeness,
    raw_file,
    usage_interval,
)
from intelliwatt_pipelines.defs.partitions import esiid_day_key, esiid_partitions, split_key
from intelliwatt_pipelines.defs.resources import (
    InboxResource,
    IngestRulesResource,
    RawStoreResource,
    SftpResource,
    WarehouseResource,
)
from intelliwatt_pipelines.ingest import rebuild_esiid_days
from intelliwatt_pipelines.ingest.normalize import rebuild_billing_days
from intelliwatt_pipelines.ingest.inbox import new_entries, reprocess_raw_files, take_entry
from intelliwatt_pipelines.transport import RemoteEntry, TransportError
from intelliwatt_pipelines.ingest.normalize import FileOutcome
from intelliwatt_pipelines.pii import mask, redact

RAW_FILES = dg.AssetKey("raw_files")
USAGE_INTERVALS = dg.AssetKey("usage_intervals")
DAILY_COMPLETENESS = dg.AssetKey("daily_completeness")
BILLING_READS = dg.AssetKey("billing_reads")
RECONCILIATION = dg.AssetKey("billing_reconciliation")
GROUP = "usage"
BILLING_GROUP = "billing"
INBOX_SOURCE = "inbox"
SFTP_SOURCE = "sftp"


def column_schema(table: sa.Table) -> dg.TableSchema:
    docs = COLUMN_DOCS.get(table.name, {})
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, str(c.type.impl if hasattr(c.type, "impl") else c.type).lower(),
                       description=docs.get(c.name)) for c in table.columns])


class InboxEntryConfig(dg.Config):
    path: str
    size_bytes: int
    mtime_ns: int


class RawFilesConfig(dg.Config):
    """Files to take in, from ``inbox`` (the local folder) or ``sftp``. No entries (a manual
    materialization) means: everything new in that inbox now. ``raw_file_ids`` instead re-processes
    files already in the raw store (say, quarantined ones after fixing the key), from their bytes."""

    source: str = INBOX_SOURCE
    entries: list[InboxEntryConfig] = []
    raw_file_ids: list[int] = []


def ingest_run_config(entries: list[RemoteEntry], source: str = INBOX_SOURCE) -> dict:
    """Run config for one ingest run over these inbox entries (the sensors and the CLI use it)."""
    return {"ops": {"raw_files": {"config": {"source": source, "entries": [
        {"path": e.path, "size_bytes": e.size_bytes, "mtime_ns": e.mtime_ns} for e in entries]}}}}


def transport_for(source: str, inbox: InboxResource, sftp: SftpResource):
    return sftp.inbox() if source == SFTP_SOURCE else inbox.inbox()


def build_raw_files_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    days_def = next(d.partitions_def for d in partitions_def.partitions_defs if d.name == "date")

    @dg.asset(
        key=RAW_FILES,
        group_name=GROUP,
        kinds={"python", "sql"},
        description="Vendor files captured byte-for-byte into the content-addressed raw store, one "
                    "raw_file row per distinct content (PGP/ZIP packages and each CSV inside them, "
                    "linked by parent_id), then normalized into usage_intervals.",
        metadata={"dagster/column_schema": column_schema(raw_file), "dagster/table_name": "raw_file"},
    )
    def raw_files(context: dg.AssetExecutionContext, config: RawFilesConfig, warehouse: WarehouseResource,
                  raw_store: RawStoreResource, inbox: InboxResource, sftp: SftpResource,
                  rules: IngestRulesResource) -> dg.MaterializeResult:
        engine, store = warehouse.engine(), raw_store.store()
        transport = transport_for(config.source, inbox, sftp)
        options = rules.options(delete_after_ingest=config.source == SFTP_SOURCE and sftp.delete_after_ingest)
        outcomes, broken = [], []
        if config.raw_file_ids:
            outcomes = reprocess_raw_files(engine, store, config.raw_file_ids, run_id=context.run.run_id,
                                           options=options)
            _log_outcomes(context, outcomes)
            return dg.MaterializeResult(metadata=_batch_metadata(
                outcomes, report_partitions(context, outcomes, set(days_def.get_partition_keys()))))
        try:
            with transport.session():
                entries = [RemoteEntry(e.path, e.size_bytes, e.mtime_ns) for e in config.entries] or \
                    new_entries(engine, transport.source, transport.list_entries())
                for entry in entries:
                    try:
                        taken = take_entry(engine, store, transport, entry, run_id=context.run.run_id, options=options)
                    except TransportError as exc:  # nothing registered; the sensor offers it again
                        broken.append(redact(str(exc)))
                        context.log.error(broken[-1])
                        continue
                    _log_outcomes(context, taken)
                    outcomes += taken
        except TransportError as exc:
            broken.append(redact(str(exc)))
        days = report_partitions(context, outcomes, set(days_def.get_partition_keys()))
        metadata = _batch_metadata(outcomes, days)
        if broken:
            raise dg.Failure(description=f"{len(broken)} transfer(s) failed and will be retried: " + "; ".join(broken),
                             metadata=metadata)
        return dg.MaterializeResult(metadata=metadata)

    return raw_files


def _log_outcomes(context: dg.AssetExecutionContext, outcomes: list[FileOutcome]) -> None:
    for outcome in outcomes:
        context.log.info(redact(f"raw_file {outcome.raw_file_id} ({outcome.filename}): {outcome.status}"
                                + (f" - {outcome.error}" if outcome.error else "")))


def _gathered(outcomes: list[FileOutcome], attr: str, key: list[str]) -> pd.DataFrame:
    frames = [getattr(o, attr) for o in outcomes if o.status == "normalized" and not getattr(o, attr).empty]
    return pd.concat(frames, ignore_index=True).drop_duplicates(key, keep="last") if frames else pd.DataFrame()


def report_partitions(context: dg.AssetExecutionContext, outcomes: list[FileOutcome], valid_days: set[str]) -> int:
    """Register new ESIIDs and mark every (ESIID, day) these files wrote as materialized."""
    days = _gathered(outcomes, "completeness", ["esiid", "meter", "channel", "local_date"])
    reads = _gathered(outcomes, "reads", ["esiid", "meter", "channel", "read_start", "read_end", "source"])
    recon = _gathered(outcomes, "reconciliation", ["esiid", "meter", "channel", "read_start", "read_end", "source"])
    esiids = sorted(set().union(*[set(f["esiid"]) for f in (days, reads, recon) if len(f)]))
    if not esiids:
        return 0
    known = set(context.instance.get_dynamic_partitions(esiid_partitions.name))
    if new := [e for e in esiids if e not in known]:
        context.instance.add_dynamic_partitions(esiid_partitions.name, new)
    outside = set()

    def mark(asset_key: dg.AssetKey, per_day: pd.DataFrame, metadata) -> None:
        """``per_day``: one row per (esiid, local_date) with the figures ``metadata`` turns into
        the event's metadata (None: no event)."""
        if per_day.empty:
            return
        events = []
        for row in per_day.itertuples(index=False):
            if str(row.local_date) not in valid_days:
                outside.add((row.esiid, row.local_date))
            elif (values := metadata(row)) is not None:
                events.append(dg.AssetMaterialization(asset_key=asset_key, partition=esiid_day_key(row.esiid, row.local_date),
                                                      metadata=values))
        log_materializations(context, events)

    # one groupby per asset, not one per (ESIID, day): a 50-file run reports ~18,000 days
    if len(days):
        daily = days.assign(intervals=days["actual_intervals"] + days["filled_intervals"]).groupby(
            ["esiid", "local_date"], sort=True).agg(
            intervals=("intervals", "sum"), kwh=("kwh_real", "sum"), completeness=("completeness", "min"),
            status=("status", lambda s: ",".join(sorted(set(s))))).reset_index()
        # a day inside a gap has a completeness row but no intervals
        mark(USAGE_INTERVALS, daily, lambda r: {"intervals": int(r.intervals), "kwh": float(r.kwh)}
             if r.intervals else None)
        mark(DAILY_COMPLETENESS, daily, lambda r: {"status": r.status, "completeness": float(r.completeness)})
    if len(reads):
        mark(BILLING_READS, reads.groupby(["esiid", "local_date"], sort=True).agg(
            reads=("kwh_total", "size"), kwh=("kwh_total", "sum")).reset_index(),
            lambda r: {"reads": int(r.reads), "kwh": float(r.kwh)})
    mark_reconciliation(context, recon, valid_days)
    if outside:
        context.log.warning(f"{len(outside)} (ESIID, day) pairs fall outside the partition range "
                            "(INTELLIWATT_PARTITION_START..today): written, not shown as partitions")
    return len(days)


def mark_reconciliation(context: dg.AssetExecutionContext, rows: pd.DataFrame, valid_days: set[str]) -> None:
    """Mark the reconciliation partitions a run recomputed (by the day each read ends on)."""
    if rows.empty:
        return
    log_materializations(context, [dg.AssetMaterialization(
        asset_key=RECONCILIATION, partition=esiid_day_key(esiid, day),
        metadata={"status": ",".join(sorted(set(group["status"]))),
                  "max_abs_difference_kwh": float(group["difference_kwh"].abs().max())})
        for (esiid, day), group in rows.groupby(["esiid", "local_date"], sort=True) if str(day) in valid_days])


def log_materializations(context: dg.AssetExecutionContext, events: list[dg.AssetMaterialization]) -> None:
    """Report many partitions' materializations from one step, stored in batches.

    ``context.log_event`` stores each event on its own (~10 ms each on PostgreSQL storage: 730
    events for a home-year took longer than ingesting it). Dagster batches the events of one
    step output when ``DAGSTER_EVENT_BATCH_SIZE`` > 0 (set in definitions.py); the same internal
    hook is used here, with a plain ``log_event`` fallback should it move in a Dagster release.
    """
    if not events:
        return
    try:
        from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id

        step = context.get_step_execution_context()
        batch = generate_event_batch_id()
    except (ImportError, AttributeError):  # pragma: no cover - depends on Dagster's internals
        for event in events:
            context.log_event(event)
        return
    for i, event in enumerate(events):
        DagsterEvent.asset_materialization(step, event, DagsterEventBatchMetadata(batch, i == len(events) - 1))


def _batch_metadata(outcomes: list[FileOutcome], series_days: int) -> dict:
    table = pd.DataFrame([{
        "raw_file_id": o.raw_file_id, "parent_id": o.parent_id or "", "filename": redact(o.filename),
        "status": o.status, "kind": o.kind,
        "rows_read": o.rows_read, "rows_valid": o.rows_valid, "rows_invalid": o.rows_invalid,
        "rows_written": o.rows_written, "kwh": round(o.kwh, 3), "error": redact((o.error or "")[:300]),
        "unmapped_columns": redact(", ".join(o.unmapped)),
    } for o in outcomes])
    count = lambda status: sum(o.status == status for o in outcomes)  # noqa: E731
    return {
        "files": len(outcomes),
        "files_normalized": count("normalized"),
        "files_failed": count("failed"),
        "files_quarantined": count("quarantined"),
        "files_already_known": count("known"),
        "rows_written": sum(o.rows_written for o in outcomes),
        "rows_invalid": sum(o.rows_invalid for o in outcomes),
        "kwh": round(sum(o.kwh for o in outcomes), 3),
        "series_days_touched": series_days,
        "billing_reads": sum(len(o.reads) for o in outcomes),
        "reconciliation_mismatches": sum(int((o.reconciliation.get("status", pd.Series(dtype=str)) == "mismatch").sum())
                                         for o in outcomes),
        **({"unmapped_columns": {redact(o.filename): [redact(c) for c in o.unmapped] for o in outcomes if o.unmapped}}
           if any(o.unmapped for o in outcomes) else {}),
        "file_table": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "no files"),
    }


def build_usage_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    days_def = next(d.partitions_def for d in partitions_def.partitions_defs if d.name == "date")

    @dg.multi_asset(
        name="usage_from_raw",
        specs=[
            dg.AssetSpec(USAGE_INTERVALS, deps=[RAW_FILES], group_name=GROUP, kinds={"pandas", "sql"},
                         description="Canonical 15-minute (or coarser) usage intervals per ESIID, meter and "
                                     "channel, UTC-keyed and revision-aware. Partitioned by ESIID × Central day.",
                         metadata={"dagster/column_schema": column_schema(usage_interval),
                                   "dagster/table_name": "usage_interval"}),
            dg.AssetSpec(DAILY_COMPLETENESS, deps=[USAGE_INTERVALS], group_name=GROUP, kinds={"pandas", "sql"},
                         description="Per ESIID, meter, channel and Central day: expected vs found intervals "
                                     "(96/92/100), estimated and filled counts, kWh, and a status.",
                         metadata={"dagster/column_schema": column_schema(daily_completeness),
                                   "dagster/table_name": "daily_completeness"}),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def usage_from_raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       raw_store: RawStoreResource, rules: IngestRulesResource):
        """Rebuild the selected (ESIID, day) partitions from the stored raw files, in one run."""
        results = rebuild_partitions(context, lambda esiid, start, end: rebuild_esiid_days(
            warehouse.engine(), raw_store.store(), esiid, start, end,
            fallback_esiid=rules.dev_fallback_esiid or None, tolerance=rules.tolerance(),
            precedence=rules.precedence()))
        done = _concat([r.completeness for r in results], ["status"])
        # the intervals under billing reads changed: their reconciliation was recomputed too
        mark_reconciliation(context, _concat([r.reconciliation for r in results], ["status"]),
                            set(days_def.get_partition_keys()))
        yield dg.MaterializeResult(asset_key=USAGE_INTERVALS, metadata=_rebuild_metadata(context, results))
        yield dg.MaterializeResult(asset_key=DAILY_COMPLETENESS, metadata={
            "series_days": len(done),
            **{f"days_{s}": int((done["status"] == s).sum()) for s in ("complete", "partial", "gaps")}})

    return usage_from_raw


def build_billing_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="billing_from_raw",
        specs=[
            dg.AssetSpec(BILLING_READS, deps=[RAW_FILES], group_name=BILLING_GROUP, kinds={"pandas", "sql"},
                         description="SMT meter reads (daily usage CSV, monthly billing JSON): one row per ESIID, "
                                     "meter, channel, read period and source. Partitioned by ESIID × the Central "
                                     "day the read period ends on.",
                         metadata={"dagster/column_schema": column_schema(billing_read),
                                   "dagster/table_name": "billing_read"}),
            dg.AssetSpec(RECONCILIATION, deps=[BILLING_READS, USAGE_INTERVALS], group_name=BILLING_GROUP,
                         kinds={"pandas", "sql"},
                         description="Each billing read against the real intervals over the same local-time "
                                     "window: difference and match | mismatch | insufficient_intervals.",
                         metadata={"dagster/column_schema": column_schema(billing_reconciliation),
                                   "dagster/table_name": "billing_reconciliation"}),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def billing_from_raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         raw_store: RawStoreResource, rules: IngestRulesResource):
        """Rebuild the selected partitions' billing reads from raw (if selected) and reconcile them."""
        with_reads = BILLING_READS in context.selected_asset_keys
        results = rebuild_partitions(context, lambda esiid, start, end: rebuild_billing_days(
            warehouse.engine(), raw_store.store(), esiid, start, end, fallback_esiid=rules.dev_fallback_esiid or None,
            tolerance=rules.tolerance(), reads=with_reads))
        if with_reads:
            yield dg.MaterializeResult(asset_key=BILLING_READS, metadata=_rebuild_metadata(context, results))
        if RECONCILIATION in context.selected_asset_keys:
            done = _concat([r.reconciliation for r in results], ["status"])
            yield dg.MaterializeResult(asset_key=RECONCILIATION, metadata={
                "reads": len(done), **{s: int((done["status"] == s).sum())
                                       for s in ("match", "mismatch", "insufficient_intervals")}})

    return billing_from_raw


def rebuild_partitions(context: dg.AssetExecutionContext, rebuild) -> list:
    """Call ``rebuild(esiid, start, end)`` for each ESIID's runs of consecutive selected days."""
    dates_by_esiid: dict[str, set[dt.date]] = defaultdict(set)
    for key in context.partition_keys:
        esiid, day = split_key(key)
        dates_by_esiid[esiid].add(dt.date.fromisoformat(day))
    results = []
    for esiid, dates in sorted(dates_by_esiid.items()):
        for start, end in contiguous_ranges(sorted(dates)):
            results.append(rebuild(esiid, start, end))
            context.log.info(f"rebuilt {mask(esiid)} {start}..{end} from {len(results[-1].raw_file_ids)} raw file(s)")
    return results


def _rebuild_metadata(context: dg.AssetExecutionContext, results: list) -> dict:
    return {"partitions": len(context.partition_keys),
            "raw_files_replayed": len({i for r in results for i in r.raw_file_ids}),
            "rows_deleted": sum(r.rows_deleted for r in results), "rows_written": sum(r.rows_written for r in results)}


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def contiguous_ranges(dates: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[(start, end)] runs of consecutive days in a sorted list."""
    runs = groupby(enumerate(dates), key=lambda p: p[1] - dt.timedelta(days=p[0]))
    return [(g[0][1], g[-1][1]) for g in (list(grp) for _, grp in runs)]
