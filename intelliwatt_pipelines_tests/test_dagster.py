"""The Dagster layer on a real instance: sensor batching, day partitions marked by the ingest run
(one event per asset per day), rebuilds of day ranges and of single homes, asset checks, and the
PostgreSQL instance config."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import raw_file, usage_interval
from intelliwatt_pipelines.defs.definitions import INGEST_JOB, REBUILD_HOMES_JOB, REBUILD_JOB, build_defs
from intelliwatt_pipelines.defs.keys import (
    BILLING_READS,
    DAILY_COMPLETENESS,
    RAW_FILES,
    RECONCILIATION,
    USAGE_INTERVALS,
)
from intelliwatt_pipelines.defs.resources import WarehouseResource
from intelliwatt_pipelines_tests.conftest import DATA, copy_sample

ROOT = Path(__file__).resolve().parent.parent
FALLBACK = "IntervalMeterUsage_sample_fallback_unpadded.csv"
SPRING = "IntervalMeterUsage_sample_spring_padded_two_channels.csv"


def sensor_tick(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("inbox_sensor")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources,
                                      definitions=defs)
    return sensor.evaluate_tick(context)


def run_ingest(defs, instance, request: dg.RunRequest):
    """Run a sensor's request in-process, tagged with its run key as the daemon would."""
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        run_config=request.run_config, instance=instance, raise_on_error=False,
        tags={**request.tags, "dagster/run_key": request.run_key})


def expected_days(expected: dict) -> set[str]:
    return {d["date"] for v in expected.values() for d in v["days"]}


def events_in_run(instance, run_id: str) -> dict[str, list[str]]:
    """Asset -> the partitions of the materializations a run recorded."""
    out: dict[str, list[str]] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.dagster_event.event_specific_data.materialization
        out.setdefault(mat.asset_key.to_user_string(), []).append(mat.partition)
    return out


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_definitions_validate(tmp_path):
    env = dict(os.environ, INTELLIWATT_HOME=str(tmp_path), DAGSTER_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "intelliwatt_pipelines.defs"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_sensor_batches_new_files_and_claims_them(settings, instance):
    settings = settings.__class__(**{**settings.__dict__, "inbox_batch_files": 2})
    for name in (FALLBACK, SPRING, "simple_tiny.csv"):
        copy_sample(name, settings.inbox_dir)
    defs = build_defs(settings)
    first = sensor_tick(defs, instance)
    assert len(first.run_requests) == 2  # three files, two per run
    assert sum(len(r.run_config["ops"]["raw_files"]["config"]["entries"]) for r in first.run_requests) == 3
    again = sensor_tick(defs, instance, cursor=first.cursor)
    assert not again.run_requests  # claimed while their runs are under way
    for request in first.run_requests:
        assert run_ingest(defs, instance, request).success
    after = sensor_tick(defs, instance, cursor=first.cursor)
    assert not after.run_requests and after.skip_message


def test_sensor_skips_files_younger_than_the_minimum_age(settings, instance):
    settings = settings.__class__(**{**settings.__dict__, "inbox_min_age_seconds": 3600})
    copy_sample(FALLBACK, settings.inbox_dir)
    assert not sensor_tick(build_defs(settings), instance).run_requests


def test_one_run_marks_every_partition_it_wrote_and_bad_files_do_not_stop_it(settings, instance, expected):
    copy_sample(FALLBACK, settings.inbox_dir)
    copy_sample(SPRING, settings.inbox_dir)
    (settings.inbox_dir / "broken.csv").write_bytes(b"\x00\x01\x02 not a csv")
    # a damaged SMT interval header (ESIID,USAGE_DATE,KWH would be a valid daily-read header)
    (settings.inbox_dir / "wrong_header.csv").write_text("ESIID,USAGE_DATE,VALUE\n1,2,3\n")
    defs = build_defs(settings)
    tick = sensor_tick(defs, instance)
    assert len(tick.run_requests) == 1
    result = run_ingest(defs, instance, tick.run_requests[0])
    assert result.success

    want = expected_days(expected)
    assert instance.get_materialized_partitions(USAGE_INTERVALS) == want
    assert instance.get_materialized_partitions(DAILY_COMPLETENESS) == want
    assert instance.get_dynamic_partitions("esiid") == []  # homes are not partitions
    assert len(instance.get_runs()) == 1

    checks = check_results(result)
    assert checks["usage_intervals_schema"].passed
    assert checks["daily_completeness_threshold"].passed
    assert not checks["raw_files_failures"].passed  # the two bad files, reported, not fatal
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(raw_file.c.filename, raw_file.c.status)).all())
        errors = dict(conn.execute(sa.select(raw_file.c.filename, raw_file.c.error)).all())
    assert statuses == {FALLBACK: "normalized", SPRING: "normalized", "broken.csv": "failed",
                        "wrong_header.csv": "failed"}
    assert "binary" in errors["broken.csv"] and "header" in errors["wrong_header.csv"]
    mat = instance.fetch_materializations(RAW_FILES, limit=1).records[0].asset_materialization
    assert mat.metadata["files_failed"].value == 2 and mat.metadata["files_normalized"].value == 2


