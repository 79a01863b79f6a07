"""Headless ingest through the CLI, migrations matching the table definitions, log privacy."""

import logging

import dagster as dg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from intelliwatt_pipelines import cli
from intelliwatt_pipelines.cdm.tables import metadata, usage_interval
from intelliwatt_pipelines.cdm.warehouse import VERSION_TABLE, create_engine
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines_tests.conftest import DATA, copy_sample


@pytest.fixture
def cli_env(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("INTELLIWATT_HOME", str(settings.home))
    monkeypatch.setenv("INTELLIWATT_WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("INTELLIWATT_INBOX_MIN_AGE_SECONDS", "0")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return settings


def test_ingest_exits_zero_when_every_file_lands_or_is_known(cli_env, capsys):
    inbox = cli_env.inbox_dir
    copy_sample("IntervalMeterUsage_sample_fallback_unpadded.csv", inbox)
    copy_sample("simple_tiny.csv", inbox)
    assert cli.main(["ingest", "--inbox", str(inbox)]) == 0
    out = capsys.readouterr().out
    assert "2 new" in out and "IntervalMeterUsage_sample_fallback_unpadded.csv: normalized, 292 rows" in out
    copy_sample("simple_tiny.csv", inbox, as_name="same_bytes_again.csv")
    assert cli.main(["ingest", "--inbox", str(inbox)]) == 0  # known bytes under a new name
    assert cli.main(["ingest", "--inbox", str(inbox)]) == 0
    assert "0 new" in capsys.readouterr().out


def test_ingest_exits_nonzero_when_a_file_fails(cli_env, capsys):
    copy_sample("IntervalMeterUsage_sample_fallback_unpadded.csv", cli_env.inbox_dir)
    (cli_env.inbox_dir / "junk.csv").write_bytes(b"\x00\xff" * 100)
    assert cli.main(["ingest", "--inbox", str(cli_env.inbox_dir)]) == 1
    out = capsys.readouterr().out
    assert "junk.csv: failed" in out and "binary" in out
    assert "IntervalMeterUsage_sample_fallback_unpadded.csv: normalized" in out


def ingested_sample(settings):
    """The fallback sample ingested by the CLI: (engine, a reader of every stored interval)."""
    copy_sample("IntervalMeterUsage_sample_fallback_unpadded.csv", settings.inbox_dir)
    assert cli.main(["ingest"]) == 0
    engine = create_engine(settings.warehouse_url)
    return engine, lambda: sorted(map(tuple, engine.connect().execute(sa.select(usage_interval)).all()))


def test_backfill_command_rebuilds_a_range(cli_env, capsys):
    engine, read = ingested_sample(cli_env)
    before = read()
    with engine.begin() as conn:
        conn.execute(usage_interval.delete().where(usage_interval.c.quality == "estimated"))
    assert len(read()) == len(before) - 12
    assert cli.main(["backfill", "--esiid", "10443720009990001", "--start", "2025-11-01", "--end", "2025-11-03"]) == 0
    assert read() == before
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["rebuild_homes_job", "inbox_ingest_job"]  # one run for the home
        assert runs[0].tags["intelliwatt/esiid"].startswith("esiid#")
    engine.dispose()


def test_backfill_command_for_every_home_of_a_day_range(cli_env):
    engine, read = ingested_sample(cli_env)
    before = read()
    with engine.begin() as conn:
        conn.execute(usage_interval.update().values(kwh=7.0))
    assert cli.main(["backfill", "--start", "2025-11-01", "--end", "2025-11-03"]) == 0
    assert read() == before
    engine.dispose()


@pytest.mark.parametrize("args", [["--esiid", "abc"], ["--esiid", "1044372000999000"], ["--start", "2025-11-03"],
                                  ["--start", "2023-12-31"], ["--end", "2099-01-01"]])
def test_backfill_command_refuses_nonsense(cli_env, capsys, args):
    base = {"--esiid": "10443720009990001", "--start": "2025-11-01", "--end": "2025-11-02"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["backfill"] + [x for k, v in base.items() for x in (k, v)]
    assert cli.main(argv) == 2
    assert "--" in capsys.readouterr().err
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []


def test_migrations_create_exactly_the_declared_tables(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_logs_of_an_ingest_carry_no_raw_esiid(cli_env, caplog, capsys):
    esiid = "1008901023817895470106"
    copy_sample("IntervalMeterUsage_sample_spring_padded_two_channels.csv", cli_env.inbox_dir,
                as_name=f"IntervalMeterUsage_{esiid}.csv")
    with caplog.at_level(logging.DEBUG):
        assert cli.main(["ingest"]) == 0
    printed = capsys.readouterr().out
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        messages = [r.user_message for r in instance.all_logs(run.run_id)]
    assert any("raw_file" in m for m in messages)  # the run's log lines were read
    for text in messages + [r.getMessage() for r in caplog.records] + [printed]:
        assert esiid not in text


def test_redact_masks_both_esiid_lengths_only():
    text = redact("file 10443720000000001 and 1008901023817895470106 but not 123456")
    assert "10443720000000001" not in text and "1008901023817895470106" not in text and "123456" in text


def test_reprocess_takes_a_failed_file_again_from_its_raw_bytes(cli_env, monkeypatch, capsys):
    lines = (DATA / "IntervalMeterUsage_sample_fallback_unpadded.csv").read_text().splitlines(keepends=True)
    lines[10] = lines[10].replace(",A,", ",X,")  # one bad flag: the file fails under the strict default
    (cli_env.inbox_dir / "one_bad_row.csv").write_text("".join(lines))
    assert cli.main(["ingest"]) == 1
    assert cli.main(["reprocess", "1"]) == 1  # same rules, same result
    monkeypatch.setenv("INTELLIWATT_MAX_INVALID_FRACTION", "0.01")  # the operator decides to tolerate it
    assert cli.main(["reprocess", "1"]) == 0
    out = capsys.readouterr().out
    assert "raw_file 1 (one_bad_row.csv): normalized - 1 invalid rows tolerated" in out
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_materialized_partitions(dg.AssetKey("usage_intervals"))) == 3


@pytest.mark.slow
def test_a_file_copied_into_the_inbox_just_now_is_ingested_at_once(tmp_path):
    """`cp sample inbox/ && intelliwatt ingest`, as a user types it, on embedded defaults."""
    import os
    import sqlite3
    import subprocess
    import sys

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    # a minimum age longer than the command's start-up, so the file is surely still "young" when listed
    env.update(INTELLIWATT_HOME=str(home), INTELLIWATT_INBOX_MIN_AGE_SECONDS="10")

    def ingest():
        return subprocess.run([sys.executable, "-m", "intelliwatt_pipelines.cli", "ingest"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    (home / "inbox").mkdir(parents=True)
    name = "IntervalMeterUsage_sample_fallback_unpadded.csv"
    (home / "inbox" / name).write_bytes((DATA / name).read_bytes())  # like cp: the mtime is now
    done = ingest()
    assert done.returncode == 0, done.stderr[-2000:]
    assert "waiting for 1 file(s) to be at rest" in done.stdout
    assert "IntervalMeterUsage_sample_fallback_unpadded.csv: normalized, 292 rows" in done.stdout
    assert "1/1 files, 292 rows" in done.stdout
    with sqlite3.connect(home / "warehouse.db") as conn:
        assert conn.execute("SELECT count(*) FROM usage_interval").fetchone() == (292,)
    (home / "inbox" / "junk.csv").write_bytes(b"\x00\xff" * 100)
    failed = ingest()  # waits for it too, then fails it
    assert failed.returncode == 1 and "junk.csv: failed" in failed.stdout


def test_migrate_deletes_the_old_per_esiid_partitions(cli_env, capsys):
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("esiid", ["10443720009990001", "10443720009990002"])
    assert cli.main(["migrate"]) == 0
    assert "deleted 2 per-ESIID partition(s)" in capsys.readouterr().out
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("esiid") == []
    assert cli.main(["migrate"]) == 0  # nothing left to delete: says nothing about it
    assert "per-ESIID" not in capsys.readouterr().out
