"""The README's first command: deploy/start brings up Dagster (UI + daemon) and the inbox sensor
ingests the seeded sample with no clicks."""

import json
import os
import sqlite3
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUERY = """{ assetNodes { assetKey { path } partitionStats { numMaterialized } }
  runsOrError { ... on Runs { results { status jobName } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
ONCOR = "10443720000000001"


def graphql(port: int, query: str = QUERY, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def wait_for(predicate, seconds: float, what: str, log: Path):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}\n" + log.read_text()[-3000:])


def stored_intervals(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT * FROM usage_interval").fetchall())


@pytest.mark.timeout(300)
def test_start_command_ingests_the_sample_and_shows_it(tmp_path):
    port = free_port()
    env = dict(os.environ, INTELLIWATT_HOME=str(tmp_path / "home"), DAGSTER_PORT=str(port))
    env.pop("DAGSTER_HOME", None)
    env.pop("INTELLIWATT_WAREHOUSE_URL", None)
    log = open(tmp_path / "start.log", "wb")
    proc = subprocess.Popen([str(ROOT / "deploy" / "start")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline, state = time.time() + 240, None
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "start.log").read_text()[-3000:]
            try:
                state = graphql(port)
            except OSError:
                state = None
            if state:
                done = {n["assetKey"]["path"][0]: (n["partitionStats"] or {}).get("numMaterialized")
                        for n in state["assetNodes"]}
                runs = state["runsOrError"]["results"]
                if done.get("usage_intervals") == 12 and runs and all(r["status"] == "SUCCESS" for r in runs):
                    break
            time.sleep(3)
        else:
            pytest.fail(f"sample not ingested in time; last state {state}\n"
                        + (tmp_path / "start.log").read_text()[-3000:])
        # Two sample homes: 7 days and 5 days, one run for the batch.
        assert done == {"usage_intervals": 12, "daily_completeness": 12, "raw_files": None}
        assert [r["jobName"] for r in runs] == ["inbox_ingest_job"]

        # What the UI's "Materialize… → backfill" sends: a week of one ESIID, both assets.
        db = tmp_path / "home" / "warehouse.db"
        before = stored_intervals(db)
        with sqlite3.connect(db) as conn:  # damage one stored value; the backfill must restore it from raw
            conn.execute("UPDATE usage_interval SET kwh = 99 WHERE esiid = ? AND ts_utc = "
                         "(SELECT min(ts_utc) FROM usage_interval WHERE esiid = ?)", (ONCOR, ONCOR))
        days = [f"2025-{d}|{ONCOR}" for d in ("10-30", "10-31", "11-01", "11-02", "11-03", "11-04", "11-05")]
        launched = graphql(port, LAUNCH_BACKFILL, {"params": {
            "partitionNames": days, "assetSelection": [{"path": ["usage_intervals"]}, {"path": ["daily_completeness"]}]}})
        backfill_id = launched["launchPartitionBackfill"]["backfillId"]

        def finished_status():
            status = (graphql(port, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"] or {}).get("status")
            return status if status not in (None, "REQUESTED") else None

        status = wait_for(finished_status, 180, "the backfill", tmp_path / "start.log")
        assert status.startswith("COMPLETED") and "FAIL" not in status, status
        runs = wait_for(lambda: (r := graphql(port)["runsOrError"]["results"]) and all(
            x["status"] == "SUCCESS" for x in r) and r, 60, "backfill runs", tmp_path / "start.log")
        assert sorted(r["jobName"] for r in runs) == ["__ASSET_JOB", "inbox_ingest_job"]  # one run for 7 days
        assert stored_intervals(db) == before
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
