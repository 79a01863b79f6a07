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
from intelliwatt_pipelines_tests import log_privacy, openapi_check
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


@pytest.fixture(autouse=True)
def openapi_checked_clients(monkeypatch):
    """Every JSON response a TestClient gets is validated against the app's /openapi.json for its path,
    method and status (openapi_check.py); a mismatch fails the test at the request."""
    from starlette.testclient import TestClient

    send = TestClient.send

    def checked_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        if not kwargs.get("stream"):  # a streamed body is the test's to read
            openapi_check.check(self.app, request, response)
        return response

    monkeypatch.setattr(TestClient, "send", checked_send)


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


# Tests that run deploy/start or deploy/test, which install into the checkout's shared .venv when
# pyproject.toml changed (deploy/install): two installs at once would break each other, so under
# pytest-xdist (--dist loadgroup) they share one worker and run one after another. Everything else is independent: own tmp_path, own database,
# free ports, own Dagster instance and home.
SHARED_VENV = ("test_start_command.py::", "test_readme_commands.py::test_deploy_test_runs_pytest_with_the_arguments_given")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("/")[-1].startswith(SHARED_VENV):
            item.add_marker(pytest.mark.xdist_group("shared_venv"))


# Under pytest-xdist: each worker's log files (its capture, its servers' output), gathered by the controller.
WORKER_LOGS = pytest.StashKey[list]()


@pytest.hookimpl(optionalhook=True)  # an xdist hook: only called when xdist runs the session
def pytest_testnodedown(node, error):
    """A worker is done: keep the log files it reported at its session end (None: it reported none)."""
    node.config.stash.setdefault(WORKER_LOGS, []).append(
        (node.gateway.id, getattr(node, "workeroutput", {}).get("intelliwatt_logs")))


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown has flushed the capture
def pytest_sessionfinish(session, exitstatus):
    """Fail the run if any log of it holds a raw ESIID: checked here, after the last test, so it
    does not depend on test order or selection. Under xdist, workers only report their log files;
    the controller checks every worker's logs together, once, after all of them are done."""
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker
        config.workeroutput["intelliwatt_logs"] = log_privacy.session_logs()
        return
    if config.option.collectonly or not session.testscollected:
        return
    found = []
    if config.pluginmanager.hasplugin("dsession"):  # the xdist controller: it ran no test itself
        reported = config.stash.get(WORKER_LOGS, [])
        found += [f"xdist worker {worker} reported no log files (did it crash?)" for worker, logs in reported
                  if logs is None]
        paths = [path for _, logs in reported if logs for path in logs]
        captures = [logs[0] for _, logs in reported if logs]
    elif LOG_CAPTURE.exists():
        paths = log_privacy.session_logs()
        captures = paths[:1]
    else:
        return
    # The whole suite (no paths or selection given) must have captured both kinds of log.
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS and not config.option.keyword \
        and not config.option.markexpr
    found += log_privacy.problems(log_privacy.read_logs(paths), whole_suite=whole_suite, captures=captures)
    if found:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        reporter.ensure_newline()
        reporter.write_sep("=", "log privacy check failed (conftest.py pytest_sessionfinish)", red=True)
        for problem in found:
            reporter.write_line(problem, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
