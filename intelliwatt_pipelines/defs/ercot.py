"""ERCOT's TDSP ESIID extracts in Dagster (vendor-apis.md §2.6): the ``ercot`` resource (MIS), the assets
``ercot_extract_files`` (the ERCOT folder always; ERCOT MIS too when INTELLIWATT_FLAG_ERCOT is on) and
``service_points`` (applies the stored files in order), ``ercot_extract_job`` and its 06:30 Central
schedule (gated by the flag). The work is in ``ingest.ercot``.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import httpx

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.cdm.tables import service_point
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.assets import table_metadata
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ingest import ercot as ingest
from intelliwatt_pipelines.vendors.ercot.client import ErcotConfig, ErcotError, ErcotMisClient
from intelliwatt_pipelines.vendors.ercot.requests import BASE_URL

FLAG_ENV = "INTELLIWATT_FLAG_ERCOT"
GROUP = "reference"
EXTRACT_FILES = dg.AssetKey("ercot_extract_files")
SERVICE_POINTS = dg.AssetKey("service_points")
JOB = "ercot_extract_job"
SCHEDULE = "ercot_extract_schedule"


class ErcotResource(dg.ConfigurableResource):
    """ERCOT MIS (public, no login) and the ERCOT folder. ``enabled`` (INTELLIWATT_FLAG_ERCOT) gates MIS
    only: the folder is read regardless."""

    enabled: bool = False
    mis_base_url: str = BASE_URL
    timeout_s: float = 60.0
    inbox_dir: str = ""

    def client(self, http: httpx.Client | None = None) -> ErcotMisClient:
        if not self.enabled:
            raise dg.Failure(f"ERCOT MIS fetching disabled by {FLAG_ENV} (set it to true)")
        return ErcotMisClient(ErcotConfig(base_url=self.mis_base_url, timeout_s=self.timeout_s), http)


def ercot_resource(settings: Settings) -> ErcotResource:
    return ErcotResource(enabled=settings.flag_ercot, mis_base_url=settings.ercot_mis_base_url,
                         timeout_s=settings.ercot_timeout_s, inbox_dir=str(settings.ercot_inbox_dir))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dg.asset(key=EXTRACT_FILES, group_name=GROUP, kinds={"ercot"},
          description="ERCOT TDSP ESIID extract ZIPs (report 203) stored as raw files and listed in "
                      "ercot_extract_file: the ERCOT folder always, ERCOT MIS's document list when "
                      f"{FLAG_ENV}=true (new DocIDs only).")
@redacted_errors
def ercot_extract_files(context: dg.AssetExecutionContext, ercot: ErcotResource, warehouse: WarehouseResource,
                        raw_store: RawStoreResource) -> dg.MaterializeResult:
    engine, store = warehouse.engine(), raw_store.store()
    local = ingest.take_local(engine, store, Path(ercot.inbox_dir), now=_now())
    metadata = {"ercot_folder": ercot.inbox_dir, "local_new_per_tdsp": dg.MetadataValue.json(local.new)}
    skipped = list(local.skipped)
    if ercot.enabled:
        try:
            with ercot.client() as client:
                mis = ingest.take_mis(engine, store, client, now=_now())
        except ErcotError as error:
            raise dg.Failure(f"ERCOT MIS: {error}", metadata=metadata) from None
        metadata["mis_new_per_tdsp"] = dg.MetadataValue.json(mis.new)
        skipped += mis.skipped
    else:
        metadata["mis"] = f"not fetched: {FLAG_ENV} is off (ERCOT folder only)"
    metadata["skipped"] = dg.MetadataValue.json(skipped)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(key=SERVICE_POINTS, group_name=GROUP, kinds={"ercot"}, deps=[EXTRACT_FILES],
          description="service_point: one row per ESIID from the stored ERCOT extracts, applied per TDSP in order "
                      "(the latest full file, then later daily files by publish date); idempotent.",
          metadata=table_metadata(service_point))
@redacted_errors
def service_points(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   raw_store: RawStoreResource) -> dg.MaterializeResult:
    outcomes = ingest.apply_pending(warehouse.engine(), raw_store.store(), now=_now())
    per_tdsp: dict[str, dict[str, int]] = {}
    for o in outcomes:
        counts = per_tdsp.setdefault(o.tdsp, {"files": 0, "rows_read": 0, "rows_applied": 0, "rows_invalid": 0})
        counts["files"] += 1
        for name in ("rows_read", "rows_applied", "rows_invalid"):
            counts[name] += getattr(o, name)
    failed = [f"{o.doc_id}: {o.error}" for o in outcomes if o.status == "failed"]
    metadata = {"files_applied": sum(o.status == "applied" for o in outcomes), "files_failed": len(failed),
                "per_tdsp": dg.MetadataValue.json(per_tdsp), "failed": dg.MetadataValue.json(failed),
                **table_metadata(service_point)}
    for failure in failed:
        context.log.warning(f"ERCOT extract failed: {failure}")
    return dg.MaterializeResult(metadata=metadata)


ERCOT_EXTRACT_JOB = dg.define_asset_job(JOB, selection=[EXTRACT_FILES, SERVICE_POINTS],
                                        tags={"intelliwatt/kind": "ercot"},
                                        description="Take new ERCOT extract ZIPs (folder; MIS when "
                                                    f"{FLAG_ENV}=true) and apply them to service_point.")


def build_ercot_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Daily 06:30 Central (ERCOT posts the dailies around 06:20)."""
    enabled = settings.flag_ercot

    @dg.schedule(name=SCHEDULE, cron_schedule="30 6 * * *", job_name=JOB, execution_timezone=CENTRAL_TZ,
                 description=f"Daily 06:30 Central: ercot_extract_job. Needs {FLAG_ENV}=true.",
                 default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED,
                 tags={"intelliwatt/schedule": SCHEDULE})
    def ercot_extract_schedule(context: dg.ScheduleEvaluationContext):
        if not enabled:
            return dg.SkipReason(f"{SCHEDULE} disabled by {FLAG_ENV}")
        at = context.scheduled_execution_time or _now()
        return dg.RunRequest(run_key=f"{SCHEDULE}:{at.isoformat()}")

    return ercot_extract_schedule


def build_ercot_defs(settings: Settings) -> dict:
    """The ERCOT definitions for ``defs/definitions.py``."""
    return {"assets": [ercot_extract_files, service_points], "jobs": [ERCOT_EXTRACT_JOB],
            "schedules": [build_ercot_schedule(settings)], "sensors": [], "asset_checks": [],
            "resources": {"ercot": ercot_resource(settings)}}
