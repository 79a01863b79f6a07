"""The raw_files asset: take a batch of inbox (or SFTP) files, capture and normalize them, and
report one materialization per asset per Central day they wrote. ``raw_file_ids`` in its config
reprocesses files already in the raw store instead (quarantined ones, uploads)."""

import datetime as dt

import dagster as dg

from intelliwatt_pipelines.cdm.day_summaries import reconciliation_by_day
from intelliwatt_pipelines.cdm.smt_backfills import mark_delivered
from intelliwatt_pipelines.cdm.tables import raw_file
from intelliwatt_pipelines.defs.assets import GROUP, described, table_metadata
from intelliwatt_pipelines.defs.keys import RAW_FILES
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.reporting import (
    billing_day_events,
    log_events,
    reconciliation_day_events,
    usage_day_events,
)
from intelliwatt_pipelines.defs.resources import (
    InboxResource,
    IngestRulesResource,
    RawStoreResource,
    SftpResource,
    WarehouseResource,
)
from intelliwatt_pipelines.defs.versions import raw_data_version
from intelliwatt_pipelines.ingest.batch_report import (
    SKIPPED_REASON,
    batch_facts,
    days_outside,
    failed_files,
    invalid_by_day,
    outcome_line,
    skipped_facts,
    written_frames,
)
from intelliwatt_pipelines.ingest.inbox import Claim, claim_owner, new_entries, reprocess_raw_files, take_claimed
from intelliwatt_pipelines.ingest.pipeline import FileOutcome
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines.transport import RemoteEntry, TransportError

INBOX_SOURCE = "inbox"
SFTP_SOURCE = "sftp"
RAW_FILES_FAILURES = "raw_files_failures"


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


def build_raw_files_asset(days_def: dg.DailyPartitionsDefinition,
                          freshness: dg.FreshnessPolicy | None = None) -> dg.AssetsDefinition:
    @dg.asset(
        key=RAW_FILES,
        group_name=GROUP,
        kinds={"python", "sql"},
        **described(RAW_FILES, "raw", "usage", freshness),
        description="Vendor files captured byte-for-byte into the content-addressed raw store, one "
                    "raw_file row per distinct content (PGP/ZIP packages and each CSV inside them, "
                    "linked by parent_id), then normalized into usage_intervals.",
        metadata=table_metadata(raw_file),
        check_specs=[dg.AssetCheckSpec(RAW_FILES_FAILURES, asset=RAW_FILES, blocking=False,
                                       description="Files this run took that failed to parse or validate "
                                                   "(raw bytes are kept).")],
    )
    @redacted_errors
    def raw_files(context: dg.AssetExecutionContext, config: RawFilesConfig, warehouse: WarehouseResource,
                  raw_store: RawStoreResource, inbox: InboxResource, sftp: SftpResource,
                  rules: IngestRulesResource) -> dg.MaterializeResult:
        engine, store = warehouse.engine(), raw_store.store()
        options = rules.options(delete_after_ingest=config.source == SFTP_SOURCE and sftp.delete_after_ingest)
        if config.raw_file_ids:
            outcomes = reprocess_raw_files(engine, store, config.raw_file_ids, run_id=context.run.run_id,
                                           options=options)
            for outcome in outcomes:
                context.log.info(outcome_line(outcome))
            broken, skipped = [], []
        else:
            claim = Claim(claim_owner(context.run.run_id), inbox.claim_seconds)
            outcomes, broken, skipped = _take_inbox(context, config, engine, store,
                                                    transport_for(config.source, inbox, sftp), options, claim)
        days = report_days(context, outcomes, set(days_def.get_partition_keys()))
        facts = batch_facts(outcomes, days)
        # SMT history requests this batch completed (coverage spanning their window) become delivered.
        with engine.begin() as conn:
            facts["smt_backfills_delivered"] = len(mark_delivered(conn, dt.datetime.now(dt.timezone.utc)))
        metadata = {**facts, "file_table": dg.MetadataValue.md(facts["file_table"]), **skipped_facts(skipped)}
        if broken:
            raise dg.Failure(description=f"{len(broken)} transfer(s) failed and will be retried: " + "; ".join(broken),
                             metadata=metadata)
        return dg.MaterializeResult(metadata=metadata, check_results=[_failures_check(outcomes)],
                                    data_version=raw_data_version())

    return raw_files


def _take_inbox(context, config: RawFilesConfig, engine, store, transport, options,
                claim: Claim) -> tuple[list, list[str], list[str]]:
    """Take the configured entries (or everything new) from one inbox: (outcomes, transfer errors,
    names of the entries skipped because another process holds or took them).

    One file after another, in listing order: files of one home in a batch build on each other
    (completeness, and the later delivery winning a tie), as a rebuild from raw replays them.
    """
    outcomes, broken, skipped = [], [], []
    try:
        with transport.session():
            entries = [RemoteEntry(e.path, e.size_bytes, e.mtime_ns) for e in config.entries] or \
                new_entries(engine, transport.source, transport.list_entries())
            for entry in entries:
                try:
                    taken = take_claimed(engine, store, transport, entry, claim, run_id=context.run.run_id,
                                         options=options)
                except TransportError as exc:  # nothing registered; the sensor offers it again
                    broken.append(redact(str(exc)))
                    context.log.error(broken[-1])
                    continue
                if taken is None:
                    skipped.append(redact(entry.name))
                    context.log.info(f"{skipped[-1]}: {SKIPPED_REASON}")
                    continue
                for outcome in taken:
                    context.log.info(outcome_line(outcome))
                outcomes += taken
    except TransportError as exc:
        broken.append(redact(str(exc)))
    return outcomes, broken, skipped


def _failures_check(outcomes: list[FileOutcome]) -> dg.AssetCheckResult:
    failed, table = failed_files(outcomes)
    return dg.AssetCheckResult(
        check_name=RAW_FILES_FAILURES, passed=not failed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"files_failed": failed, **({"failures": dg.MetadataValue.md(table)} if failed else {})})


def report_days(context, outcomes: list[FileOutcome], valid_days: set[str]) -> int:
    """Log one materialization per asset per Central day these files wrote; returns the series-days."""
    days, reads, recon = written_frames(outcomes)
    extra = {"raw_files_in_run": sum(o.status == "normalized" for o in outcomes)}
    log_events(context, usage_day_events(days, invalid_by_day(outcomes), valid_days, extra)
               + billing_day_events(reads, valid_days, extra)
               + reconciliation_day_events(reconciliation_by_day(recon), valid_days, extra))
    if outside := days_outside((days, reads, recon), valid_days):
        context.log.warning(f"{len(outside)} day(s) fall outside the partition range "
                            "(INTELLIWATT_PARTITION_START..today): written, not shown as partitions")
    return len(days)
