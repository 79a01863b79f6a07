"""The plan analyzer in Dagster (vendor-apis.md §2.8): assets ``rate_plans`` -> ``monthly_usage_buckets`` ->
``plan_estimates``, the job ``plan_analysis_job`` (by home: config ``esiids``), and the automation sensor that
keeps them current. Homes are run config, never partitions (the project's partition design): a run covers
the homes whose inputs changed. Automation conditions, not cron guesses: buckets follow new intervals or new
plan keys, estimates follow buckets, plans or tariffs; plans also refresh nightly (new offers). The sensor
runs when INTELLIWATT_FLAG_PLAN_ANALYZER is true; the assets, the job and the routes exist regardless.
The work is in ``ingest.rate_plans``, ``ingest.usage_buckets`` and ``ingest.plan_estimates``.
"""

import dagster as dg

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.ercot import SERVICE_POINTS
from intelliwatt_pipelines.defs.keys import USAGE_INTERVALS
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.plan_runs import (
    bucket_metadata,
    estimate_metadata,
    homes_for_estimates,
    run_buckets,
    run_estimates,
)
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.tariffs import TDSP_TARIFFS
from intelliwatt_pipelines.defs.wattbuy import RETAIL_OFFERS
from intelliwatt_pipelines.ingest.rate_plans import load_plans

GROUP = "plans"
RATE_PLANS = dg.AssetKey("rate_plans")
MONTHLY_USAGE_BUCKETS = dg.AssetKey("monthly_usage_buckets")
PLAN_ESTIMATES = dg.AssetKey("plan_estimates")
PLAN_ANALYSIS_JOB = "plan_analysis_job"
AUTOMATION_SENSOR = "plan_analyzer_automation"
FLAG_ENV = "INTELLIWATT_FLAG_PLAN_ANALYZER"


class PlanAnalyzerResource(dg.ConfigurableResource):
    """The analyzer's settings (INTELLIWATT_PLANS_DIR, _PLAN_MONTH_MIN_COMPLETE, _PLAN_ESTIMATE_MODE)."""

    plans_dir: str = ""
    min_complete: float = 1.0
    estimate_mode: str = "DEFAULT"


class HomesConfig(dg.Config):
    esiids: list[str] = []  # these homes only; empty: the homes whose inputs changed
    all_homes: bool = False  # every home with readings (after a rule change, say)


class EstimatesConfig(HomesConfig):
    as_of: str = ""  # analysis day YYYY-MM-DD (the tariff in force that day); empty: today in Central time


# Eager, but an unpartitioned asset downstream of day partitions must not wait for every day to exist
# (eager's "no missing parent"): any parent update since this asset was last handled, none in progress.
FOLLOW_PARENTS = (dg.AutomationCondition.any_deps_updated().since_last_handled()
                  & ~dg.AutomationCondition.any_deps_in_progress() & ~dg.AutomationCondition.in_progress())
NIGHTLY = dg.AutomationCondition.on_cron("0 3 * * *", cron_timezone=CENTRAL_TZ)


@dg.asset(key=RATE_PLANS, group_name=GROUP, deps=[RETAIL_OFFERS, TDSP_TARIFFS], kinds={"json"},
          automation_condition=NIGHTLY | FOLLOW_PARENTS,
          description="Retail plans in the cost engine's model (rate_plan): the packaged curated plans and "
                      "INTELLIWATT_PLANS_DIR's *.json / EFL *.txt files (each kept as a raw file first), and "
                      "WattBuy's retail_offer rows. Each is COMPUTABLE or NOT_COMPUTABLE with its reason.")
@redacted_errors
def rate_plans_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource, raw_store: RawStoreResource,
                     analyzer: PlanAnalyzerResource) -> dg.MaterializeResult:
    load = load_plans(warehouse.engine(), raw_store.store(), analyzer.plans_dir or None)
    context.log.info(f"rate_plans: {load.counts}, {len(load.failed)} files failed, {load.retired} retired")
    return dg.MaterializeResult(metadata={
        **load.counts, "failed_files": dg.MetadataValue.json(load.failed), "retired": load.retired,
        "not_computable": dg.MetadataValue.json(load.not_computable)})


