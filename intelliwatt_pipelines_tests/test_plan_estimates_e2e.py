"""The plan analyzer end to end on a real Dagster instance: a generated home-year through the inbox and the
ingest job, then tariffs, plans, buckets and estimates materialized by ``plan_analysis_job``. The expected
costs are recomputed here from ``usage_interval`` alone (vendor-apis.md §2.8 end-to-end check)."""

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines import samples
from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.tables import (
    plan_estimate,
    plan_estimate_current,
    usage_bucket,
    usage_interval,
)
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.defs.plans import PLAN_ANALYSIS_JOB
from intelliwatt_pipelines.defs.resources import WarehouseResource
from intelliwatt_pipelines.defs.tariffs import TDSP_TARIFFS_JOB
from intelliwatt_pipelines.pricing.engine import Tdsp
from intelliwatt_pipelines.pricing.intervals import price_intervals
from intelliwatt_pipelines.pricing.localtime import local_readings
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines_tests.test_api import API_KEY, CONSUMER
from intelliwatt_pipelines_tests.test_dagster import run_ingest, sensor_tick
from intelliwatt_pipelines_tests.test_plan_estimates import estimates, premises

ESIID = "10443720000000001"
CHICAGO = "America/Chicago"
AS_OF = "2026-01-15"  # Oncor 4.23 $/month + 5.5833 ¢/kWh in force (the packaged tariff feed)
FLAT = {"key": "test:oncor:flat-10", "supplierSlug": "test", "supplierName": "Test Energy", "planId": "flat-10",
        "planName": "Flat 10", "termMonths": 12, "tdspSlug": "oncor", "rateType": "fixed",
        "baseMonthlyFeeCents": 0, "centsPerKwhJson": [{"minKwh": 0, "maxKwh": None, "centsPerKwh": 10}]}
NIGHT = {**FLAT, "key": "test:oncor:night-window", "planId": "night-window", "planName": "Night Window",
         "rateType": "tou", "centsPerKwhJson": None,
         "touWindowsJson": [{"label": "01-03", "startHour": 1, "endHour": 3, "centsPerKwh": 30},
                            {"label": "rest", "startHour": 3, "endHour": 1, "centsPerKwh": 10}]}
MON_WED, OTHER_DAYS = [1, 2, 3], [0, 4, 5, 6]
MIDWEEK = {**FLAT, "key": "test:oncor:midweek-nights", "planId": "midweek-nights", "planName": "Midweek Nights",
           "rateType": "tou", "centsPerKwhJson": None, "touWindowsJson": [
               {"startHour": 22, "endHour": 6, "daysOfWeek": MON_WED, "centsPerKwh": 5},
               {"startHour": 6, "endHour": 22, "daysOfWeek": MON_WED, "centsPerKwh": 20},
               {"startHour": 22, "endHour": 6, "daysOfWeek": OTHER_DAYS, "centsPerKwh": 7},
               {"startHour": 6, "endHour": 22, "daysOfWeek": OTHER_DAYS, "centsPerKwh": 12}]}
WINDOW = "kwh.m.all.0100-0300"


@pytest.fixture
def analyzer(settings, instance, tmp_path):
    plans = tmp_path / "plans"
    plans.mkdir()
    for plan in (FLAT, NIGHT, MIDWEEK):
        (plans / f"{plan['planId']}.json").write_text(json.dumps(plan))
    settings = dataclasses.replace(settings, plans_dir=plans)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    (settings.inbox_dir / f"IntervalMeterUsage_{ESIID}_2025.csv").write_bytes(
        samples.smt_interval_csv(ESIID, days, seed=21))
    defs = build_defs(settings)
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    premises(engine, LocalRawStore(settings.raw_store_url), tmp_path / "ercot", [ESIID])  # an Oncor home
    assert defs.resolve_job_def(TDSP_TARIFFS_JOB).execute_in_process(instance=instance).success
    return defs


def analyse(defs, instance):
    result = defs.resolve_job_def(PLAN_ANALYSIS_JOB).execute_in_process(
        instance=instance, run_config={"ops": {"plan_estimates": {"config": {"as_of": AS_OF}}}})
    assert result.success
    return {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
            for m in result.asset_materializations_for_node("plan_estimates")}


def readings(engine) -> pd.DataFrame:
    query = sa.select(usage_interval.c.ts_utc, usage_interval.c.interval_minutes, usage_interval.c.kwh).where(
        usage_interval.c.esiid == ESIID, usage_interval.c.channel == "consumption",
        usage_interval.c.quality.in_(("actual", "estimated")))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=["ts_utc", "minutes", "kwh"])
    frame["local"] = pd.to_datetime(frame["ts_utc"], utc=True).dt.tz_convert(CHICAGO)
    return frame


def current(engine) -> dict[str, dict]:
    return estimates(engine, ESIID)


def counts(engine) -> tuple:
    with engine.connect() as conn:
        return (conn.scalar(sa.select(sa.func.count()).select_from(plan_estimate)),
                conn.scalar(sa.select(sa.func.count()).select_from(usage_bucket)),
                conn.scalar(sa.select(sa.func.max(usage_bucket.c.computed_at))),
                conn.scalar(sa.select(sa.func.max(plan_estimate_current.c.selected_at))))


