"""Fixtures: a real SQLite and a real PostgreSQL warehouse per test, raw store, inbox, Dagster instance.

PostgreSQL comes from INTELLIWATT_TEST_POSTGRES_URL (default 127.0.0.1:5432, user postgres). Each
test gets its own database, dropped afterwards. Without a reachable server the PostgreSQL tests
skip with the reason, unless INTELLIWATT_REQUIRE_POSTGRES is set (CI), where they fail.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.warehouse import create_engine, engine_for, migrate, normalize_url
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.rawstore import LocalRawStore

from intelliwatt_pipelines_tests import log_privacy
from intelliwatt_pipelines_tests.servers import LOG_CAPTURE

DATA = Path(__file__).parent / "data"
ADMIN_URL = os.environ.get("INTELLIWATT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(normalize_url(ADMIN_URL), isolation_level="AUTOCOMMIT")


def _postgres_or_skip() -> None:
    try:
        with _admin_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {sa.engine.make_url(ADMIN_URL).render_as_string()}: {exc.orig}"
        if os.environ.get("INTELLIWATT_REQUIRE_POSTGRES"):
            pytest.fail(reason + " (INTELLIWATT_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)


@pytest.fixture
def postgres_url():
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    _postgres_or_skip()
    name = f"iw_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(normalize_url(ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    yield url
    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(warehouse_url):
    engine = create_engine(warehouse_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(tmp_path) -> LocalRawStore:
    return LocalRawStore(tmp_path / "raw")


@pytest.fixture
def settings(tmp_path, warehouse_url) -> Settings:
    base = Settings.from_env()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return dataclasses.replace(
        base, home=tmp_path, warehouse_url=warehouse_url, raw_store_url=str(tmp_path / "raw"),
        inbox_dir=inbox, inbox_min_age_seconds=0.0, partition_start="2024-01-01")


@pytest.fixture
def instance(tmp_path):
    """A real Dagster instance (SQLite storage) in a temporary DAGSTER_HOME."""
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    # Runs' logs also go to the session's log capture (Dagster's console logger is not in the
    # logging hierarchy; the instance's python_logs handlers are how a deployment captures them).
    capture = {"python_logs": {"dagster_handler_config": {
        "handlers": {"capture": {"class": "logging.FileHandler", "filename": str(LOG_CAPTURE), "level": "INFO",
                                 "formatter": "plain"}},
        "formatters": {"plain": {"format": "dagster-run %(levelname)s %(message)s"}}}}}
    with dg.instance_for_test(temp_dir=str(home), overrides=capture) as inst:
        yield inst


@pytest.fixture
def pg_instance(tmp_path, postgres_url, monkeypatch):
    """A Dagster instance on PostgreSQL storage (deploy/dagster.yaml), in the test's own database."""
    import dagster as dg

    home = tmp_path / "pg_dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture
def expected() -> dict:
    return json.loads((DATA / "expected.json").read_text())


def copy_sample(name: str, folder: Path, as_name: str | None = None) -> Path:
    target = folder / (as_name or name)
    shutil.copyfile(DATA / name, target)
    return target


@pytest.fixture(scope="session", autouse=True)
def log_capture():
    """Capture every log record of the session (INFO and up) into LOG_CAPTURE (Dagster runs on the
    ``instance`` fixture add theirs through the instance's python_logs handlers)."""
    LOG_CAPTURE.write_text("")
    handler = logging.FileHandler(LOG_CAPTURE)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(previous, logging.INFO) if previous else logging.INFO)
    # The test client's own request log prints the URLs it calls: that is the caller, not the platform.
    for client_logger in ("httpx", "httpcore"):
        logging.getLogger(client_logger).setLevel(logging.WARNING)
    yield LOG_CAPTURE
    root.removeHandler(handler)
    root.setLevel(previous)
    handler.close()


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown has flushed the capture
def pytest_sessionfinish(session, exitstatus):
    """Fail the run if any log of it holds a raw ESIID: checked here, after the last test, so it
    does not depend on test order or selection."""
    if session.config.option.collectonly or not session.testscollected or not LOG_CAPTURE.exists():
        return
    found = log_privacy.problems(log_privacy.captured_logs(), whole_suite=len(session.items) > 100)
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.ensure_newline()
        reporter.write_sep("=", "log privacy check failed (conftest.py pytest_sessionfinish)", red=True)
        for problem in found:
            reporter.write_line(problem, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
