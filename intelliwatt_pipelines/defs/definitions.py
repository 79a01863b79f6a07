"""Everything wired together from one Settings object (so tests can build their own)."""


import datetime as dt
import os

import dagster as dg

from intelliwatt_pipelines import markets
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.assets import RUN_EXECUTOR
from intelliwatt_pipelines.defs.checks import (
    ALL_CHECKS,
    ONEPWR_CHECKS,
    billing_reads_plausible,
    billing_reconciliation_mismatches,
    daily_completeness_threshold,
    usage_intervals_schema,
)
from intelliwatt_pipelines.defs.ercot import build_ercot_defs
from intelliwatt_pipelines.defs.from_raw import build_billing_asset, build_usage_asset
from intelliwatt_pipelines.defs.iot_spool import build_iot_spool_sensor
from intelliwatt_pipelines.defs.keys import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RAW_FILES,
    RECONCILIATION,
    USAGE_INTERVALS,
)
from intelliwatt_pipelines.defs.logs import console_logger
from intelliwatt_pipelines.defs.onepwr import build_onepwr_defs
from intelliwatt_pipelines.defs.partitions import day_partitions, partition_start
from intelliwatt_pipelines.defs.plans import build_plan_defs
from intelliwatt_pipelines.defs.raw_files import INBOX_SOURCE, SFTP_SOURCE, build_raw_files_asset
from intelliwatt_pipelines.defs.rebuild import REBUILD_HOMES_JOB, build_rebuild_homes_job
from intelliwatt_pipelines.defs.resources import (
    InboxResource,
    IngestRulesResource,
    RawStoreResource,
    SftpResource,
    WarehouseResource,
)
from intelliwatt_pipelines.defs.sensors import build_inbox_sensor, build_upload_sensor
from intelliwatt_pipelines.defs.smt import smt_api_resource
from intelliwatt_pipelines.defs.smt_jobs import build_smt_energydata_job
from intelliwatt_pipelines.defs.smt_lifecycle import (
    build_smt_lifecycle_jobs,
    smt_agreements_asset,
    smt_subscriptions_asset,
)
from intelliwatt_pipelines.defs.smt_schedules import build_backfill_sensor, build_smt_schedules
from intelliwatt_pipelines.defs.tariffs import build_tariff_defs
from intelliwatt_pipelines.defs.warehouse_partitions import build_partition_defs
from intelliwatt_pipelines.defs.wattbuy import build_wattbuy_defs
from intelliwatt_pipelines.transport.base import DEFAULT_PATTERNS

__all__ = ["INGEST_JOB", "REBUILD_JOB", "BILLING_REBUILD_JOB", "REBUILD_HOMES_JOB", "build_defs"]

INGEST_JOB = "inbox_ingest_job"
REBUILD_JOB = "usage_rebuild_job"
BILLING_REBUILD_JOB = "billing_rebuild_job"
STATUS_PAGE = "/api/v1/admin/status"  # the API's status page (api/picture_routes.py)


def _secret_safe(name: str, value: str):
    """An EnvVar when the value came from that variable, so the UI never displays it (URLs hold passwords)."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() == value else value


def _secret(name: str):
    """A secret is only ever an EnvVar (never a literal the UI could show); empty when unset."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def delivery_freshness(settings: Settings) -> dg.FreshnessPolicy:
    """Assets fed by deliveries warn after the usual delivery lag and fail after a margin more."""
    lag = dt.timedelta(hours=settings.delivery_lag_hours)
    return dg.FreshnessPolicy.time_window(warn_window=lag,
                                          fail_window=lag + dt.timedelta(hours=settings.freshness_margin_hours))


def api_links(settings: Settings) -> dict:
    """Links from the asset pages to what the API draws (behind its keys: the links hold no ESIID)."""
    base = settings.public_base_url or f"http://{settings.api_host}:{settings.api_port}"
    return {"status_page": dg.MetadataValue.url(f"{base}{STATUS_PAGE}"),
            "pictures": dg.MetadataValue.md(
                f"Per home, with an API key: `{base}/api/v1/esiids/{{esiid}}/completeness.svg` (days by status) and "
                f"`{base}/api/v1/esiids/{{esiid}}/usage-heatmap.svg` (kWh by hour and day). The "
                f"[status page]({base}{STATUS_PAGE}) links them for the homes with gaps.")}


def onepwr(settings: Settings) -> bool:
    """A 1PWR deployment (INTELLIWATT_MARKET lesotho, benin or zambia): its pulls, spool sensor and check
    meters are defined there only, so a Texas deployment's definitions stay as they were."""
    return settings.market != markets.DEFAULT_MARKET


def _delivery_sensors(settings: Settings, ingest_job) -> list[dg.SensorDefinition]:
    """The inbox, SFTP and upload sensors: running unless INTELLIWATT_FLAG_SMT is off (SFTP also needs a host);
    in 1PWR's markets, the IoT spool's, running when INTELLIWATT_IOT_KEY is set."""
    on, off = dg.DefaultSensorStatus.RUNNING, dg.DefaultSensorStatus.STOPPED
    return [build_inbox_sensor(ingest_job, INBOX_SOURCE, on if settings.flag_smt else off),
            build_inbox_sensor(ingest_job, SFTP_SOURCE, on if settings.flag_smt and settings.sftp_host else off),
            build_upload_sensor(ingest_job, settings.inbox_batch_files, on if settings.flag_smt else off),
            *([build_iot_spool_sensor(ingest_job, settings)] if onepwr(settings) else [])]


