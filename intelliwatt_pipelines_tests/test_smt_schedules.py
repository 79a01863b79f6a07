"""The SMT schedules and the backfill sensor (vendor-apis.md §2.4): with its flag on, a tick yields
exactly one run request whose config the job accepts, and the schedule starts RUNNING; with it off, a
tick yields none, saying which flag, and it starts STOPPED. All on America/Chicago time."""

import dataclasses
import datetime as dt

import dagster as dg
import pytest

from intelliwatt_pipelines.cdm import smt_authorizations
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.defs.smt_schedules import CADENCES

UTC = dt.timezone.utc
# 07:00 Central on 2026-11-30 (CST, UTC-6): the monthly pull's window ends two days before.
TICK = dt.datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
ESIID = "10443720000000001"


def tick(defs: dg.Definitions, name: str, instance) -> list[dg.RunRequest]:
    schedule = defs.get_schedule_def(name)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    data = schedule.evaluate_tick(context)
    return list(data.run_requests or []), data.skip_message


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("cadence", CADENCES, ids=[c.name for c in CADENCES])
def test_a_tick_requests_one_run_with_its_flag_on_and_none_off(settings, instance, cadence):
    for on in (True, False):
        defs = build_defs(dataclasses.replace(settings, **{cadence.flag: on}))
        schedule = defs.get_schedule_def(cadence.name)
        requests, skipped = tick(defs, cadence.name, instance)
        assert schedule.execution_timezone == "America/Chicago" and schedule.cron_schedule == cadence.cron
        assert schedule.description and cadence.flag_env in schedule.description
        if on:
            assert len(requests) == 1 and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
            job = defs.get_job_def(cadence.job)
            assert dg.validate_run_config(job, requests[0].run_config) is not None
        else:
            assert requests == [] and schedule.default_status == dg.DefaultScheduleStatus.STOPPED
            assert skipped == f"{cadence.name} disabled by {cadence.flag_env}"


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_monthly_pull_asks_for_every_active_agreement_up_to_two_days_ago(settings, instance):
    defs = build_defs(dataclasses.replace(settings, flag_smt_api=True))
    (request,), _ = tick(defs, "smt_monthly_reads_schedule", instance)
    config = request.run_config["ops"]["smt_energydata_fetched"]["config"]
    assert config == {"active_agreements": True, "start": "2025-10-29", "end": "2026-11-28",
                      "include_monthly": True, "include_interval": False}


def sensor_tick(defs, instance):
    sensor = defs.get_sensor_def("smt_backfill_sensor")
    with dg.build_sensor_context(instance=instance, resources={"warehouse": defs.resources["warehouse"]}) as context:
        return sensor, sensor.evaluate_tick(context)


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_the_backfill_sensor_asks_for_a_run_only_when_an_agreement_awaits_its_history(settings, instance, engine):
    defs = build_defs(dataclasses.replace(settings, flag_smt_backfill=True))
    sensor, data = sensor_tick(defs, instance)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert not data.run_requests and "no agreement awaits" in data.skip_message
    now = dt.datetime.now(UTC)
    with engine.begin() as conn:
        smt_authorizations.apply_agreements(conn, [smt_authorizations.AgreementStatus(
            3162880, ESIID, "ACTIVE", "Active - Authorization Confirmed / ACT")], now)
    _, data = sensor_tick(defs, instance)
    assert len(data.run_requests) == 1 and data.run_requests[0].job_name in (None, "smt_backfill_job")
    _, again = sensor_tick(defs, instance)  # the same work in the same slot: the same run key
    assert again.run_requests[0].run_key == data.run_requests[0].run_key
    off = build_defs(dataclasses.replace(settings, flag_smt_backfill=False))
    sensor, data = sensor_tick(off, instance)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED and not data.run_requests
    assert data.skip_message == "smt_backfill_sensor disabled by INTELLIWATT_FLAG_SMT_BACKFILL"
