"""A 1PWR deployment, set up by settings only (INTELLIWATT_MARKET=lesotho): the meter registry, a 1Meter S3
batch, Koios pages and a ThunderCloud snapshot dropped in the inbox go through the inbox sensor's ingest
runs into the canonical tables, and the API serves them on Maseru days."""

import dataclasses
import datetime as dt
import json
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.tables import (
    billing_read,
    daily_completeness,
    meter_role,
    raw_file,
    register_read,
    usage_interval,
)
from intelliwatt_pipelines.cdm.warehouse import create_engine
from intelliwatt_pipelines.defs.definitions import REBUILD_HOMES_JOB, build_defs
from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.test_dagster import check_results, run_ingest, sensor_tick

ONEPWR = DATA / "onepwr"
ACCOUNT, PRIMARY, CHECK = "0005MAK", "23022628", "SMRSD-03-0002E040"
DAY = dt.date(2026, 2, 17)
KEY = "test-consumer-key-1pwr"


@pytest.fixture
def lesotho(monkeypatch, settings):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")
    return dataclasses.replace(settings, market="lesotho", api_keys=(KEY,), partition_start="2026-01-01")


def koios_day(kwh_per_hour: float) -> dict:
    """A Koios page of the check meter covering the Maseru day: 24 hourly rows from 22:00 UTC the day before."""
    start = pd.Timestamp("2026-02-16T22:00Z")
    rows = [{"kilowatt_hours": kwh_per_hour, "timestamp": (start + pd.Timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "meter": {"serial_number": CHECK, "customer": {"code": ACCOUNT}}} for h in range(24)]
    return {"data": rows, "pagination": {"cursor": None, "has_more": False}}


def ingest(defs, instance, cursor=None):
    tick = sensor_tick(defs, instance, cursor)
    results = [run_ingest(defs, instance, request) for request in tick.run_requests]
    assert results and all(r.success for r in results)
    return tick.cursor, results


def deliver(settings, instance, check_kwh_per_hour: float = 0.44 / 24):
    """The registry first (1Meter batches name only meters), then the readings, as two sensor ticks."""
    defs = build_defs(settings)
    shutil.copy(ONEPWR / "meter_registry.csv", settings.inbox_dir / "meter_registry.csv")
    cursor, _ = ingest(defs, instance)
    shutil.copy(ONEPWR / "iot_s3_batch.json", settings.inbox_dir / "1meterdatacopy_20260217.json")
    shutil.copy(ONEPWR / "thundercloud_customers.json", settings.inbox_dir / "thundercloud_customers.json")
    (settings.inbox_dir / "koios_MAK_2026-02-17_p1.json").write_text(json.dumps(koios_day(check_kwh_per_hour)))
    _, results = ingest(defs, instance, cursor)
    return results


def test_a_lesotho_deployment_ingests_1pwr_files_through_the_sensor(lesotho, instance):
    results = deliver(lesotho, instance)
    engine = create_engine(lesotho.warehouse_url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(raw_file.c.kind, raw_file.c.status)).all())
        roles = set(conn.execute(sa.select(meter_role.c.esiid, meter_role.c.meter, meter_role.c.role)).all())
        reads = conn.execute(sa.select(register_read.c.meter, sa.func.count()).group_by(register_read.c.meter)).all()
        days = {(r.meter, r.local_date): r for r in conn.execute(sa.select(daily_completeness)
                                                                  .where(daily_completeness.c.esiid == ACCOUNT))}
        daily = conn.execute(sa.select(billing_read).where(billing_read.c.meter == PRIMARY)).one()
        skipped = conn.execute(sa.select(raw_file.c.rows_skipped, raw_file.c.error)
                               .where(raw_file.c.kind == "onepwr_iot_json")).one()
    assert statuses == {"onepwr_meter_registry": "normalized", "onepwr_iot_json": "normalized",
                        "koios_historical_json": "normalized", "thundercloud_customers_json": "normalized"}
    assert roles == {(ACCOUNT, PRIMARY, "primary"), (ACCOUNT, CHECK, "check")}
    assert dict(reads)[PRIMARY] == 97 and dict(reads)[CHECK] == 1  # ThunderCloud: one snapshot, one read
    # the unregistered meter is named and skipped, its readings kept in the raw file
    assert skipped.rows_skipped == 4 and "meter 23022613 is not registered" in skipped.error
    # a Maseru day: 96 quarter-hours of the 1Meter register's deltas, 24 hours of Koios
    primary, check = days[(PRIMARY, DAY)], days[(CHECK, DAY)]
    assert (primary.expected_intervals, primary.actual_intervals, primary.status) == (96, 96, "complete")
    assert (check.expected_intervals, check.actual_intervals, check.status) == (24, 24, "complete")
    assert primary.kwh_real == pytest.approx(0.44) and check.kwh_real == pytest.approx(0.44)
    # the day's register reads at Maseru midnights became its billing read
    assert (daily.start_reading, daily.end_reading, daily.kwh_total) == (3.01, 3.45, pytest.approx(0.44))
    assert daily.read_start == dt.datetime(2026, 2, 16, 22, tzinfo=dt.timezone.utc)
    checks = check_results(results[-1])
    assert checks["check_meters_agree"].passed and checks["usage_intervals_schema"].passed
    assert checks["check_meters_agree"].metadata["days_compared"].value == 1


