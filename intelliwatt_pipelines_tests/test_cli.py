"""The ``intelliwatt`` CLI refuses nonsense before launching anything (exit 2, one readable line,
nothing in the Dagster instance), never records a day it holds no data for, and speaks plainly: a
summary by default, Dagster's event stream with --verbose, one JSON object with --json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from intelliwatt_pipelines import cli
from intelliwatt_pipelines.cli.rebuild import covered_runs
from intelliwatt_pipelines.defs.keys import BILLING_READS, DAILY_COMPLETENESS, RECONCILIATION, USAGE_INTERVALS
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines_tests.conftest import copy_sample

ASSETS = [dg.AssetKey("raw_files"), USAGE_INTERVALS, DAILY_COMPLETENESS, BILLING_READS, RECONCILIATION]
HOME = "10443720009990001"  # the fallback sample's home, 2025-11-01..03
ONCOR = "10443720000000001"  # the seeded sample's first home, 2025-10-30..11-05, with daily reads
FALLBACK = "IntervalMeterUsage_sample_fallback_unpadded.csv"
EXE = Path(sys.executable).with_name("intelliwatt")


@pytest.fixture
def cli_env(settings, monkeypatch, tmp_path):
    """The CLI's environment: this test's warehouse and inbox, a Dagster home of its own."""
    env = {"INTELLIWATT_HOME": str(settings.home), "INTELLIWATT_WAREHOUSE_URL": settings.warehouse_url,
           "INTELLIWATT_RAW_STORE_URL": settings.raw_store_url, "INTELLIWATT_INBOX_DIR": str(settings.inbox_dir),
           "INTELLIWATT_INBOX_MIN_AGE_SECONDS": "0", "INTELLIWATT_PARTITION_START": "2024-01-01",
           "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The installed command, as a user types it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INTELLIWATT_", "DAGSTER_"))}
    return subprocess.run([str(EXE), *args], env={**clean, **env}, capture_output=True, text=True, timeout=300)


def materialized_days(instance, key) -> set[str]:
    return {r.partition_key for r in instance.fetch_materializations(key, limit=10_000).records if r.partition_key}


def assert_nothing_in(instance) -> None:
    assert instance.get_runs() == []
    for key in ASSETS:
        assert instance.get_latest_materialization_event(key) is None, key
        assert instance.fetch_materializations(key, limit=1).records == [], key
    assert instance.get_dynamic_partitions("esiid") == []


BACKFILL = ["backfill", "--esiid", HOME, "--start", "2025-11-01", "--end", "2025-11-03"]


@pytest.mark.parametrize("change, said", [
    ({"--esiid": "abc"}, "is not an ESIID: an ESIID is 17 (Oncor and others) or 22 (CenterPoint) ASCII digits"),
    ({"--esiid": HOME[:-1]}, "(16 digits) is not an ESIID"),  # a digit short: named by its mask only
    ({"--start": "2025-11-03", "--end": "2025-11-01"}, "--start 2025-11-03 is after --end 2025-11-01"),
    ({"--start": "2025-02-30"}, "'2025-02-30' is not a day (day is out of range for month)"),
    ({"--start": "yesterday"}, "'yesterday' is not a day"),
    ({"--end": "2025-13-01"}, "'2025-13-01' is not a day (month must be in 1..12)"),
    ({"--start": "2023-12-31"}, "must be within the day partitions, 2024-01-01"),
    ({"--end": "2099-01-01"}, "must be within the day partitions"),
])
def test_backfill_refuses_nonsense_before_touching_dagster(cli_env, tmp_path, capsys, change, said):
    args = dict(zip(BACKFILL[1::2], BACKFILL[2::2], strict=True)) | change
    assert cli.main(["backfill"] + [x for kv in args.items() for x in kv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("intelliwatt backfill: error: "), err
    assert said in err and "YYYY-MM-DD" in err if "not a day" in said else said in err
    assert HOME[:-1] not in err and (change.get("--esiid") != "abc" or mask("abc") in err)
    assert not (tmp_path / "dagster_home" / "storage").exists()  # the instance was not even opened
    with dg.DagsterInstance.get() as instance:
        assert_nothing_in(instance)


def test_a_bad_argument_with_json_is_a_json_error_too(cli_env, capsys):
    assert cli.main(["backfill", "--json", "--esiid", "abc", "--start", "2025-11-01", "--end", "2025-11-01"]) == 2
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["ok"] is False and summary["exit_code"] == 2 and summary["runs"] == []
    assert "is not an ESIID" in summary["errors"][0] and err.count("\n") == 1


def test_homes_or_days_without_raw_data_launch_nothing(cli_env, settings, capsys):
    copy_sample(FALLBACK, settings.inbox_dir)
    assert cli.main(["ingest"]) == 0
    with dg.DagsterInstance.get() as instance:
        before = instance.get_runs()
        days_before = {key: materialized_days(instance, key) for key in ASSETS[1:]}
    capsys.readouterr()
    unknown = "10443720009990002"  # well-formed, never ingested
    two = ["backfill", "--esiid", HOME, "--esiid", unknown, "--start", "2025-11-01", "--end", "2025-11-03"]
    assert cli.main(two) == 2
    err = capsys.readouterr().err
    assert f"no stored raw data for 1 of 2 home(s) on 2025-11-01..2025-11-03 ({mask(unknown)}): nothing to rebuild" \
        in err and unknown not in err and err.count("\n") == 1
    assert cli.main(["backfill", "--esiid", HOME, "--start", "2025-06-01", "--end", "2025-06-30"]) == 2  # no data then
    assert cli.main(["backfill", "--start", "2025-06-01", "--end", "2025-06-30"]) == 2  # no home at all then
    assert "no stored raw data for any home on 2025-06-01..2025-06-30" in capsys.readouterr().err
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == before
        assert {key: materialized_days(instance, key) for key in ASSETS[1:]} == days_before


def test_reprocess_of_unknown_raw_files_and_a_missing_inbox_launch_nothing(cli_env, tmp_path, capsys):
    assert cli.main(["reprocess", "1", "99"]) == 2
    assert "2 of 2 raw_file id(s) are not in the warehouse: 1, 99" in capsys.readouterr().err
    assert cli.main(["reprocess", "one"]) == 2
    assert "'one' is not a raw_file id" in capsys.readouterr().err
    assert cli.main(["ingest", "--inbox", str(tmp_path / "no_such_folder")]) == 2
    err = capsys.readouterr().err
    assert "no_such_folder does not exist or is not a folder (--inbox)" in err and err.count("\n") == 1
    with dg.DagsterInstance.get() as instance:
        assert_nothing_in(instance)


@pytest.mark.slow
def test_a_rebuild_records_only_the_days_with_data(cli_env, settings):
    """A range wider than the data: the days no file covers get no materialization, by either path."""
    assert run(cli_env, "seed").returncode == 0
    assert run(cli_env, "ingest").returncode == 0
    with dg.DagsterInstance.get() as instance:
        ingested = {key: materialized_days(instance, key) for key in ASSETS[1:]}
    assert len(ingested[USAGE_INTERVALS]) == 12 and len(ingested[BILLING_READS]) == 7
    for args in (["--esiid", ONCOR], []):
        done = run(cli_env, "backfill", *args, "--start", "2025-10-01", "--end", "2025-11-30")
        assert done.returncode == 0, done.stderr[-2000:]
        with dg.DagsterInstance.get() as instance:
            assert {key: materialized_days(instance, key) for key in ASSETS[1:]} == ingested, args
            runs = instance.get_runs(limit=2 if not args else 1)
            # every home: the intervals' days, then the reads' days, each one run over the 7 covered days
            expected = [("rebuild_homes_job", None, None)] if args else [
                ("billing_rebuild_job", "2025-10-30", "2025-11-05"), ("usage_rebuild_job", "2025-10-30", "2025-11-05")]
            assert [(r.job_name, r.tags.get("dagster/asset_partition_range_start"),
                     r.tags.get("dagster/asset_partition_range_end")) for r in runs] == expected
            recorded = {}  # what the rebuild itself recorded: the oncor home's 7 days, intervals and reads
            for r in runs:
                for record in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
                    mat = record.dagster_event.event_specific_data.materialization
                    recorded.setdefault(mat.asset_key, set()).add(mat.partition)
            week = {f"2025-10-{d}" for d in (30, 31)} | {f"2025-11-0{d}" for d in range(1, 6)}
            assert recorded == {key: week for key in ASSETS[1:]}, args


@pytest.mark.slow
def test_output_is_a_summary_by_default_the_event_stream_with_verbose_and_json_for_scripts(cli_env):
    assert run(cli_env, "seed").returncode == 0
    ingest = run(cli_env, "ingest", "--json")
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    summary = json.loads(ingest.stdout)  # the whole of stdout is one JSON object
    assert summary["command"] == "ingest" and summary["ok"] is True and summary["exit_code"] == 0
    assert summary["counts"] | {"homes": 2} == {"files": 3, "files_normalized": 3, "files_failed": 0,
                                                "files_skipped": 0, "files_left_changing": 0, "rows": 1635,
                                                "homes": 2, "days": 12, "runs": 1, "runs_failed": 0}
    assert [f["status"] for f in summary["files"]] == ["normalized"] * 3 and summary["errors"] == []
    assert [(r["job"], r["status"]) for r in summary["runs"]] == [("inbox_ingest_job", "SUCCESS")]
    assert "3 new file(s)" in ingest.stderr  # progress still shows, off stdout

    args = ("backfill", "--esiid", ONCOR, "--start", "2025-11-01", "--end", "2025-11-03")
    plain = run(cli_env, *args)
    assert plain.returncode == 0, plain.stderr[-2000:]
    lines = plain.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("run ")
    assert lines[0].endswith(" (rebuild_homes_job, 1 home(s), 2025-11-01..2025-11-03): success")
    assert lines[1].startswith(f"backfill: 1 home(s) ({mask(ONCOR)}), 3 day(s) with data in 2025-11-01..2025-11-03, ")
    assert "1 run(s), 0 failed" in lines[1]
    assert "DEBUG" not in plain.stdout + plain.stderr and "STEP_START" not in plain.stderr
    assert ONCOR not in plain.stdout + plain.stderr

    verbose = run(cli_env, *args, "--verbose")
    assert verbose.returncode == 0 and " - DEBUG - " in verbose.stderr and "STEP_START" in verbose.stderr
    assert ONCOR not in verbose.stdout + verbose.stderr

    as_json = run(cli_env, *args, "--json")
    assert as_json.returncode == 0
    summary = json.loads(as_json.stdout)
    (launched,) = summary["runs"]
    assert summary["command"] == "backfill" and summary["ok"] is True and summary["errors"] == []
    assert launched["job"] == "rebuild_homes_job" and launched["status"] == "SUCCESS"
    assert summary["counts"]["homes"] == 1 and summary["counts"]["days"] == 3 and summary["counts"]["runs"] == 1
    assert summary["counts"]["intervals"] > 0
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(launched["run_id"]).job_name == "rebuild_homes_job"


def test_a_failed_file_exits_one_and_says_so(cli_env, settings):
    (settings.inbox_dir / "junk.csv").write_bytes(b"\x00\xff" * 100)
    done = run(cli_env, "ingest", "--json")
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["ok"] is False and summary["counts"]["files_failed"] == 1
    assert any(e.startswith("junk.csv: failed") for e in summary["errors"])


def test_every_home_backfill_runs_cover_only_days_with_data_in_runs_of_at_most_days_per_run():
    import datetime as dt

    d = lambda day: dt.date(2025, 10, day)  # noqa: E731
    coverage = [("a", d(1), d(10)), ("b", d(9), d(12)), ("c", d(20), d(20)), ("d", d(25), d(31))]
    assert covered_runs(coverage, d(2), d(26), 4) == [(d(2), d(5)), (d(6), d(9)), (d(10), d(12)),
                                                          (d(20), d(20)), (d(25), d(26))]
