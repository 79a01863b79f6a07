"""The inbox sensor: list cheaply, hand files to runs in batches."""


import hashlib
import json
import time

import dagster as dg

from intelliwatt_pipelines.defs.assets import INBOX_SOURCE, ingest_run_config
from intelliwatt_pipelines.defs.resources import InboxResource, WarehouseResource
from intelliwatt_pipelines.ingest.inbox import InboxEntry, list_inbox, new_entries

# A claimed entry that no run has recorded after this long (the run failed) is offered again.
RECLAIM_AFTER_SECONDS = 30 * 60


def plan_batches(known_new: list[InboxEntry], claimed: dict[str, float], now: float, batch_files: int) -> tuple[list[list[InboxEntry]], dict[str, float]]:
    """Split new, unclaimed entries into batches; return the batches and the updated claims.

    Claims cover the time between launching a run and that run recording its entries, so one file
    is not handed to two runs. Claims of entries gone from the listing or already recorded are dropped.
    """
    pending = {e.key for e in known_new}
    claims = {k: t for k, t in claimed.items() if k in pending and now - t < RECLAIM_AFTER_SECONDS}
    todo = [e for e in known_new if e.key not in claims]
    batches = [todo[i:i + batch_files] for i in range(0, len(todo), batch_files)]
    claims.update({e.key: now for e in todo})
    return batches, claims


def build_inbox_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Takes new files from the inbox folder (stable for a minimum age) and launches one "
                           "run per batch of files.")
    def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource, warehouse: WarehouseResource):
        now = time.time()
        listing = list_inbox(inbox.root, min_age_seconds=inbox.min_age_seconds, now=now)
        fresh = new_entries(warehouse.engine(), INBOX_SOURCE, listing)
        claimed = json.loads(context.cursor) if context.cursor else {}
        batches, claims = plan_batches(fresh, claimed, now, inbox.batch_files)
        # The claim time is part of the key: a batch offered again after its run failed must not be
        # dropped as a duplicate run key.
        requests = [dg.RunRequest(
            run_key=hashlib.sha256("\n".join([str(now)] + [e.key for e in batch]).encode()).hexdigest()[:32],
            run_config=ingest_run_config(batch),
            tags={"intelliwatt/files": str(len(batch))},
        ) for batch in batches]
        if not requests:
            return dg.SkipReason(f"{len(listing)} file(s) in the inbox, none new")
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(claims))

    return inbox_sensor
