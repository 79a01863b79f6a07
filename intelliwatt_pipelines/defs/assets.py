"""Assets: raw files in; canonical usage intervals, daily completeness, billing reads and their
reconciliation out, partitioned by Central day.

``raw_files`` is what the inbox sensor runs: one run per batch of files, which captures, normalizes
and then reports one materialization per asset per day it wrote. The day-partitioned assets
materialized directly (UI backfill, Launchpad, CLI) rebuild their days from the stored raw bytes, for
every home with raw coverage or for the ESIIDs in their config.
"""


from collections import Counter
from dataclasses import dataclass, field

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
from intelliwatt_pipelines.defs.keys import RAW_FILES
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.partitions import day_range
from intelliwatt_pipelines.defs.reporting import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RECONCILIATION,
    RECONCILIATION_STATUSES,
    USAGE_INTERVALS,
    billing_day_events,
    combined_by_day,
    gathered,
    log_events,
    reconciliation_by_day,
    reconciliation_day_events,
    usage_day_events,
)
from intelliwatt_pipelines.defs.versions import code_version, raw_data_version
from intelliwatt_pipelines.defs.resources import (
    InboxResource,
    IngestRulesResource,
    RawStoreResource,
    SftpResource,
    WarehouseResource,
)
from intelliwatt_pipelines.esiid import ESIID_RE
from intelliwatt_pipelines.ingest.inbox import Claim, claim_owner, new_entries, reprocess_raw_files, take_claimed
from intelliwatt_pipelines.ingest.normalize import FileOutcome, homes_covered, rebuild_billing_days, rebuild_homes_days
from intelliwatt_pipelines.pii import mask, redact
from intelliwatt_pipelines.transport import RemoteEntry, TransportError

GROUP = "usage"
BILLING_GROUP = "billing"
INBOX_SOURCE = "inbox"
SFTP_SOURCE = "sftp"
RAW_FILES_FAILURES = "raw_files_failures"
SKIPPED_REASON = "skipped: taken by another process"
OWNERS = ["team:intelliwatt-data"]


def described(key: dg.AssetKey, layer: str, domain: str, freshness: dg.FreshnessPolicy | None = None) -> dict:
    """Owner, tags and code version on every asset alike, and a freshness policy on those fed by
    deliveries (a stalled feed then shows in the UI)."""
    return {"owners": OWNERS, "tags": {"layer": layer, "domain": domain}, "code_version": code_version(key),
            **({"freshness_policy": freshness} if freshness else {})}


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
        metadata={"dagster/column_schema": column_schema(raw_file), "dagster/table_name": "raw_file"},
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
            _log_outcomes(context, outcomes)
            broken, skipped = [], []
        else:
            claim = Claim(claim_owner(context.run.run_id), inbox.claim_seconds)
            outcomes, broken, skipped = _take_inbox(context, config, engine, store,
                                                    transport_for(config.source, inbox, sftp), options, claim)
        days = report_days(context, outcomes, set(days_def.get_partition_keys()))
        metadata = {**_batch_metadata(outcomes, days), **_skipped_metadata(skipped)}
        if broken:
            raise dg.Failure(description=f"{len(broken)} transfer(s) failed and will be retried: " + "; ".join(broken),
                             metadata=metadata)
        return dg.MaterializeResult(metadata=metadata, check_results=[_failures_check(outcomes)],
                                    data_version=raw_data_version())

    return raw_files


def _take_inbox(context, config: "RawFilesConfig", engine, store, transport, options,
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
                _log_outcomes(context, taken)
                outcomes += taken
    except TransportError as exc:
        broken.append(redact(str(exc)))
    return outcomes, broken, skipped


def _skipped_metadata(skipped: list[str]) -> dict:
    return {"files_skipped": len(skipped),
            **({"files_skipped_reason": f"{SKIPPED_REASON}: " + ", ".join(skipped[:50])} if skipped else {})}


def _failures_check(outcomes: list[FileOutcome]) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if o.status in ("failed", "quarantined", "missing")]
    table = pd.DataFrame([(o.raw_file_id, redact(o.filename), o.status, redact((o.error or "")[:200])) for o in failed],
                         columns=["raw_file_id", "filename", "status", "error"])
    return dg.AssetCheckResult(
        check_name=RAW_FILES_FAILURES, passed=not failed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"files_failed": len(failed),
                  **({"failures": dg.MetadataValue.md(table.to_markdown(index=False))} if failed else {})})