def test_the_api_serves_1pwr_accounts_on_maseru_days(lesotho, instance):
    deliver(lesotho, instance)
    headers = {"x-api-key": KEY}
    with TestClient(create_app(lesotho)) as client:
        page = client.get(f"/api/v1/esiids/{ACCOUNT}/intervals", params={"start": "2026-02-17", "end": "2026-02-17",
                                                                          "meter": PRIMARY}, headers=headers)
        summary = client.get(f"/api/v1/esiids/{ACCOUNT}/summary", headers=headers).json()
        checks = client.get(f"/api/v1/esiids/{ACCOUNT}/meter-checks", headers=headers,
                            params={"start": "2026-02-17", "end": "2026-02-17"}).json()
        reads = client.get(f"/api/v1/esiids/{ACCOUNT}/billing-reads", headers=headers).json()["reads"]
        texas_id = client.get("/api/v1/esiids/10443720000000001/summary", headers=headers)
    body = page.json()
    assert page.status_code == 200 and body["timezone"] == "Africa/Maseru"
    assert body["start"] == "2026-02-16T22:00:00Z" and body["end"] == "2026-02-17T22:00:00Z"
    (series,) = body["series"]
    assert len(series["ts"]) == 96 and set(series["utc_offset_minutes"]) == {120}
    assert sum(series["kwh"]) == pytest.approx(0.44) and min(series["kwh"]) >= 0
    # the check meter is reported but not counted as the customer's energy
    assert {s["meter"]: s["role"] for s in summary["series"]} == {PRIMARY: "primary", CHECK: "check"}
    assert summary["kwh_consumption"] == pytest.approx(0.44)
    assert checks["meters"] == [{"meter": PRIMARY, "role": "primary"}, {"meter": CHECK, "role": "check"}]
    (day,) = checks["days"]
    assert (day["local_date"], day["status"], day["difference_kwh"]) == ("2026-02-17", "match", pytest.approx(0))
    assert [(r["read_start_local"], r["kwh_total"]) for r in reads] == [("2026-02-17T00:00:00+02:00", pytest.approx(0.44))]
    assert texas_id.status_code == 422 and "NNNNSSS" in texas_id.json()["error"]["message"]


def test_a_check_meter_that_disagrees_with_the_primary_fails_the_daily_check(lesotho, instance):
    results = deliver(lesotho, instance, check_kwh_per_hour=0.03)  # 0.72 kWh against the primary's 0.44
    check = check_results(results[-1])["check_meters_agree"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["days_disagreeing"].value == 1
    table = check.metadata["disagreements"].value
    assert ACCOUNT not in table and "0.28" in table and CHECK in table  # accounts masked, meters named


def test_a_1pwr_home_rebuilds_from_its_raw_files(lesotho, instance):
    """rebuild_homes_job (what `intelliwatt backfill --esiid 0005MAK` runs) gives back what ingest wrote,
    register-derived intervals and daily reads included, after the rows were damaged."""
    deliver(lesotho, instance)
    engine = create_engine(lesotho.warehouse_url)
    u = usage_interval.c

    def rows():
        with engine.connect() as conn:
            return (sorted(tuple(r) for r in conn.execute(sa.select(usage_interval).where(u.esiid == ACCOUNT))),
                    sorted(tuple(r) for r in conn.execute(sa.select(billing_read))))

    before = rows()
    with engine.begin() as conn:
        conn.execute(usage_interval.update().where(u.meter == PRIMARY).values(kwh=9.0))
        conn.execute(billing_read.delete())
    config = {"ops": {"rebuilt_homes": {"config": {"esiids": [ACCOUNT], "start": "2026-02-16", "end": "2026-02-18"}}}}
    defs = build_defs(lesotho)
    assert defs.resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(run_config=config, instance=instance).success
    assert rows() == before
    bad = {"ops": {"rebuilt_homes": {"config": {"esiids": ["10443720000000001"], "start": "2026-02-16",
                                                "end": "2026-02-18"}}}}
    failed = defs.resolve_job_def(REBUILD_HOMES_JOB).execute_in_process(run_config=bad, instance=instance,
                                                                        raise_on_error=False)
    assert not failed.success