def build_defs(settings: Settings) -> dg.Definitions:
    days = day_partitions(partition_start(settings))
    freshness = delivery_freshness(settings)
    checks = [*ALL_CHECKS, *(ONEPWR_CHECKS if onepwr(settings) else [])]
    ingest_job = dg.define_asset_job(
        INGEST_JOB, executor_def=RUN_EXECUTOR, selection=dg.AssetSelection.assets(RAW_FILES) | dg.AssetSelection.checks(*checks),
        description="Capture and normalize a batch of inbox files; one materialization per asset per Central "
                    "day written.")
    rebuild_job = dg.define_asset_job(
        REBUILD_JOB, executor_def=RUN_EXECUTOR, selection=dg.AssetSelection.assets(USAGE_INTERVALS, DAILY_COMPLETENESS)
        | dg.AssetSelection.checks(usage_intervals_schema, daily_completeness_threshold,
                                   billing_reconciliation_mismatches),
        partitions_def=days,
        description="Rewrite days of intervals and completeness from the stored raw files: every home with raw "
                    "coverage, or the ESIIDs in the config (ops.usage_from_raw.config.esiids).")
    billing_job = dg.define_asset_job(
        BILLING_REBUILD_JOB, executor_def=RUN_EXECUTOR, selection=dg.AssetSelection.assets(BILLING_READS, RECONCILIATION)
        | dg.AssetSelection.checks(billing_reads_plausible, billing_reconciliation_mismatches),
        partitions_def=days,
        description="Rewrite billing reads ending on the selected days from the stored raw files, and "
                    "reconcile them with the intervals (ops.billing_from_raw.config.esiids to pick homes).")
    reference = _reference_defs(settings)
    return dg.Definitions(
        assets=[build_raw_files_asset(days, freshness),
                build_usage_asset(days, settings.backfill_days_per_run, freshness, api_links(settings)),
                build_billing_asset(days, settings.backfill_days_per_run, freshness),
                smt_agreements_asset, smt_subscriptions_asset, *reference["assets"]],
        asset_checks=[*checks, *reference["asset_checks"]],
        jobs=[ingest_job, rebuild_job, billing_job, build_rebuild_homes_job(days), build_smt_energydata_job(),
              *build_smt_lifecycle_jobs(), *reference["jobs"]],
        schedules=[*build_smt_schedules(settings), *reference["schedules"]],
        loggers={"console": console_logger},
        sensors=[*_delivery_sensors(settings, ingest_job), build_backfill_sensor(settings), *reference["sensors"]],
        resources={**_resources(settings), **reference["resources"]},
    )


def _reference_defs(settings: Settings) -> dict:
    """The reference-data definitions (WattBuy, ERCOT, tariffs), the plan analyzer, the warehouse's
    partition upkeep and, in 1PWR's markets, the SparkMeter pulls, each module's lists joined."""
    parts = [build_ercot_defs(settings), build_wattbuy_defs(settings), build_tariff_defs(settings),
             build_plan_defs(settings), build_partition_defs(settings),
             *([build_onepwr_defs(settings)] if onepwr(settings) else [])]
    return {key: ({k: v for part in parts for k, v in part[key].items()} if key == "resources"
                  else [item for part in parts for item in part[key]])
            for key in ("assets", "asset_checks", "jobs", "schedules", "sensors", "resources")}


def _resources(settings: Settings) -> dict:
    """The resources, from the settings; secrets only as EnvVars."""
    return {
        "warehouse": WarehouseResource(url=_secret_safe("INTELLIWATT_WAREHOUSE_URL", settings.warehouse_url)),
        "raw_store": RawStoreResource(url=_secret_safe("INTELLIWATT_RAW_STORE_URL", settings.raw_store_url)),
        "inbox": InboxResource(path=str(settings.inbox_dir), min_age_seconds=settings.inbox_min_age_seconds,
                               batch_files=settings.inbox_batch_files, claim_seconds=settings.inbox_claim_seconds),
        "sftp": SftpResource(
            host=settings.sftp_host, port=settings.sftp_port, username=settings.sftp_user,
            private_key_path=settings.sftp_key_path, key_passphrase=_secret("INTELLIWATT_SFTP_KEY_PASSPHRASE"),
            known_hosts_path=settings.sftp_known_hosts, host_key_policy=settings.sftp_host_key_policy,
            folders=list(settings.sftp_folders), patterns=list(settings.sftp_patterns or DEFAULT_PATTERNS),
            min_age_seconds=settings.sftp_min_age_seconds, batch_files=settings.inbox_batch_files,
            delete_after_ingest=settings.sftp_delete_after_ingest),
        "rules": IngestRulesResource(
            max_invalid_fraction=settings.max_invalid_fraction, completeness_threshold=settings.completeness_threshold,
            gnupghome=settings.gnupghome, gpg_passphrase=_secret("INTELLIWATT_GPG_PASSPHRASE"),
            max_unpacked_bytes=settings.max_unpacked_bytes, dev_fallback_esiid=settings.dev_fallback_esiid,
            reconcile_tolerance_kwh=settings.reconcile_tolerance_kwh,
            reconcile_tolerance_pct=settings.reconcile_tolerance_pct,
            source_precedence=settings.source_precedence, reading_floor=settings.reading_floor,
            reading_future_days=settings.reading_future_days, max_span_days=settings.max_span_days,
            green_button_enabled=settings.flag_green_button),
        # Always present so the job loads; off by default (INTELLIWATT_FLAG_SMT_API), when any use
        # fails naming the flag. Secrets are EnvVars, so `dagster dev` starts without SMT settings.
        "smt_api": smt_api_resource(settings),
    }
