"""``iot_spool_sensor``: once a minute, seal the IoT spool's closed meter-hours into raw files
(``ingest.iot_spool``) and launch one ingest run that normalizes them, as ``upload_sensor`` does
for uploaded files (the same job, run config and claim bookkeeping; vendor-apis.md §3.2, push
ingestion: never one run per reading)."""

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import dagster as dg

from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.sensors import (
    RECLAIM_AFTER_SECONDS,
    UPLOAD_PREFIX,
    plan_requests,
    reprocess_config,
    run_key_states,
)
from intelliwatt_pipelines.ingest.inbox import SensorState, ready_entries
from intelliwatt_pipelines.ingest.iot_spool import SOURCE, capture_closed_hours, pending_iot_files
from intelliwatt_pipelines.transport import RemoteEntry

IOT_SPOOL_SENSOR = "iot_spool_sensor"


def build_iot_spool_sensor(job, settings: Settings) -> dg.SensorDefinition:
    """Running when INTELLIWATT_IOT_KEY is set (push ingestion on), stopped otherwise."""
    spool = Path(settings.iot_spool)
    status = dg.DefaultSensorStatus.RUNNING if settings.iot_key else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(name=IOT_SPOOL_SENSOR, job=job, minimum_interval_seconds=60, default_status=status,
               description="Seals the hours of 1PWR IoT readings (POST /api/v1/readings) that ended over 10 minutes "
                           "ago into one raw file per meter and hour (source onepwr_iot), then launches one ingest "
                           "run for every sealed file not processed yet. Reads INTELLIWATT_IOT_SPOOL, which the API "
                           "writes: both must see the same folder.")
    @redacted_errors
    def iot_spool_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                         raw_store: RawStoreResource):
        if not spool.is_dir():
            return dg.SkipReason(f"no IoT spool folder {spool} yet (nothing was posted to /api/v1/readings)")
        engine = warehouse.engine()
        sealed = capture_closed_hours(engine, raw_store.store(), spool, dt.datetime.now(dt.timezone.utc))
        # Pending, not just sealed now: a file sealed by a tick that died before its request still gets a run.
        fresh = [RemoteEntry(f"{UPLOAD_PREFIX}{i}", size, 0) for i, size in pending_iot_files(engine)]
        now = time.time()
        state = SensorState(**json.loads(context.cursor)) if context.cursor else SensorState()
        finished, active = run_key_states(context.instance, {c[1] for c in state.claims.values()})
        ready, state = ready_entries(fresh, state, now=now, min_age_seconds=0, finished_run_keys=finished,
                                     active_run_keys=active, reclaim_after_seconds=RECLAIM_AFTER_SECONDS)
        # One run for all of them (an hour of a thousand meters is a thousand small files).
        requests = plan_requests(ready, state, now, max(len(ready), 1), SOURCE, config_for=reprocess_config)
        cursor = json.dumps(dataclasses.asdict(state))
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(skip_reason=f"{len(sealed)} hour(s) sealed, {len(fresh)} IoT file(s) pending, "
                                           f"{len(state.claims)} in runs", cursor=cursor)

    return iot_spool_sensor