def test_rebuild_of_a_partition_range_is_one_run_from_raw(settings, instance):
    copy_sample(FALLBACK, settings.inbox_dir)
    defs = build_defs(settings)
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    engine = WarehouseResource(url=settings.warehouse_url).engine()

    def table():
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sa.select(usage_interval)).all())

    before = table()
    with engine.begin() as conn:  # damage: a wrong value, a lost row
        u = usage_interval.c
        conn.execute(usage_interval.update().where(u.ts_utc == dt.datetime(2025, 11, 1, 12, tzinfo=dt.timezone.utc))
                     .values(kwh=42.0))
        conn.execute(usage_interval.delete().where(u.ts_utc == dt.datetime(2025, 11, 3, 12, tzinfo=dt.timezone.utc)))
    tags = {"dagster/asset_partition_range_start": "2025-11-01", "dagster/asset_partition_range_end": "2025-11-03"}
    result = defs.resolve_job_def(REBUILD_JOB).execute_in_process(instance=instance, tags=tags)
    assert result.success
    assert table() == before
    assert len(instance.get_runs()) == 2  # the ingest and one rebuild run for all three days
    checks = check_results(result)
    assert checks["usage_intervals_schema"].passed
    assert checks["usage_intervals_schema"].metadata["rows_checked"].value == 292


def test_schema_check_fails_on_bad_rows(settings, instance):
    copy_sample(FALLBACK, settings.inbox_dir)
    defs = build_defs(settings)
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    with engine.begin() as conn:  # a row off the 15-minute grid, a "placeholder" that is not zero
        conn.execute(usage_interval.insert().values(
            esiid="10443720009990001", meter="unknown", channel="consumption",
            ts_utc=dt.datetime(2025, 11, 1, 12, 7, tzinfo=dt.timezone.utc), interval_minutes=15, kwh=5.0,
            quality="filled", source="smt", raw_file_id=1))
    # The checks look at the partitions a run wrote: deliver the same days again under new bytes.
    (settings.inbox_dir / "again.csv").write_bytes((settings.inbox_dir / FALLBACK).read_bytes() + b"\n")
    result = run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0])
    assert result.success
    check = check_results(result)["usage_intervals_schema"]
    assert not check.passed
    failures = check.metadata["failure_cases"].value
    assert "filled_rows_are_zero" in failures and "starts_on_interval_grid" in failures


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_postgres_instance_config_from_deploy(tmp_path, settings, postgres_url, monkeypatch):
    home = tmp_path / "pg_dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    copy_sample(FALLBACK, settings.inbox_dir)
    defs = build_defs(settings)
    with dg.DagsterInstance.get() as inst:
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
        assert type(inst.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(inst.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert run_ingest(defs, inst, sensor_tick(defs, inst).run_requests[0]).success
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                                    )).scalar_one() >= 7
    engine.dispose()


