"""The plan analyzer's automation conditions on a real instance: buckets follow new intervals, estimates
follow buckets and tariffs, and nothing is requested again once handled (no cron guesses)."""

import datetime as dt

import dagster as dg
import pytest

from intelliwatt_pipelines import samples
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.defs.plans import MONTHLY_USAGE_BUCKETS, PLAN_ANALYSIS_JOB, PLAN_ESTIMATES, RATE_PLANS
from intelliwatt_pipelines.defs.tariffs import TDSP_TARIFFS_JOB
from intelliwatt_pipelines_tests.test_dagster import run_ingest, sensor_tick

ESIID = "10443720000000001"
PLANS = dg.AssetSelection.assets(RATE_PLANS, MONTHLY_USAGE_BUCKETS, PLAN_ESTIMATES)
NOON = dt.datetime(2026, 1, 15, 18, 0, tzinfo=dt.UTC)  # no 03:00 Central tick between evaluations


def requested(defs, instance, cursor, minutes: int) -> tuple[set[str], object]:
    """The plan assets one automation tick would request, and the cursor for the next tick."""
    result = dg.evaluate_automation_conditions(defs, instance, asset_selection=PLANS, cursor=cursor,
                                               evaluation_time=NOON + dt.timedelta(minutes=minutes))
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}, result.cursor


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_buckets_follow_intervals_and_estimates_follow_buckets_and_tariffs(settings, instance):
    defs = build_defs(settings)
    first, cursor = requested(defs, instance, None, 0)
    assert first == set()
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=n) for n in range(5)]
    (settings.inbox_dir / f"IntervalMeterUsage_{ESIID}.csv").write_bytes(samples.smt_interval_csv(ESIID, days))
    assert run_ingest(defs, instance, sensor_tick(defs, instance).run_requests[0]).success
    after_ingest, cursor = requested(defs, instance, cursor, 1)
    # the estimates with the buckets, in the same tick (a parent that will be requested counts as updated)
    assert after_ingest == {"monthly_usage_buckets", "plan_estimates"}
    assert defs.resolve_job_def(PLAN_ANALYSIS_JOB).execute_in_process(instance=instance).success
    handled, cursor = requested(defs, instance, cursor, 2)
    assert handled == set()
    assert defs.resolve_job_def(TDSP_TARIFFS_JOB).execute_in_process(instance=instance).success
    after_tariffs, cursor = requested(defs, instance, cursor, 3)
    # plans are classified with the tariffs, and the buckets follow the plans' keys: one run of all three
    assert after_tariffs == {"rate_plans", "monthly_usage_buckets", "plan_estimates"}