def test_a_generated_home_year_priced_end_to_end(settings, instance, analyzer):
    analyse(analyzer, instance)
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    frame = readings(engine)
    monthly_kwh = frame.groupby(frame["local"].dt.strftime("%Y-%m"))["kwh"].sum()
    assert len(monthly_kwh) == 12
    estimates = current(engine)
    flat = estimates["test:oncor:flat-10"]
    assert flat["status"] == "OK", flat["reason"]
    # Each month's bill is rounded to the cent: Σ round(kWh × (10 + 5.5833) ¢ + 423 ¢).
    bills = [np.floor(kwh * 15.5833 + 423 + 0.5) for kwh in monthly_kwh]
    assert flat["annual_cost_dollars"] == pytest.approx(sum(bills) / 100, abs=1e-9)
    assert flat["annual_cost_dollars"] == pytest.approx((monthly_kwh.sum() * 15.5833 + 12 * 423) / 100, abs=0.06)
    assert json.loads(flat["usage_months"]) == list(monthly_kwh.index)

    night = estimates["test:oncor:night-window"]
    assert night["status"] == "OK", night["reason"]
    local = local_readings(pd.to_datetime(frame["ts_utc"], utc=True).dt.tz_localize(None).to_numpy(),
                           frame["minutes"].to_numpy(), frame["kwh"].to_numpy())
    structure = RateStructure.from_json_dict(json.loads(night["rate_structure"]))
    by_interval = price_intervals(structure, local, Tdsp(5.5833, 423.0))
    assert by_interval.status == "OK" and by_interval.annual_cost_dollars == pytest.approx(
        night["annual_cost_dollars"], abs=0.005)


def test_the_night_window_is_in_local_time_across_both_dst_nights(settings, instance, analyzer):
    """01:00-03:00 local: on 2025-03-09 only 01:00-02:00 exists (4 quarter-hours), on 2025-11-02 01:00-02:00
    happens twice (12): March has 30 × 8 + 4 and November 29 × 8 + 12 readings in the window."""
    analyse(analyzer, instance)
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    frame = readings(engine)
    hour = frame["local"].dt.hour
    in_window = frame[(hour >= 1) & (hour < 3)]
    by_month = in_window.groupby(in_window["local"].dt.strftime("%Y-%m"))["kwh"].agg(["sum", "count"])
    with engine.connect() as conn:
        rows = {r.year_month: r for r in conn.execute(sa.select(usage_bucket).where(
            usage_bucket.c.esiid == ESIID, usage_bucket.c.bucket_key == WINDOW))}
    assert rows["2025-03"].intervals == 30 * 8 + 4 and rows["2025-11"].intervals == 29 * 8 + 12
    for month in ("2025-03", "2025-06", "2025-11"):
        assert rows[month].kwh == pytest.approx(by_month.loc[month, "sum"], abs=1e-6)
        assert rows[month].intervals == by_month.loc[month, "count"]


def test_materializing_again_with_unchanged_inputs_writes_nothing(settings, instance, analyzer):
    first = analyse(analyzer, instance)["plan_estimates"]
    assert first["homes"] == 1 and first["computed"] >= 2
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    before = counts(engine)
    metadata = analyse(analyzer, instance)["plan_estimates"]
    assert counts(engine) == before
    assert metadata["computed"] == 0 and metadata["reused"] == 0


def test_the_api_serves_what_the_engine_wrote(settings, instance, analyzer):
    """The routes over the engine's real rows (their response models validate what it stores)."""
    analyse(analyzer, instance)
    with TestClient(create_app(dataclasses.replace(settings, api_keys=(API_KEY,)))) as client:
        listing = client.get(f"/api/v1/esiids/{ESIID}/plan-estimates", headers=CONSUMER)
        assert listing.status_code == 200, listing.text
        body = listing.json()
        ranks = {"OK": 0, "APPROXIMATE": 1, "NOT_COMPUTABLE": 2, "NOT_IMPLEMENTED": 3}
        keys = [(ranks[e["status"]], e["annual_cost_dollars"] or 0) for e in body["estimates"]]
        assert keys == sorted(keys) and body["as_of"] == AS_OF and len(body["usage_months"]) == 12
        flat = next(e for e in body["estimates"] if e["plan_name"] == "Flat 10")
        detail = client.get(f"/api/v1/esiids/{ESIID}/plan-estimates/{flat['plan_id']}", headers=CONSUMER).json()
        assert len(detail["monthly_breakdown"]) == 12 and detail["drivers"]["top_months"]
        assert sum(m["total"] for m in detail["monthly_breakdown"]) == pytest.approx(flat["annual_cost_dollars"])
        chart = client.get(f"/api/v1/esiids/{ESIID}/plan-estimates.svg", headers=CONSUMER)
        assert chart.status_code == 200 and "Flat 10" in chart.text


def test_a_plan_buckets_cannot_express_is_priced_from_the_home_s_readings(settings, instance, analyzer):
    """Mon-Wed nights: no bucket key names those days, so the estimate comes from the readings. Recomputed
    here with pandas: each reading's local start; before 06:00 it belongs to the previous day's night
    (the day a period starts on); each month's bill rounded to the cent."""
    analyse(analyzer, instance)
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    midweek = current(engine)["test:oncor:midweek-nights"]
    assert (midweek["status"], midweek["confidence"]) == ("OK", "HIGH"), midweek["reason"]
    frame = readings(engine)
    local = frame["local"]
    night = (local.dt.hour >= 22) | (local.dt.hour < 6)
    day_of = (local - pd.to_timedelta((local.dt.hour < 6).astype(int), unit="D")).dt.dayofweek  # Monday = 0
    midweek_day = day_of.isin([0, 1, 2])
    rate = np.where(midweek_day, np.where(night, 5.0, 20.0), np.where(night, 7.0, 12.0))
    frame["cents"] = frame["kwh"] * rate
    by_month = frame.groupby(local.dt.strftime("%Y-%m")).agg(kwh=("kwh", "sum"), cents=("cents", "sum"))
    bills = np.floor(by_month["cents"] + by_month["kwh"] * 5.5833 + 423 + 0.5)
    assert midweek["annual_cost_dollars"] == pytest.approx(bills.sum() / 100, abs=1e-9)
