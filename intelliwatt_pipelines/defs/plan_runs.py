"""What the plan analyzer's assets hand to ``ingest`` and report back: which homes a run covers and the
metadata of its materialization (kept apart from the asset definitions so each stays small)."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from intelliwatt_pipelines.bounds import CENTRAL_TZ
from intelliwatt_pipelines.cdm import plan_estimates, rate_plans
from intelliwatt_pipelines.ingest.plan_estimates import Analysis, EstimateRun, estimate_homes, inputs_fingerprint
from intelliwatt_pipelines.ingest.usage_buckets import compute_buckets
from intelliwatt_pipelines.pii import unlike_esiid
from intelliwatt_pipelines.pricing.keys import CORE_MONTHLY_BUCKETS


def bucket_keys(engine: sa.Engine) -> list[str]:
    """The core keys and every key a listed, computable plan needs."""
    with engine.connect() as conn:
        return sorted(set(CORE_MONTHLY_BUCKETS) | set(rate_plans.required_keys(conn)))


def run_buckets(engine: sa.Engine, esiids: list[str], all_homes: bool, min_complete: float):
    esiids = checked_esiids(esiids)
    if all_homes:
        with engine.connect() as conn:
            esiids = plan_estimates.homes_with_intervals(conn)
    return compute_buckets(engine, bucket_keys(engine), esiids=esiids or None, min_complete=min_complete)


def bucket_metadata(result) -> dict:
    return {"homes": result.homes, "months": result.months, "usable_months": result.usable_months,
            "inserted": result.inserted, "updated": result.updated, "deleted": result.deleted,
            "unchanged": result.unchanged, "sum_mismatches": dg.MetadataValue.json(list(result.mismatches)[:50])}


def _as_of(text: str) -> dt.date:
    return dt.date.fromisoformat(text) if text else dt.datetime.now(ZoneInfo(CENTRAL_TZ)).date()


def _last_metadata(context: dg.AssetExecutionContext) -> dict:
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = event.asset_materialization if event else None
    return {k: v.value for k, v in (materialization.metadata if materialization else {}).items()}


def checked_esiids(esiids: list[str]) -> list[str]:
    """Configured homes, refused (masked) unless every one is an ESIID: a typo would get estimates."""
    bad = [named for e in esiids if (named := unlike_esiid(e))]
    if bad:
        raise dg.Failure(description=f"{len(bad)} configured ESIID(s) are not 17 or 22 ASCII digits: "
                                     + ", ".join(bad[:5]))
    return sorted(set(esiids))


def homes_for_estimates(context: dg.AssetExecutionContext, engine: sa.Engine, config, analyzer):
    """(analysis, homes, inputs fingerprint, buckets-through). Config esiids, or every home when asked or when
    plans, tariffs, utilities or rules changed since the last materialization, else the homes whose buckets
    were computed since it. A run for some homes only hands the last run's fingerprint and buckets-through
    on unchanged: it did not bring the other homes up to date, so the next full run still must."""
    run = Analysis(as_of=_as_of(config.as_of), mode=analyzer.estimate_mode, min_complete=analyzer.min_complete)
    fingerprint = inputs_fingerprint(engine, run)
    last = _last_metadata(context)
    with engine.connect() as conn:
        through = plan_estimates.buckets_through(conn)
        if config.esiids:
            previous = last.get("buckets_through")
            return (run, checked_esiids(list(config.esiids)), last.get("inputs_fingerprint", ""),
                    dt.datetime.fromisoformat(previous) if previous else None)
        since = None
        if not config.all_homes and last.get("inputs_fingerprint") == fingerprint and last.get("buckets_through"):
            since = dt.datetime.fromisoformat(last["buckets_through"])
        return run, plan_estimates.homes_with_buckets(conn, since), fingerprint, through


def run_estimates(engine: sa.Engine, esiids: list[str], run: Analysis) -> EstimateRun:
    return estimate_homes(engine, esiids, run)


def estimate_metadata(result: EstimateRun, run: Analysis, fingerprint: str, through: dt.datetime | None) -> dict:
    return {"homes": result.homes, "homes_without_utility": result.no_utility, "computed": result.computed,
            "reused": result.reused,
            "unchanged": result.unchanged, "by_status": dg.MetadataValue.json(result.by_status),
            "as_of": str(run.as_of), "estimate_mode": run.mode, "inputs_fingerprint": fingerprint,
            "buckets_through": through.isoformat() if through else "",
            "chart": dg.MetadataValue.md("Per home, with an API key: `/api/v1/esiids/{esiid}/plan-estimates.svg` "
                                         "(monthly cost of the cheapest plans).")}