def _log_outcomes(context: dg.AssetExecutionContext, outcomes: list[FileOutcome]) -> None:
    for outcome in outcomes:
        context.log.info(redact(f"raw_file {outcome.raw_file_id} ({outcome.filename}): {outcome.status}"
                                + (f" - {outcome.error}" if outcome.error else "")))


def report_days(context, outcomes: list[FileOutcome], valid_days: set[str]) -> int:
    """Log one materialization per asset per Central day these files wrote; returns the series-days."""
    done = [o for o in outcomes if o.status == "normalized"]
    days = gathered([o.completeness for o in done], ["esiid", "meter", "channel", "local_date"])
    reads = gathered([o.reads for o in done], ["esiid", "meter", "channel", "read_start", "read_end", "source"])
    recon = gathered([o.reconciliation for o in done], ["esiid", "meter", "channel", "read_start", "read_end", "source"])
    extra = {"raw_files_in_run": len(done)}
    log_events(context, usage_day_events(days, _invalid_by_day(done), valid_days, extra)
               + billing_day_events(reads, valid_days, extra)
               + reconciliation_day_events(reconciliation_by_day(recon), valid_days, extra))
    outside = {str(d) for f in (days, reads, recon) if len(f) for d in f["local_date"].unique()} - valid_days
    if outside:
        context.log.warning(f"{len(outside)} day(s) fall outside the partition range "
                            "(INTELLIWATT_PARTITION_START..today): written, not shown as partitions")
    return len(days)


def _invalid_by_day(outcomes: list[FileOutcome]) -> dict[str, int]:
    """Invalid rows of the files that wrote each day (a file's invalid rows count on each of its days)."""
    out: dict[str, int] = {}
    for o in outcomes:
        if o.rows_invalid and len(o.completeness):
            for day in set(map(str, o.completeness["local_date"])):
                out[day] = out.get(day, 0) + o.rows_invalid
    return out


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


class HomesConfig(dg.Config):
    """Which homes to rebuild for the selected days. Empty: every home with raw coverage in them."""

    esiids: list[str] = []


def selected_homes(config: HomesConfig, engine: sa.Engine, start, end, *, billing: bool = False) -> list[str]:
    """The configured ESIIDs (checked) or every home the raw files cover on [start, end]."""
    bad = [e for e in config.esiids if not ESIID_RE.match(e)]
    if bad:
        raise dg.Failure(description=f"{len(bad)} configured ESIID(s) are not 17 or 22 ASCII digits: "
                                     + ", ".join(f"{mask(b)} ({len(b)} characters)" for b in bad[:5]))
    return sorted(set(config.esiids)) or homes_covered(engine, start, end, billing=billing)


HOMES_PER_TRANSACTION = 100  # each covering raw file is parsed once per group of homes


@dataclass
class RebuildTotals:
    """What rebuilding many homes did, kept small: counts and per-day summaries, never every row."""

    homes: list[str]
    raw_file_ids: set[int] = field(default_factory=set)
    rows_deleted: int = 0
    rows_written: int = 0
    statuses: Counter = field(default_factory=Counter)
    home_days: list[pd.DataFrame] = field(default_factory=list)  # completeness rows, kept only when asked
    reconciliation: list[pd.DataFrame] = field(default_factory=list)  # reconciliation_by_day per group

    def add(self, result, keep_home_days: bool) -> None:
        self.raw_file_ids |= set(result.raw_file_ids)
        self.rows_deleted += result.rows_deleted
        self.rows_written += result.rows_written
        if len(result.completeness):
            self.statuses.update(result.completeness["status"])
            if keep_home_days:
                self.home_days.append(result.completeness)
        self.reconciliation.append(reconciliation_by_day(result.reconciliation))

    def metadata(self) -> dict:
        return {"homes": len(self.homes),
                **({"esiids": ", ".join(mask(e) for e in self.homes)} if 0 < len(self.homes) <= 20 else {}),
                "raw_files_replayed": len(self.raw_file_ids), "rows_deleted": self.rows_deleted,
                "rows_written": self.rows_written}


