"""The README's first command: deploy/start brings up Dagster (UI + daemon) and the API; the inbox
sensor ingests the seeded sample with no clicks, and the API serves it. Ctrl-C, SIGTERM and
deploy/stop end everything it started, quietly; deploy/reset makes the next start a fresh one."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.servers import DagsterDev, free_port
from intelliwatt_pipelines_tests.test_readme_commands import readme_blocks

pytestmark = pytest.mark.slow  # runs deploy/start (creates a venv, starts servers)

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
    """One deploy/start for a temp home, checked step by step: the seeded sample ingested with no
    clicks, the API (and the README's curl example) serving it, a second home dropped into the inbox,
    and a UI backfill restoring damaged rows from raw."""
    home = tmp_path / "home"
    env, port, api_port = start_env(home)
    dev = DagsterDev([str(ROOT / "deploy" / "start")], ROOT, env, tmp_path / "start.log", port)
    try:
        the_sample_is_ingested_by_one_run(dev)
        the_api_and_the_readme_example_serve_it(tmp_path, home, api_port)
        a_second_home_is_ingested_by_a_run_of_its_own(dev, home)
        a_ui_backfill_restores_damaged_rows_from_raw(dev, home / "warehouse.db")
    finally:
        dev.stop()


def the_sample_is_ingested_by_one_run(dev: DagsterDev) -> None:
    def sample_done():
        state = dev.graphql(QUERY)
        runs = state["runsOrError"]["results"]
        done = materialized(state)
        return done.get("usage_intervals") == 12 and runs and all(r["status"] == "SUCCESS" for r in runs) \
            and (done, runs)

    done, runs = dev.wait_for(sample_done, 240, "the sample to be ingested")
    # Two sample homes: 7 days and 5 days, one run for the batch.
    # and the first home's daily meter reads, each reconciled with its intervals
    # (the SMT lifecycle and reference-data assets are unpartitioned: no partition counts)
    assert done == {"usage_intervals": 12, "daily_completeness": 12, "raw_files": None, "billing_reads": 7,
                    "billing_reconciliation": 7, "smt_agreements": None, "smt_subscriptions": None,
                    "ercot_extract_files": None, "service_points": None, "retail_offers": None, "tdsp_tariffs": None,
                    "rate_plans": None, "monthly_usage_buckets": None, "plan_estimates": None}
    assert [r["jobName"] for r in runs] == ["inbox_ingest_job"]


def the_api_and_the_readme_example_serve_it(tmp_path: Path, home: Path, api_port: int) -> None:
    # The API runs next to Dagster, with local credentials made on first start.
    creds = dict(line.split("=", 1) for line in (home / "api-dev-credentials.env").read_text().splitlines())
    api = f"http://127.0.0.1:{api_port}/api/v1"
    assert httpx.get(f"{api}/health").json()["ok"] is True
    fall_back_day = httpx.get(f"{api}/esiids/{ONCOR}/intervals", params={"start": "2025-11-02", "end": "2025-11-02"},
                              headers={"x-api-key": creds["INTELLIWATT_API_KEYS"]}).json()
    assert fall_back_day["count"] == 100
    # The README's example as written, from a folder whose .intelliwatt is this home, on this API's port.
    block = next(b for b in readme_blocks() if "api-dev-credentials.env" in b and "/intervals" in b)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".intelliwatt").symlink_to(home)
    shown = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace("127.0.0.1:8000", f"127.0.0.1:{api_port}")],
                           cwd=checkout, capture_output=True, text=True, timeout=60)
    assert json.loads(shown.stdout)["count"] == 100, shown


def a_second_home_is_ingested_by_a_run_of_its_own(dev: DagsterDev, home: Path) -> None:
    # A second home on some of the same days, taken by the sensor in a run of its own.
    (home / "inbox" / FALLBACK).write_bytes((DATA / FALLBACK).read_bytes())
    dev.wait_for(lambda: (r := dev.graphql(QUERY)["runsOrError"]["results"]) and len(r) == 2 and all(
        x["status"] == "SUCCESS" for x in r), 120, "the second home to be ingested")


def a_ui_backfill_restores_damaged_rows_from_raw(dev: DagsterDev, db: Path) -> None:
    # What the UI's "Materialize… → backfill" sends: a week of days, both assets, every home.
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


# --- Lifecycle: Ctrl-C, SIGTERM, ./deploy/stop and ./deploy/reset leave nothing running ---

STATE_ENTRIES = ("warehouse.db", "raw", "dagster_home", "inbox")


def start_env(home: Path) -> tuple[dict, int, int]:
    """deploy/start's environment for a temp home on free ports: (env, UI port, API port)."""
    port, api_port = free_port(), free_port()
    env = dict(os.environ, INTELLIWATT_HOME=str(home), DAGSTER_PORT=str(port), INTELLIWATT_API_PORT=str(api_port))
    for name in ("DAGSTER_HOME", "INTELLIWATT_WAREHOUSE_URL", "INTELLIWATT_API_KEYS", "INTELLIWATT_ADMIN_TOKEN",
                 "INTELLIWATT_RAW_STORE_URL", "INTELLIWATT_INBOX_DIR"):
        env.pop(name, None)
    return env, port, api_port


def processes_of(home: Path) -> dict[int, str]:
    """Every live process started for ``home``: its environment or command line names it. Whatever
    deploy/start starts (API, dagster dev, webserver, daemon, code servers, runs, log pipes) inherits
    INTELLIWATT_HOME, wherever it was reparented and whatever process group it is in."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ, cmdline = (proc / "environ").read_bytes(), (proc / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if f"INTELLIWATT_HOME={home}".encode() in environ.split(b"\0") or str(home).encode() in cmdline:
            found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def left_after(home: Path, seconds: float) -> dict[int, str]:
    """The processes of ``home`` still alive ``seconds`` from now (empty as soon as none is)."""
    deadline = time.monotonic() + seconds
    while (left := processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


def kill_all(found: dict[int, str]) -> None:
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@contextlib.contextmanager
def started(tmp_path: Path, n: int, env: dict, port: int, api_port: int):
    """The n-th ./deploy/start of a test (its output in start<n>.log), once it is running; on the way
    out, whatever is still running for its home is killed and the script stopped."""
    home = Path(env["INTELLIWATT_HOME"])
    dev = DagsterDev([str(ROOT / "deploy" / "start")], ROOT, env, tmp_path / f"start{n}.log", port)
    try:
        running(dev, home, api_port)
        yield dev
    finally:
        kill_all(processes_of(home))
        dev.stop()


def running(dev: DagsterDev, home: Path, api_port: int) -> dict[int, str]:
    """Wait for the UI, the API and deploy/start's pid file; the processes then running for home."""
    dev.wait_for(lambda: dev.graphql("{ version }"), 120, "the Dagster UI")
    dev.wait_for(lambda: httpx.get(f"http://127.0.0.1:{api_port}/api/v1/health").json()["ok"], 60, "the API")
    dev.wait_for(lambda: "dagster=" in (home / "deploy-start.pid").read_text(), 10, "the pid file")
    found = processes_of(home)
    # The check below means something only if it sees the whole tree: services, Dagster's children, log pipes.
    commands = "\n".join(found.values())
    for part in ("intelliwatt api", "dagster dev", "dagster_webserver", "dagster._daemon", "redact-log"):
        assert part in commands, f"{part} not among the processes of {home}:\n{commands}"
    return found


def sample_ingested(dev: DagsterDev) -> None:
    def done():
        state = dev.graphql(QUERY)
        runs = state["runsOrError"]["results"]
        return materialized(state).get("usage_intervals") == 12 and runs and all(
            r["status"] == "SUCCESS" for r in runs) and runs

    runs = dev.wait_for(done, 240, "the sample to be ingested")
    assert [r["jobName"] for r in runs] == ["inbox_ingest_job"]  # one run: a fresh Dagster home


def deploy(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "deploy" / command)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def stopped_quietly(dev: DagsterDev, home: Path, status: int) -> None:
    """Nothing of home left 10 s after the stop began, the script's status, no traceback in its output."""
    left = left_after(home, 10)
    kill_all(left)
    assert not left, "still running 10 s after the stop:\n" + "\n".join(f"{p} {c}" for p, c in left.items())
    assert dev.process.wait(timeout=10) == status
    output = dev.log_path.read_text(errors="replace")
    assert "Traceback" not in output, output[-5000:]
    assert not (home / "deploy-start.pid").exists()


@pytest.mark.timeout(420)
def test_ctrl_c_and_sigterm_stop_everything_and_reset_starts_afresh(tmp_path):
    home = tmp_path / "home"
    env, port, api_port = start_env(home)
    # The test is the terminal: deploy/start leads a process group of its own, as a foreground job does.
    with started(tmp_path, 1, env, port, api_port) as dev:
        sample_ingested(dev)
        again = deploy("start", env)  # a second start for the same home is refused, and starts nothing
        assert again.returncode == 1 and "already running" in again.stderr, again
        os.killpg(dev.process.pid, signal.SIGINT)  # Ctrl-C: SIGINT to the foreground process group
        stopped_quietly(dev, home, 130)

    nothing = deploy("stop", env)
    assert nothing.returncode == 0 and "nothing to stop" in nothing.stdout, nothing
    credentials = (home / "api-dev-credentials.env").read_text()
    reset = deploy("reset", env)
    assert reset.returncode == 0, reset
    assert not [name for name in STATE_ENTRIES if (home / name).exists()], sorted(p.name for p in home.iterdir())
    assert (home / "api-dev-credentials.env").read_text() == credentials  # kept: documented

    # Afresh: the sample is seeded and ingested again by one run, in a new Dagster home.
    with started(tmp_path, 2, env, port, api_port) as dev:
        sample_ingested(dev)
        dev.process.send_signal(signal.SIGTERM)  # SIGTERM to the script alone (a supervisor, kill PID)
        stopped_quietly(dev, home, 143)


@pytest.mark.timeout(300)
def test_stop_command_stops_a_start_from_another_terminal_and_what_a_killed_one_left(tmp_path):
    home = tmp_path / "home"
    env, port, api_port = start_env(home)
    with started(tmp_path, 1, env, port, api_port) as dev:
        stop = deploy("stop", env)
        assert stop.returncode == 0 and "stopped" in stop.stdout, stop
        stopped_quietly(dev, home, 143)

    # A deploy/start killed outright (kill -9) cannot stop its services: deploy/stop finds them.
    with started(tmp_path, 2, env, port, api_port) as dev:
        dev.process.kill()
        dev.process.wait(timeout=10)
        assert processes_of(home), "the services should outlive a killed deploy/start"
        stop = deploy("stop", env)
        assert stop.returncode == 0 and "stopped" in stop.stdout, stop
        left = left_after(home, 10)
        assert not left, left

    # Either service dying stops the other, and deploy/start exits with its status.
    with started(tmp_path, 3, env, port, api_port) as dev:
        api = int(dict(line.split("=") for line in (home / "deploy-start.pid").read_text().split())["api"])
        os.kill(api, signal.SIGKILL)
        stopped_quietly(dev, home, 128 + signal.SIGKILL)


def test_reset_refuses_a_folder_deploy_start_did_not_make(tmp_path):
    home = tmp_path / "project"
    for name in ("inbox", "raw", "dagster_home"):
        (home / name).mkdir(parents=True)
    (home / "warehouse.db").write_text("not ours")
    env = dict(start_env(home)[0])
    reset = deploy("reset", env)
    assert reset.returncode == 2 and "refusing" in reset.stderr, reset
    assert sorted(p.name for p in home.iterdir()) == ["dagster_home", "inbox", "raw", "warehouse.db"]
    # Made by deploy/start (its marker): known entries go, anything else stays and is listed.
    (home / ".intelliwatt-home").write_text("")
    (home / "notes.txt").write_text("mine")
    reset = deploy("reset", env)
    assert reset.returncode == 0 and "notes.txt" in reset.stdout, reset
    assert sorted(p.name for p in home.iterdir()) == [".intelliwatt-home", "notes.txt"]
