"""A snapshot of the Dagster definitions (as dagster-open-platform's test_defs.py): asset keys,
groups, kinds, partitions, checks, jobs, sensors and schedules, compared with
data/defs_snapshot.json so a change to the wiring shows up in review.

After an intended change, rewrite the snapshot and commit it with the change:
    INTELLIWATT_UPDATE_SNAPSHOT=1 ./deploy/test intelliwatt_pipelines_tests/test_defs_snapshot.py
"""

from __future__ import annotations

import json
import os

import dagster as dg
import pytest

from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines_tests.conftest import DATA

SNAPSHOT = DATA / "defs_snapshot.json"
UPDATE = "INTELLIWATT_UPDATE_SNAPSHOT"


def _partitions(partitions_def) -> dict | None:
    if partitions_def is None:
        return None
    found = {"type": type(partitions_def).__name__}
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        found |= {"start": partitions_def.start.isoformat(), "timezone": partitions_def.timezone,
                  "fmt": partitions_def.fmt, "end_offset": partitions_def.end_offset}
    return found


def _asset(spec: dg.AssetSpec) -> dict:
    return {
        "group": spec.group_name, "kinds": sorted(spec.kinds), "partitions": _partitions(spec.partitions_def),
        "code_version": spec.code_version, "owners": sorted(spec.owners),
        # The kinds are shown above; the tags Dagster derives from them would repeat them.
        "tags": {k: v for k, v in sorted(spec.tags.items()) if not k.startswith("dagster/kind/")},
        "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
    }


def _job(job: dg.JobDefinition) -> dict:
    return {"assets": sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys),
            "ops": sorted(node.name for node in job.nodes), "partitions": _partitions(job.partitions_def)}


def describe(defs: dg.Definitions) -> dict:
    """The definitions as plain, sorted data (the snapshot's form)."""
    graph = defs.resolve_asset_graph()
    return {
        "assets": {spec.key.to_user_string(): _asset(spec)
                   for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string())},
        "checks": {key.name: {"asset": key.asset_key.to_user_string(),
                              "blocking": graph.get_check_spec(key).blocking}
                   for key in sorted(graph.asset_check_keys, key=lambda k: k.name)},
        # The implicit __ASSET_JOB is Dagster's, not ours.
        "jobs": {job.name: _job(job) for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)
                 if not job.name.startswith("__")},
        "sensors": {sensor.name: {"default_status": sensor.default_status.value,
                                  "minimum_interval_seconds": sensor.minimum_interval_seconds,
                                  "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else []}
                    for sensor in sorted(defs.sensors or [], key=lambda s: s.name)},
        "schedules": {schedule.name: {"cron": schedule.cron_schedule, "timezone": schedule.execution_timezone,
                                      "job": schedule.job_name, "default_status": schedule.default_status.value}
                      for schedule in sorted(defs.schedules or [], key=lambda s: s.name)},
    }


# The fixture's settings fix what the definitions depend on: partition start 2024-01-01, no SFTP host.
@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_definitions_match_the_snapshot(settings):
    assert not settings.sftp_host, "the snapshot is of the definitions without an SFTP host"
    found = describe(build_defs(settings))
    if os.environ.get(UPDATE):
        SNAPSHOT.write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n")
    assert found == json.loads(SNAPSHOT.read_text()), (
        f"the definitions differ from {SNAPSHOT.name}; if the change is intended, rewrite it with "
        f"{UPDATE}=1 ./deploy/test intelliwatt_pipelines_tests/test_defs_snapshot.py and commit the diff")
