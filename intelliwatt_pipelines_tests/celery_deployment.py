"""The distributed deployment (deploy/celery/start) as tests and benchmarks drive it: Celery workers,
the Dagster daemon and the webserver on loopback, over this machine's broker and PostgreSQL; and the
warehouse's state in a form two warehouses can be compared in."""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines_tests.servers import DagsterDev, free_port

ROOT = Path(__file__).resolve().parent.parent
BROKERS = {"RabbitMQ": 5672, "Redis": 6379}


def brokers_or_skip() -> None:
    """RabbitMQ and Redis on loopback, as on this machine (.ci/run starts them); a skip names what is
    missing, a failure where INTELLIWATT_REQUIRE_BROKER is set."""
    down = []
    for name, port in BROKERS.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                down.append(f"{name} (127.0.0.1:{port})")
    if down:
        reason = "not reachable: " + ", ".join(down)
        if os.environ.get("INTELLIWATT_REQUIRE_BROKER"):
            pytest.fail(reason + " (INTELLIWATT_REQUIRE_BROKER is set)")
        pytest.skip(reason)


def fresh_database(request) -> str:
    """One more fresh PostgreSQL database, dropped after the test (``postgres_url`` gives one per test)."""
    from intelliwatt_pipelines_tests.conftest import ADMIN_URL

    name = f"iw_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return sa.engine.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class CeleryDeployment(DagsterDev):
    """``deploy/celery/start`` with its own queue (so nothing else's tasks reach its workers), Dagster
    home and webserver port; ``env`` adds the INTELLIWATT_* settings."""

    name, poll_seconds = "deploy/celery/start", 1.0

    def __init__(self, tmp: Path, dagster_db: str, env: dict, workers: int = 2):
        self.home, self.queue = tmp / "dagster_home", f"iw-test-{uuid.uuid4().hex[:10]}"
        self.home.mkdir(parents=True)
        self.logs, port = self.home / "process-logs", free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
        env = {**base, **env, "DAGSTER_HOME": str(self.home), "DAGSTER_POSTGRES_URL": plain_url(dagster_db),
               "DAGSTER_PORT": str(port), "INTELLIWATT_CELERY_QUEUE": self.queue,
               "INTELLIWATT_CELERY_WORKERS": str(workers)}
        super().__init__([str(ROOT / "deploy" / "celery" / "start")], ROOT, env, tmp / "celery-start.log", port)

    def tail(self) -> str:
        parts = [self.log_path, *sorted(self.logs.glob("*.log"))] if self.logs.is_dir() else [self.log_path]
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in parts)

    def workers_by_task(self) -> dict[str, str]:
        """Celery task id -> the worker (log file) that ran it to the end."""
        done = {}
        for path in self.logs.glob("worker*.log"):
            for task in re.findall(r"Task execute_job\[([0-9a-f-]+)\] succeeded", path.read_text(errors="replace")):
                done[task] = path.stem
        return done


RUNS = "{ runsOrError { ... on Runs { results { runId status jobName tags { key value } } } } }"


def runs(deployment: CeleryDeployment) -> list[dict]:
    return deployment.graphql(RUNS)["runsOrError"]["results"]


def all_finished(found: list[dict], at_least: int) -> list[dict] | None:
    done = [r for r in found if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
    return found if len(found) >= at_least and len(done) == len(found) else None


# The warehouse as content: raw files by their bytes (ids depend on the order files arrived in).
STATE = {
    "raw_file": "SELECT sha256, filename, kind, status, rows_read, rows_valid, rows_invalid FROM raw_file",
    "usage_interval": "SELECT u.esiid, u.meter, u.channel, u.ts_utc, u.interval_minutes, u.kwh, u.quality, "
                      "u.revised_at, u.source, f.sha256 FROM usage_interval u JOIN raw_file f ON f.id = u.raw_file_id",
    "daily_completeness": "SELECT * FROM daily_completeness",
    "raw_file_coverage": "SELECT f.sha256, c.esiid, c.meter, c.channel, c.first_local_date, c.last_local_date, "
                         "c.intervals FROM raw_file_coverage c JOIN raw_file f ON f.id = c.raw_file_id",
}


def warehouse_state(url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return {name: sorted(tuple(r) for r in conn.execute(sa.text(sql))) for name, sql in STATE.items()}
    finally:
        engine.dispose()
