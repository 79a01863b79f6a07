"""Inbox sensors: one piece of code over the local folder or SFTP. List cheaply, hand files to runs
in batches; downloads and parsing happen in the runs."""

import dataclasses
import hashlib
import json
import time

import dagster as dg

from intelliwatt_pipelines.cdm.uploads import UPLOAD_SOURCE
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.raw_files import INBOX_SOURCE, SFTP_SOURCE, ingest_run_config, transport_for
from intelliwatt_pipelines.defs.resources import InboxResource, SftpResource, WarehouseResource
from intelliwatt_pipelines.ingest.inbox import SensorState, new_entries, ready_entries
from intelliwatt_pipelines.ingest.uploads import pending_uploads
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines.transport import RemoteEntry, TransportError

# A claimed entry that no finished run explains after this long is offered again.
RECLAIM_AFTER_SECONDS = 30 * 60
RUN_KEY_TAG = "dagster/run_key"
UPLOAD_PREFIX = "raw_file/"


def run_key_states(instance: dg.DagsterInstance, run_keys: set[str]) -> tuple[set[str], set[str]]:
    """(finished, active) run keys. A finished run's unrecorded files are offered again; an active
    (queued or running) run keeps its files however long it takes."""
    finished, active = set(), set()
    for key in run_keys:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: key}), limit=1)
        if runs:
            (finished if runs[0].is_finished else active).add(key)
    return finished, active


def plan_requests(ready, state: SensorState, now: float, batch_files: int, source: str,
                  config_for=None) -> list[dg.RunRequest]:
    """One run request per batch; claims the batch's entries in ``state``."""
    config_for = config_for or (lambda batch: ingest_run_config(batch, source))
    requests = []
    for i in range(0, len(ready), batch_files):
        batch = ready[i:i + batch_files]
        # The claim time is part of the key: a batch offered again must not be dropped as a repeat.
        run_key = hashlib.sha256("\n".join([str(now)] + [e.key for e in batch]).encode()).hexdigest()[:32]
        state.claims.update({e.key: [now, run_key] for e in batch})
        requests.append(dg.RunRequest(run_key=run_key, run_config=config_for(batch),
                                      tags={"intelliwatt/files": str(len(batch)), "intelliwatt/source": source}))
    return requests


DESCRIPTIONS = {
    INBOX_SOURCE: "Takes new, complete files from the inbox folder and launches one run per batch. Needs "
                  "INTELLIWATT_INBOX_DIR (an existing folder; default $INTELLIWATT_HOME/inbox). A file is taken once "
                  "unchanged for INTELLIWATT_INBOX_MIN_AGE_SECONDS; INTELLIWATT_INBOX_BATCH_FILES files per run.",
    SFTP_SOURCE: "Takes new, complete files from SMT's SFTP delivery and launches one run per batch. Needs "
                 "INTELLIWATT_SFTP_HOST and INTELLIWATT_SFTP_USER (key: INTELLIWATT_SFTP_KEY_PATH or the SSH agent; "
                 "server key: INTELLIWATT_SFTP_KNOWN_HOSTS); lists INTELLIWATT_SFTP_FOLDERS. Off unless a host is "
                 "set; turned on without these settings it skips each tick saying what is missing.",
}


def not_ready(source: str, inbox: InboxResource, sftp: SftpResource) -> str | None:
    """Why this sensor cannot list anything (a missing setting or folder), or None. A tick that
    cannot work skips with this one line instead of failing with a traceback every 15 s."""
    if source == SFTP_SOURCE:
        missing = [name for name, value in (("INTELLIWATT_SFTP_HOST", sftp.host),
                                            ("INTELLIWATT_SFTP_USER", sftp.username)) if not value.strip()]
        if missing:
            return f"SFTP is not configured: set {' and '.join(missing)} (see the README, SFTP delivery)"
    elif not inbox.root.is_dir():
        return f"the inbox folder {inbox.root} does not exist: create it or set INTELLIWATT_INBOX_DIR"
    return None


def build_inbox_sensor(job, source: str, default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(name=f"{source}_sensor" if source != INBOX_SOURCE else "inbox_sensor", job=job,
               minimum_interval_seconds=15, default_status=default_status, description=DESCRIPTIONS[source])
    @redacted_errors
    def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource, sftp: SftpResource,
                     warehouse: WarehouseResource):
        if reason := not_ready(source, inbox, sftp):
            return dg.SkipReason(reason)
        now = time.time()
        transport = transport_for(source, inbox, sftp)
        settings = sftp if source == SFTP_SOURCE else inbox
        try:
            listing = transport.list_entries()
        except TransportError as exc:  # the tick fails with the reason; the next tick tries again
            raise dg.Failure(description=redact(str(exc))) from None
        fresh = new_entries(warehouse.engine(), transport.source, listing)
        state = SensorState(**json.loads(context.cursor)) if context.cursor else SensorState()
        finished, active = run_key_states(context.instance, {c[1] for c in state.claims.values()})
        ready, state = ready_entries(fresh, state, now=now, min_age_seconds=settings.min_age_seconds,
                                     finished_run_keys=finished, active_run_keys=active,
                                     reclaim_after_seconds=RECLAIM_AFTER_SECONDS)
        requests = plan_requests(ready, state, now, settings.batch_files, source)
        cursor = json.dumps(dataclasses.asdict(state))
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        waiting = len(fresh) - len(state.claims)
        return dg.SensorResult(skip_reason=f"{len(listing)} file(s) listed, {len(state.claims)} in runs, "
                                           f"{waiting} new but still changing or too young", cursor=cursor)

    return inbox_sensor


def _upload_entry(raw_file_id: int, size: int) -> RemoteEntry:
    # Pending uploads go through the same claim bookkeeping as inbox files, keyed by raw_file id.
    return RemoteEntry(f"{UPLOAD_PREFIX}{raw_file_id}", size, 0)


def reprocess_config(batch: list[RemoteEntry]) -> dict:
    ids = [int(e.path[len(UPLOAD_PREFIX):]) for e in batch]
    return {"ops": {"raw_files": {"config": {"raw_file_ids": ids}}}}


def build_upload_sensor(job, batch_files: int,
                        default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING) -> dg.SensorDefinition:
    @dg.sensor(name="upload_sensor", job=job, minimum_interval_seconds=5, default_status=default_status,
               description="Hands files uploaded through the API (already safe in the raw store) to "
                           "ingest runs, in batches of INTELLIWATT_INBOX_BATCH_FILES. Needs only the warehouse "
                           "(INTELLIWATT_WAREHOUSE_URL) the API writes to.")
    @redacted_errors
    def upload_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        now = time.time()
        fresh = [_upload_entry(i, size) for i, size in pending_uploads(warehouse.engine())]
        state = SensorState(**json.loads(context.cursor)) if context.cursor else SensorState()
        finished, active = run_key_states(context.instance, {c[1] for c in state.claims.values()})
        ready, state = ready_entries(fresh, state, now=now, min_age_seconds=0, finished_run_keys=finished,
                                     active_run_keys=active, reclaim_after_seconds=RECLAIM_AFTER_SECONDS)
        requests = plan_requests(ready, state, now, batch_files, UPLOAD_SOURCE, config_for=reprocess_config)
        cursor = json.dumps(dataclasses.asdict(state))
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(skip_reason=f"{len(fresh)} upload(s) pending, {len(state.claims)} in runs",
                               cursor=cursor)

    return upload_sensor