@dg.asset(key=MONTHLY_USAGE_BUCKETS, group_name=GROUP, deps=[USAGE_INTERVALS, RATE_PLANS], kinds={"sql"},
          automation_condition=FOLLOW_PARENTS,
          description="Monthly kWh per home per bucket key (usage_bucket), America/Chicago local time, real "
                      "readings only; the core keys plus those the listed plans need. Homes: config esiids, "
                      "else those with interval files normalized since their buckets (or missing a key).")
@redacted_errors
def monthly_usage_buckets_asset(context: dg.AssetExecutionContext, config: HomesConfig,
                                warehouse: WarehouseResource, analyzer: PlanAnalyzerResource) -> dg.MaterializeResult:
    result = run_buckets(warehouse.engine(), list(config.esiids), config.all_homes, analyzer.min_complete)
    context.log.info(f"monthly_usage_buckets: {result.homes} homes")
    return dg.MaterializeResult(metadata=bucket_metadata(result))


@dg.asset(key=PLAN_ESTIMATES, group_name=GROUP, deps=[MONTHLY_USAGE_BUCKETS, RATE_PLANS, TDSP_TARIFFS, SERVICE_POINTS],
          kinds={"sql"}, automation_condition=FOLLOW_PARENTS,
          description="What each plan would have cost each home over its last 12 usable months (plan_estimate, "
                      "immutable by inputs hash; plan_estimate_current). Unchanged inputs write nothing.")
@redacted_errors
def plan_estimates_asset(context: dg.AssetExecutionContext, config: EstimatesConfig, warehouse: WarehouseResource,
                         analyzer: PlanAnalyzerResource) -> dg.MaterializeResult:
    engine = warehouse.engine()
    run, esiids, fingerprint, through = homes_for_estimates(context, engine, config, analyzer)
    result = run_estimates(engine, esiids, run)
    context.log.info(f"plan_estimates: {result.homes} homes, {result.computed} computed, "
                     f"{result.reused} reused, {result.unchanged} unchanged")
    return dg.MaterializeResult(metadata=estimate_metadata(result, run, fingerprint, through))


PLAN_ANALYSIS_ASSET_JOB = dg.define_asset_job(
    PLAN_ANALYSIS_JOB, selection=[RATE_PLANS, MONTHLY_USAGE_BUCKETS, PLAN_ESTIMATES],
    tags={"intelliwatt/kind": "plans"},
    description="Plans, buckets and estimates. By home: ops.monthly_usage_buckets.config.esiids and "
                "ops.plan_estimates.config.esiids; all_homes: true recomputes every home (unchanged inputs still "
                "write nothing).")


def build_plan_defs(settings: Settings) -> dict:
    """The plan analyzer's definitions for ``defs/definitions.py``."""
    sensor = dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR, target=dg.AssetSelection.assets(RATE_PLANS, MONTHLY_USAGE_BUCKETS, PLAN_ESTIMATES),
        default_status=(dg.DefaultSensorStatus.RUNNING if settings.flag_plan_analyzer
                        else dg.DefaultSensorStatus.STOPPED),
        minimum_interval_seconds=60,
        description=f"Keeps rate_plans, monthly_usage_buckets and plan_estimates current. Needs {FLAG_ENV}=true.")
    analyzer = PlanAnalyzerResource(plans_dir=str(settings.plans_dir), min_complete=settings.plan_month_min_complete,
                                    estimate_mode=settings.plan_estimate_mode)
    return {"assets": [rate_plans_asset, monthly_usage_buckets_asset, plan_estimates_asset],
            "jobs": [PLAN_ANALYSIS_ASSET_JOB], "schedules": [], "sensors": [sensor], "asset_checks": [],
            "resources": {"analyzer": analyzer}}