def test_an_ingest_run_over_n_days_records_n_materializations_per_asset_on_postgres(settings, pg_instance, expected):
    copy_sample(FALLBACK, settings.inbox_dir)
    copy_sample(SPRING, settings.inbox_dir)
    defs = build_defs(settings)
    result = run_ingest(defs, pg_instance, sensor_tick(defs, pg_instance).run_requests[0])
    assert result.success
    want = expected_days(expected)  # two homes on different days: 3 + 3 days
    events = events_in_run(pg_instance, result.run_id)
    assert sorted(events["usage_intervals"]) == sorted(want)
    assert sorted(events["daily_completeness"]) == sorted(want)
    assert events["raw_files"] == [None]
    assert set(events) == {"raw_files", "usage_intervals", "daily_completeness"}
    day = pg_instance.fetch_materializations(DAILY_COMPLETENESS, limit=1).records[0].asset_materialization
    assert day.metadata["homes"].value == 1 and day.metadata["homes_complete"].value == 1
    assert "esiid#" in day.metadata["homes_falling_shortest"].value

    # the checks found what the run wrote from the warehouse: its raw files and their coverage
    checks = check_results(result)
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)).scalar_one()
        series_days = conn.execute(sa.text("SELECT count(*) FROM daily_completeness")).scalar_one()
    assert checks["usage_intervals_schema"].passed
    assert checks["usage_intervals_schema"].metadata["rows_checked"].value == stored > 0
    assert checks["daily_completeness_threshold"].metadata["series_days_checked"].value == series_days > 0


def test_the_four_assets_are_partitioned_by_central_days(settings):
    defs = build_defs(settings)
    graph = defs.resolve_asset_graph()
    for key in (USAGE_INTERVALS, DAILY_COMPLETENESS, BILLING_READS, RECONCILIATION):
        pdef = graph.get(key).partitions_def
        assert isinstance(pdef, dg.DailyPartitionsDefinition) and pdef.timezone == "America/Chicago", key
        assert pdef.get_first_partition_key() == settings.partition_start
        assert pdef.get_last_partition_key() == dt.datetime.now(ZoneInfo("America/Chicago")).date().isoformat()
    assert graph.get(RAW_FILES).partitions_def is None


def test_a_new_home_changes_nothing_in_the_partition_definition(settings, instance, expected):
    # the status cache the UI reads (Dagster internals, read here only to watch its definition id)
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    defs = build_defs(settings)
    pdef = defs.resolve_asset_graph().get(USAGE_INTERVALS).partitions_def
    before = pdef.get_serializable_unique_identifier(dynamic_partitions_store=instance)
    copy_sample(FALLBACK, settings.inbox_dir)
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    first = get_and_update_asset_status_cache_value(instance, USAGE_INTERVALS, pdef)
    copy_sample(SPRING, settings.inbox_dir)  # a second ESIID arrives
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    assert pdef.get_serializable_unique_identifier(dynamic_partitions_store=instance) == before
    second = get_and_update_asset_status_cache_value(instance, USAGE_INTERVALS, pdef)
    assert first.partitions_def_id == second.partitions_def_id == before  # updated in place, never rebuilt
    assert second.earliest_in_progress_materialization_event_id is None
    assert instance.get_materialized_partitions(USAGE_INTERVALS) == expected_days(expected)


def test_rebuild_homes_job_restores_one_home_and_leaves_the_others(settings, instance):
    copy_sample(FALLBACK, settings.inbox_dir)  # home A, 2025-11-01..03
    other = "10443720009990077"
    text = (DATA / FALLBACK).read_text().replace("10443720009990001", other)
    (settings.inbox_dir / f"IntervalMeterUsage_{other}.csv").write_text(text)  # home B, the same days
    defs = build_defs(settings)
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    u = usage_interval.c
    noon = dt.datetime(2025, 11, 1, 12, tzinfo=dt.timezone.utc)

    def rows(esiid):
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sa.select(usage_interval).where(u.esiid == esiid)).all())

    before = rows("10443720009990001")
    with engine.begin() as conn:  # damage both homes the same way
        conn.execute(usage_interval.update().where(u.ts_utc == noon).values(kwh=42.0))
    damaged_other = rows(other)
    config = {"ops": {"rebuilt_homes": {"config": {"esiids": ["10443720009990001"], "start": "2025-11-01",
                                                     "end": "2025-11-03"}}}}
    result = defs.resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(run_config=config, instance=instance)
    assert result.success
    assert rows("10443720009990001") == before
    assert rows(other) == damaged_other and any(r[5] == 42.0 for r in damaged_other)
    run = instance.get_run_by_id(result.run_id)
    assert run.tags["intelliwatt/esiid"].startswith("esiid#") and "10443720009990001" not in str(run.tags)
    events = events_in_run(instance, result.run_id)
    for asset in ("usage_intervals", "daily_completeness"):
        assert sorted(events[asset]) == ["2025-11-01", "2025-11-02", "2025-11-03"], asset
    assert "billing_reads" not in events  # an interval file holds no reads: no day claims any


