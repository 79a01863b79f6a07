"""The README's first command: deploy/start brings up Dagster (UI + daemon) and the API; the inbox
sensor ingests the seeded sample with no clicks, and the API serves it."""

import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.servers import DagsterDev, free_port

ROOT = Path(__file__).resolve().parent.parent
QUERY = """{ assetNodes { assetKey { path } partitionStats { numMaterialized } }
  runsOrError { ... on Runs { results { status jobName } } } }"""
LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
ONCOR = "10443720000000001"
SECOND = "10443720009990001"
FALLBACK = "IntervalMeterUsage_sample_fallback_unpadded.csv"


def stored_intervals(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM usage_interval").fetchall())


def materialized(state: dict) -> dict:
    return {n["assetKey"]["path"][0]: (n["partitionStats"] or {}).get("numMaterialized") for n in state["assetNodes"]}


@pytest.mark.timeout(300)
def test_start_command_ingests_the_sample_and_shows_it(tmp_path):
    port = free_port()
    api_port = free_port()
    env = dict(os.environ, INTELLIWATT_HOME=str(tmp_path / "home"), DAGSTER_PORT=str(port),
               INTELLIWATT_API_PORT=str(api_port))
    for name in ("DAGSTER_HOME", "INTELLIWATT_WAREHOUSE_URL", "INTELLIWATT_API_KEYS", "INTELLIWATT_ADMIN_TOKEN"):
        env.pop(name, None)
    dev = DagsterDev([str(ROOT / "deploy" / "start")], ROOT, env, tmp_path / "start.log", port)
    try:
        def sample_done():
            state = dev.graphql(QUERY)
            runs = state["runsOrError"]["results"]
            done = materialized(state)
            return done.get("usage_intervals") == 12 and runs and all(r["status"] == "SUCCESS" for r in runs) \
                and (done, runs)

        done, runs = dev.wait_for(sample_done, 240, "the sample to be ingested")
        # Two sample homes: 7 days and 5 days, one run for the batch.
        # and the first home's daily meter reads, each reconciled with its intervals
        assert done == {"usage_intervals": 12, "daily_completeness": 12, "raw_files": None, "billing_reads": 7,
                        "billing_reconciliation": 7}
        assert [r["jobName"] for r in runs] == ["inbox_ingest_job"]

        # The API runs next to Dagster, with local credentials made on first start.
        creds = dict(line.split("=", 1) for line in
                     (tmp_path / "home" / "api-dev-credentials.env").read_text().splitlines())
        api = f"http://127.0.0.1:{api_port}/api/v1"
        assert httpx.get(f"{api}/health").json()["ok"] is True
        fall_back_day = httpx.get(f"{api}/esiids/{ONCOR}/intervals", params={"start": "2025-11-02", "end": "2025-11-02"},
                                  headers={"x-api-key": creds["INTELLIWATT_API_KEYS"]}).json()
        assert fall_back_day["count"] == 100

        # A second home on some of the same days, taken by the sensor in a run of its own.
        (tmp_path / "home" / "inbox" / FALLBACK).write_bytes((DATA / FALLBACK).read_bytes())
        dev.wait_for(lambda: (r := dev.graphql(QUERY)["runsOrError"]["results"]) and len(r) == 2 and all(
            x["status"] == "SUCCESS" for x in r), 120, "the second home to be ingested")

        # What the UI's "Materialize… → backfill" sends: a week of days, both assets, every home.
        db = tmp_path / "home" / "warehouse.db"
        before = stored_intervals(db)
        with sqlite3.connect(db) as conn:  # damage each home's rows; the backfill must restore them from raw
            conn.execute("UPDATE usage_interval SET kwh = 99 WHERE ts_utc >= '2025-11-01' AND ts_utc < '2025-11-03'")
            assert {r[0] for r in conn.execute("SELECT esiid FROM usage_interval WHERE kwh = 99")} == {ONCOR, SECOND}
        days = [f"2025-{d}" for d in ("10-30", "10-31", "11-01", "11-02", "11-03", "11-04", "11-05")]
        launched = dev.graphql(LAUNCH_BACKFILL, {"params": {
            "partitionNames": days, "assetSelection": [{"path": ["usage_intervals"]}, {"path": ["daily_completeness"]}]}})
        backfill_id = launched["launchPartitionBackfill"]["backfillId"]

        def finished_status():
            status = (dev.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"] or {}).get("status")
            return status if status not in (None, "REQUESTED") else None

        status = dev.wait_for(finished_status, 180, "the backfill")
        assert status.startswith("COMPLETED") and "FAIL" not in status, status
        runs = dev.wait_for(lambda: (r := dev.graphql(QUERY)["runsOrError"]["results"]) and all(
            x["status"] == "SUCCESS" for x in r) and r, 60, "backfill runs")
        # one run for the 7 days of every home
        assert sorted(r["jobName"] for r in runs) == ["__ASSET_JOB", "inbox_ingest_job", "inbox_ingest_job"]
        assert stored_intervals(db) == before
    finally:
        dev.stop()
