"""The README's first command: deploy/start brings up Dagster (UI + daemon) and the inbox sensor
ingests the seeded sample with no clicks."""

import json
import os
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


def graphql(port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": QUERY}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