@pytest.mark.parametrize("config, message", [
    ({"esiids": ["abc"], "start": "2025-11-01", "end": "2025-11-03"}, "not 17 or 22"),
    ({"esiids": ["10443720009990001"], "start": "2025-11-03", "end": "2025-11-01"}, "after end"),
    ({"esiids": [], "start": "2025-11-01", "end": "2025-11-03"}, "no ESIIDs"),
])
def test_rebuild_homes_job_refuses_nonsense(settings, instance, config, message):
    result = build_defs(settings).resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(
        run_config={"ops": {"rebuilt_homes": {"config": config}}}, instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert message in str(failure.event_specific_data.error)


def test_sensor_offers_a_batch_again_when_its_claim_is_stale(settings, instance):
    from intelliwatt_pipelines.defs import sensors

    copy_sample(FALLBACK, settings.inbox_dir)
    defs = build_defs(settings)
    first = sensor_tick(defs, instance)
    (request,) = first.run_requests
    # No run ever recorded the file; once the claim is older than the reclaim delay the file is
    # offered again, under a new run key (a reused key would be dropped by Dagster).
    state = json.loads(first.cursor)
    state["claims"] = {k: [t - sensors.RECLAIM_AFTER_SECONDS - 1, rk] for k, (t, rk) in state["claims"].items()}
    retry = sensor_tick(defs, instance, cursor=json.dumps(state))
    (again,) = retry.run_requests
    assert again.run_config == request.run_config and again.run_key != request.run_key


def test_sensor_offers_a_batch_again_as_soon_as_its_run_failed_without_it(settings, instance):
    path = copy_sample(FALLBACK, settings.inbox_dir)
    defs = build_defs(settings)
    first = sensor_tick(defs, instance)
    (request,) = first.run_requests
    hidden = path.with_name(".hidden")
    path.rename(hidden)  # the run cannot read the file: it fails and records nothing
    assert not run_ingest(defs, instance, request).success
    hidden.rename(path)  # same size and mtime: the same entry
    retry = sensor_tick(defs, instance, cursor=first.cursor)
    (again,) = retry.run_requests
    assert again.run_config == request.run_config
    assert run_ingest(defs, instance, again).success
    assert not sensor_tick(defs, instance, cursor=retry.cursor).run_requests


def test_completeness_check_warns_about_days_with_gaps(settings, instance):
    lines = (DATA / FALLBACK).read_text().splitlines(keepends=True)
    del lines[50:60]  # ten readings missing from the middle of 2025-11-01
    (settings.inbox_dir / "gappy.csv").write_text("".join(lines))
    defs = build_defs(settings)
    result = run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0])
    check = check_results(result)["daily_completeness_threshold"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["days_below_threshold"].value == 1
    assert "2025-11-01" in check.metadata["homes_short_by_day"].value


def test_dagster_metadata_carries_no_raw_esiid(settings, instance):
    esiid = "1008901023817895470106"
    copy_sample(SPRING, settings.inbox_dir, as_name=f"IntervalMeterUsage_{esiid}.csv")
    (settings.inbox_dir / f"broken_{esiid}.csv").write_text(f"'{esiid},nonsense\n")
    defs = build_defs(settings)
    result = run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0])
    assert result.success
    shown = []
    for record in instance.all_logs(result.run_id):
        shown.append(record.user_message)
        event = record.dagster_event
        if event and event.event_type_value == "ASSET_MATERIALIZATION":
            shown += [str(v.value) for v in event.event_specific_data.materialization.metadata.values()]
        if event and event.event_type_value == "ASSET_CHECK_EVALUATION":
            shown += [str(v.value) for v in event.event_specific_data.metadata.values()]
    assert any("broken_" in text for text in shown)  # the failed file is listed, with its name masked
    assert not [text for text in shown if esiid in text]
