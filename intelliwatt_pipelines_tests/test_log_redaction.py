"""One redaction point: the logging filter, every engine hiding bound parameters, and an ingest whose
PostgreSQL connections are cut mid-way leaving no raw ESIID in its output or its Dagster events."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.pii import PLATFORM_LOGGERS, RedactingFilter, install_redaction, mask, redact
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests.reliability import terminate_backends

ROOT = Path(__file__).resolve().parent.parent
ONCOR, CENTERPOINT = "10443720000000417", "1008901000000000000417"


def test_the_filter_redacts_message_arguments_exception_and_stack():
    try:
        raise RuntimeError(f"lost the row\nDETAIL:  Key (esiid, meter)=({ONCOR}, M1) already exists.")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("intelliwatt", logging.ERROR, __file__, 1, "home %s, then %s", (ONCOR, CENTERPOINT),
                               exc_info, sinfo=f"Stack (most recent call last):\n  esiid={CENTERPOINT}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.handle(record)
    text = stream.getvalue()
    assert ONCOR not in text and CENTERPOINT not in text, text
    assert f"home {mask(ONCOR)}, then {mask(CENTERPOINT)}" in text
    assert "RuntimeError: lost the row" in text and "Key (esiid, meter)=(values hidden)" in text
    assert "Stack (most recent call last)" in text


def test_redact_hides_the_values_database_errors_quote():
    error = ("(psycopg.errors.CheckViolation) new row violates check constraint\n"
             "DETAIL:  Failing row contains (M-7, Jane Doe, -1).\n"
             "CONTEXT:  COPY usage_interval, line 12, column meter: \"Jane's meter\"\n"
             "[SQL: INSERT INTO t (a, b) VALUES (%(a)s, %(b)s)]\n"
             "[parameters: {'a': 'jane@example.com', 'b': '12 Main St'}]")
    text = redact(error)
    assert not any(value in text for value in ("Jane", "jane@example.com", "Main St", "M-7"))
    assert "[SQL: INSERT INTO t (a, b) VALUES (%(a)s, %(b)s)]" in text and "[parameters hidden]" in text


def test_install_redaction_covers_the_platform_loggers_once():
    handler = logging.StreamHandler(io.StringIO())
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        install_redaction()
        install_redaction()
        for name in PLATFORM_LOGGERS:
            logger = logging.getLogger(name)
            for target in (logger, *logger.handlers):
                assert sum(isinstance(f, RedactingFilter) for f in target.filters) == 1, (name, target)
        logging.getLogger("uvicorn.error").error("request for %s", ONCOR)
        assert handler.stream.getvalue() == f"request for {mask(ONCOR)}\n"
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)


def test_loading_the_code_location_redacts_python_logging_in_that_process(tmp_path):
    """What a run worker or code server does: configure logging, load intelliwatt_pipelines.defs."""
    script = ("import logging, sys\n"
              "logging.basicConfig(stream=sys.stdout, format='%(name)s %(message)s')\n"
              "import intelliwatt_pipelines.defs\n"
              f"logging.getLogger('sqlalchemy.pool').warning('reset failed for %s', '{ONCOR}')\n"
              f"logging.getLogger('dagster').error('sensor tick: %s', '{CENTERPOINT}')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "INTELLIWATT_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"reset failed for {mask(ONCOR)}" in done.stdout and f"sensor tick: {mask(CENTERPOINT)}" in done.stdout
    assert ONCOR not in done.stdout + done.stderr and CENTERPOINT not in done.stdout + done.stderr


def test_a_failed_step_stores_only_the_redacted_error_in_the_event_log():
    import dagster as dg
    from dagster._serdes import serialize_value

    from intelliwatt_pipelines.defs.logs import redacted_errors

    @dg.op
    @redacted_errors
    def fails():
        try:
            raise ValueError(f"DETAIL:  Key (esiid)=({CENTERPOINT}) already exists.")
        except ValueError as exc:  # a chained cause is serialized too, unless cut off
            raise RuntimeError(f"lost {ONCOR}") from exc

    @dg.op
    @redacted_errors
    def fails_midway():
        yield dg.Output(1)
        raise RuntimeError(f"lost {ONCOR}")

    for op in (fails, fails_midway):
        with dg.instance_for_test() as instance:
            result = dg.GraphDefinition(name="g", node_defs=[op]).to_job().execute_in_process(
                instance=instance, raise_on_error=False)
            events = [serialize_value(r) for r in instance.all_logs(result.run_id)]
        assert not result.success and any("STEP_FAILURE" in e for e in events)
        assert not [e for e in events if _raw_esiids(e)], op.name
        assert any(f"lost {mask(ONCOR)}" in e for e in events)


# --- a connection cut mid-ingest on PostgreSQL ---------------------------------------------------

def _inbox(folder: Path) -> Path:
    """Two files big enough that the ingest is still writing when its connections are cut."""
    folder.mkdir()
    days = date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    (folder / "IntervalMeterUsage_a.csv").write_bytes(smt_interval_csv(ONCOR, days, seed=1))
    (folder / "IntervalMeterUsage_b.csv").write_bytes(smt_interval_csv(CENTERPOINT, days, seed=2))
    return folder


def _cut_while_writing(process: subprocess.Popen, url: str, seconds: float = 300) -> int:
    """Once the ingest has registered a raw file, terminate the database's backends (all but
    ours) again and again until the process ends: whatever statement is in flight fails."""
    watcher = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    deadline, cuts = time.monotonic() + seconds, 0
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if cuts or _has_raw_file(watcher):
                cuts += terminate_backends(url)
            time.sleep(0.05)
    finally:
        watcher.dispose()
    return cuts


def _has_raw_file(engine: sa.Engine) -> bool:
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT count(*) FROM raw_file")).scalar())
    except sa.exc.DBAPIError:  # not migrated yet, or our connection was cut too
        return False


def _raw_esiids(text: str) -> list[str]:
    return [e for e in (ONCOR, CENTERPOINT) if e in text]


@pytest.mark.timeout(600)
def test_a_connection_cut_mid_ingest_leaves_no_raw_esiid_in_its_output_or_dagster_events(tmp_path, postgres_url):
    import dagster as dg
    from dagster._serdes import serialize_value

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "INTELLIWATT_HOME": str(tmp_path), "INTELLIWATT_WAREHOUSE_URL": postgres_url,
           "INTELLIWATT_INBOX_DIR": str(_inbox(tmp_path / "inbox")), "INTELLIWATT_INBOX_MIN_AGE_SECONDS": "0",
           "INTELLIWATT_RAW_STORE_URL": str(tmp_path / "raw"), "DAGSTER_HOME": str(home)}
    process = subprocess.Popen([sys.executable, "-m", "intelliwatt_pipelines.cli", "ingest"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cuts = _cut_while_writing(process, postgres_url)
    out, err = process.communicate(timeout=300)
    # the run fails, and the CLI may fail after it (its own summary query is cut too)
    assert cuts and process.returncode != 0, f"the cut did not land\n{out}\n{err[-3000:]}"
    assert not _raw_esiids(out + err), f"raw ESIID on the ingest's output:\n{out}\n{err}"

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        events = [serialize_value(record) for run in runs for record in instance.all_logs(run.run_id)]
    assert runs and any("STEP_FAILURE" in e for e in events), "no failed step in the Dagster event log"
    leaks = [e[:2000] for e in events if _raw_esiids(e)]
    assert not leaks, f"{len(leaks)} Dagster event(s) with a raw ESIID:\n" + "\n".join(leaks[:3])


@pytest.mark.timeout(600)
def test_a_connection_cut_under_the_bare_ingest_shows_no_bound_parameters(tmp_path, postgres_url):
    """The ingest without Dagster (the reliability worker: take_entry on the package's create_engine);
    its error reaches stderr as an uncaught traceback, which no logging filter sees."""
    process = subprocess.Popen(
        [sys.executable, "-m", "intelliwatt_pipelines_tests.reliability", postgres_url, str(_inbox(tmp_path / "inbox")),
         str(tmp_path / "raw")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cuts = _cut_while_writing(process, postgres_url)
    out, err = process.communicate(timeout=300)
    assert cuts and process.returncode != 0 and "OperationalError" in err, f"the cut did not land\n{out}\n{err}"
    assert not _raw_esiids(out + err) and "[parameters:" not in err, err[-5000:]