def rebuild_homes(context, homes: list[str], rebuild, *, keep_home_days: bool = False) -> RebuildTotals:
    """Call ``rebuild(esiids)`` for groups of homes: a group's days in memory at a time, one
    transaction each, and a file holding many homes parsed once per group, not once per home."""
    totals = RebuildTotals(homes)
    for i in range(0, len(homes), HOMES_PER_TRANSACTION):
        group = homes[i:i + HOMES_PER_TRANSACTION]
        totals.add(rebuild(group), keep_home_days)
        context.log.info(f"rebuilt {i + len(group)}/{len(homes)} home(s) from {len(totals.raw_file_ids)} raw file(s)")
    return totals


def nothing_stored(context, totals: RebuildTotals, start, end) -> bool:
    """True (and says so) when no raw file covers these homes and days and no row was there: the
    run then records no materialization, so a backfill of empty days leaves them empty in the UI."""
    if totals.raw_file_ids or totals.rows_deleted:
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
            dg.AssetSpec(USAGE_INTERVALS, deps=[RAW_FILES], group_name=GROUP, kinds={"pandas", "sql"},
                         skippable=True,
                         **described(USAGE_INTERVALS, "canonical", "usage", freshness),
                         description="Canonical 15-minute (or coarser) usage intervals per ESIID, meter and "
                                     "channel, UTC-keyed and revision-aware. Partitioned by Central day; "
                                     "a materialization rebuilds the selected days from raw, for the ESIIDs "
                                     "in config or every home with raw coverage.",
                         metadata={"dagster/column_schema": column_schema(usage_interval),
                                   "dagster/table_name": "usage_interval", **(links or {})}),
            dg.AssetSpec(DAILY_COMPLETENESS, deps=[USAGE_INTERVALS], group_name=GROUP, kinds={"pandas", "sql"},
                         skippable=True,
                         **described(DAILY_COMPLETENESS, "canonical", "usage"),
                         description="Per ESIID, meter, channel and Central day: expected vs found intervals "
                                     "(96/92/100), estimated and filled counts, kWh, and a status.",
                         metadata={"dagster/column_schema": column_schema(daily_completeness),
                                   "dagster/table_name": "daily_completeness", **(links or {})}),
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
        totals = rebuild_homes(context, homes, usage_rebuild(rules, engine, store, start, end))
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
            dg.AssetSpec(BILLING_READS, deps=[RAW_FILES], group_name=BILLING_GROUP, kinds={"pandas", "sql"},
                         skippable=True,
                         **described(BILLING_READS, "canonical", "billing", freshness),
                         description="SMT meter reads (daily usage CSV, monthly billing JSON): one row per ESIID, "
                                     "meter, channel, read period and source. Partitioned by the Central day "
                                     "the read period ends on.",
                         metadata={"dagster/column_schema": column_schema(billing_read),
                                   "dagster/table_name": "billing_read"}),
            dg.AssetSpec(RECONCILIATION, deps=[BILLING_READS, USAGE_INTERVALS], group_name=BILLING_GROUP,
                         skippable=True,
                         kinds={"pandas", "sql"}, **described(RECONCILIATION, "derived", "billing"),
                         description="Each billing read against the real intervals over the same local-time "
                                     "window: difference and match | mismatch | insufficient_intervals.",
                         metadata={"dagster/column_schema": column_schema(billing_reconciliation),
                                   "dagster/table_name": "billing_reconciliation"}),
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
        totals = rebuild_homes(context, homes, billing_rebuild(rules, engine, store, start, end, reads=with_reads))
        if nothing_stored(context, totals, start, end):
            return
        if with_reads:
            yield dg.MaterializeResult(asset_key=BILLING_READS, metadata=totals.metadata())
        if RECONCILIATION in context.selected_asset_keys:
            per_day = combined_by_day(totals.reconciliation)
            counts = {s: int(per_day[s].sum()) if len(per_day) else 0 for s in RECONCILIATION_STATUSES}
            yield dg.MaterializeResult(asset_key=RECONCILIATION, metadata={
                "homes": len(homes), "reads": sum(counts.values()), **counts})

    return billing_from_raw
