"""The distributed deployment (deploy/celery): two Celery workers over this machine's RabbitMQ and
Redis take the inbox sensor's runs of overlapping deliveries and a UI-style backfill of a day range,
and the warehouse ends exactly as one process leaves it (`intelliwatt ingest`, `intelliwatt backfill`)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests.celery_deployment import (
    CeleryDeployment,
    all_finished,
    brokers_or_skip,
    fresh_database,
    runs,
    warehouse_state,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

HOMES, FIRST, LAST = 6, dt.date(2025, 3, 1), dt.date(2025, 3, 20)  # the range holds spring-forward (3/9)
DAYS_PER_RUN = 5  # the backfill of 20 days: 4 runs
BACKFILL = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"


def deliveries(folder: Path) -> int:
    """Each home's 20 days, and a later revision of a week of the previous home's named to sort next to
    this home's file: the sensor's batches of two files then hold both deliveries of a home in
    different runs, which the two workers take at the same time."""
    folder.mkdir(parents=True)
    days = date_range(FIRST, LAST)
    for i in range(HOMES):
        (folder / f"IntervalMeterUsage_{i}.csv").write_bytes(smt_interval_csv(f"10443720{i:09d}", days, seed=i))
        if i:
            (folder / f"IntervalMeterUsage_{i}_rev.csv").write_bytes(smt_interval_csv(
                f"10443720{i - 1:09d}", days[6:13], seed=100 + i, revision_lag=dt.timedelta(days=9)))
    return len(list(folder.iterdir()))


def settings_env(tmp: Path, warehouse: str, inbox: Path) -> dict:
    return {"INTELLIWATT_HOME": str(tmp), "INTELLIWATT_WAREHOUSE_URL": warehouse,
            "INTELLIWATT_RAW_STORE_URL": str(tmp / "raw"), "INTELLIWATT_INBOX_DIR": str(inbox),
            "INTELLIWATT_INBOX_MIN_AGE_SECONDS": "0", "INTELLIWATT_INBOX_BATCH_FILES": "2",
            "INTELLIWATT_PARTITION_START": "2025-01-01", "INTELLIWATT_BACKFILL_DAYS_PER_RUN": str(DAYS_PER_RUN)}


def single_process(tmp: Path, warehouse: str) -> dict:
    """The reference: `intelliwatt ingest`, then `intelliwatt backfill` of the same days, in one process each."""
    inbox = tmp / "inbox"
    deliveries(inbox)
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))},
           **settings_env(tmp, warehouse, inbox), "DAGSTER_HOME": str(home)}
    cli = [sys.executable, "-m", "intelliwatt_pipelines.cli"]
    for args in (["migrate"], ["ingest", "--inbox", str(inbox)], ["backfill", "--start", str(FIRST), "--end", str(LAST)]):
        done = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    return warehouse_state(warehouse)


def launch_backfill(deployment: CeleryDeployment) -> str:
    """What the UI's "Materialize" of a day range sends: the daemon splits it in runs of DAYS_PER_RUN days."""
    days = [str(d) for d in date_range(FIRST, LAST)]
    params = {"assetSelection": [{"path": ["usage_intervals"]}, {"path": ["daily_completeness"]}],
              "partitionNames": days}
    result = deployment.graphql(BACKFILL, {"p": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def test_two_celery_workers_leave_the_warehouse_as_one_process_does(tmp_path, request, postgres_url):
    brokers_or_skip()
    warehouse, dagster_db, reference_db = postgres_url, fresh_database(request), fresh_database(request)
    expected = single_process(tmp_path / "reference", reference_db)
    assert expected["usage_interval"] and expected["daily_completeness"]

    tmp = tmp_path / "celery"
    files = deliveries(tmp / "inbox")
    deployment = CeleryDeployment(tmp, dagster_db, settings_env(tmp, warehouse, tmp / "inbox"))
    try:
        ingest_runs = deployment.wait_for(lambda: all_finished(runs(deployment), (files + 1) // 2), 420,
                                          "the sensor's runs of every delivery")
        assert {r["jobName"] for r in ingest_runs} == {"inbox_ingest_job"}
        backfill = launch_backfill(deployment)
        status = deployment.wait_for(lambda: _finished_status(deployment, backfill), 300, "the backfill")
        finished = deployment.wait_for(lambda: all_finished(runs(deployment), len(ingest_runs) + 4), 120,
                                       "the backfill's runs")
        assert status == "COMPLETED_SUCCESS", deployment.tail()
        assert all(r["status"] == "SUCCESS" for r in finished), (finished, deployment.tail())
        rebuilds = [r for r in finished if r["jobName"] != "inbox_ingest_job"]
        assert len(rebuilds) == (LAST - FIRST).days // DAYS_PER_RUN + 1  # 4 runs of 5 days
        tasks = deployment.workers_by_task()
        task_of = {r["runId"]: {t["key"]: t["value"] for t in r["tags"]}.get("dagster-celery/task_id") for r in finished}
        assert all(task_of.values()) and set(task_of.values()) <= set(tasks)  # every run went through Celery
        assert len({tasks[t] for t in task_of.values()}) == 2  # and both workers ran some
    finally:
        deployment.stop()
    assert warehouse_state(warehouse) == expected


def _finished_status(deployment: CeleryDeployment, backfill: str) -> str | None:
    status = deployment.graphql(BACKFILL_STATUS, {"id": backfill})["partitionBackfillOrError"]["status"]
    return status if status not in ("REQUESTED",) else None

