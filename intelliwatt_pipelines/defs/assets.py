"""Assets: raw files in, canonical usage intervals and daily completeness out.

``raw_files`` is what the inbox sensor runs: one run per batch of files, which captures, normalizes
and then reports every (ESIID, day) partition it wrote. ``usage_intervals`` and
``daily_completeness`` materialized directly (UI, CLI, backfill) rebuild their partitions from the
stored raw bytes, in one run for any range.
"""


import datetime as dt
from collections import defaultdict
from itertools import groupby

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import COLUMN_DOCS, daily_completeness, raw_file, usage_interval
from intelliwatt_pipelines.defs.partitions import esiid_day_key, esiid_partitions, split_key
from intelliwatt_pipelines.defs.resources import (
    InboxResource,
    IngestRulesResource,
    RawStoreResource,
    SftpResource,
    WarehouseResource,
)
from intelliwatt_pipelines.ingest import rebuild_esiid_days
from intelliwatt_pipelines.ingest.inbox import new_entries, reprocess_raw_files, take_entry
from intelliwatt_pipelines.transport import RemoteEntry, TransportError
from intelliwatt_pipelines.ingest.normalize import FileOutcome
from intelliwatt_pipelines.pii import mask, redact

RAW_FILES = dg.AssetKey("raw_files")
USAGE_INTERVALS = dg.AssetKey("usage_intervals")
DAILY_COMPLETENESS = dg.AssetKey("daily_completeness")
GROUP = "usage"
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


def report_partitions(context: dg.AssetExecutionContext, outcomes: list[FileOutcome], valid_days: set[str]) -> int:
    """Register new ESIIDs and mark every (ESIID, day) these files wrote as materialized."""
    frames = [o.completeness for o in outcomes if o.status == "normalized" and not o.completeness.empty]
    if not frames:
        return 0
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(["esiid", "meter", "channel", "local_date"], keep="last")
    esiids = sorted(set(rows["esiid"]))
    known = set(context.instance.get_dynamic_partitions(esiid_partitions.name))
    if new := [e for e in esiids if e not in known]:
        context.instance.add_dynamic_partitions(esiid_partitions.name, new)
    outside = 0
    for (esiid, day), group in rows.groupby(["esiid", "local_date"], sort=True):
        if str(day) not in valid_days:
            outside += 1
            continue
        key = esiid_day_key(esiid, day)
        intervals = int(group["actual_intervals"].sum() + group["filled_intervals"].sum())
        if intervals:  # a day inside a gap has a completeness row but no intervals
            context.log_event(dg.AssetMaterialization(asset_key=USAGE_INTERVALS, partition=key, metadata={
                "intervals": intervals, "kwh": float(group["kwh_real"].sum())}))
        context.log_event(dg.AssetMaterialization(asset_key=DAILY_COMPLETENESS, partition=key, metadata={
            "status": ",".join(sorted(set(group["status"]))),
            "completeness": float(group["completeness"].min()),
        }))
    if outside:
        context.log.warning(f"{outside} (ESIID, day) pairs fall outside the partition range "
                            "(INTELLIWATT_PARTITION_START..today): written, not shown as partitions")
    return len(rows)


def _batch_metadata(outcomes: list[FileOutcome], series_days: int) -> dict:
    table = pd.DataFrame([{
        "raw_file_id": o.raw_file_id, "parent_id": o.parent_id or "", "filename": redact(o.filename),
        "status": o.status, "kind": o.kind,
        "rows_read": o.rows_read, "rows_valid": o.rows_valid, "rows_invalid": o.rows_invalid,
        "rows_written": o.rows_written, "kwh": round(o.kwh, 3), "error": redact((o.error or "")[:300]),
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
        "file_table": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "no files"),
    }


def build_usage_asset(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
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
        engine, store = warehouse.engine(), raw_store.store()
        dates_by_esiid: dict[str, set[dt.date]] = defaultdict(set)
        for key in context.partition_keys:
            esiid, day = split_key(key)
            dates_by_esiid[esiid].add(dt.date.fromisoformat(day))
        files, deleted, written, days = set(), 0, 0, []
        for esiid, dates in sorted(dates_by_esiid.items()):
            for start, end in contiguous_ranges(sorted(dates)):
                result = rebuild_esiid_days(engine, store, esiid, start, end,
                                            fallback_esiid=rules.dev_fallback_esiid or None)
                context.log.info(f"rebuilt {mask(esiid)} {start}..{end} from {len(result.raw_file_ids)} raw file(s)")
                files |= set(result.raw_file_ids)
                deleted, written = deleted + result.rows_deleted, written + result.rows_written
                days.append(result.completeness)
        done = pd.concat(days, ignore_index=True) if days else pd.DataFrame(columns=["status"])
        yield dg.MaterializeResult(asset_key=USAGE_INTERVALS, metadata={
            "partitions": len(context.partition_keys), "raw_files_replayed": len(files),
            "rows_deleted": deleted, "rows_written": written})
        yield dg.MaterializeResult(asset_key=DAILY_COMPLETENESS, metadata={
            "series_days": len(done),
            **{f"days_{s}": int((done["status"] == s).sum()) for s in ("complete", "partial", "gaps")}})

    return usage_from_raw


def contiguous_ranges(dates: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[(start, end)] runs of consecutive days in a sorted list."""
    runs = groupby(enumerate(dates), key=lambda p: p[1] - dt.timedelta(days=p[0]))
    return [(g[0][1], g[-1][1]) for g in (list(grp) for _, grp in runs)]
