"""``smt_energydata_fetch_job``: usage pulls from SMT's ``/v2/energydata/`` (vendor-apis.md §2.1).

Per ESIID: monthly reads in one call per 13 months of the window, intervals in one call per 31 days.
Every answer is stored as a raw file and normalized (``ingest.smt_api``); one ESIID's failure does not
stop the others, and the run fails at the end, naming what failed, if any call did.
"""

import datetime as dt
from collections import Counter

import dagster as dg

from intelliwatt_pipelines.cdm.smt_authorizations import active_esiids
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.rebuild import MAX_DAYS, home_tags
from intelliwatt_pipelines.defs.resources import IngestRulesResource, RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.smt import SMT_API_TAGS, SmtApiResource
from intelliwatt_pipelines.ingest.smt_api import (
    INTERVAL_MAX_DAYS,
    MONTHLY_MAX_MONTHS,
    CallResult,
    Window,
    store_energydata,
    windows,
)
from intelliwatt_pipelines.pii import mask, redact
from intelliwatt_pipelines.vendors.smt.client import SmtClient, SmtUnavailable
from intelliwatt_pipelines.vendors.smt.requests import checked_esiids

SMT_ENERGYDATA_JOB = "smt_energydata_fetch_job"


class SmtEnergydataConfig(dg.Config):
    """ESIIDs (17 or 22 digits) and/or ``active_agreements`` (every ESIID with an active SMT agreement, as
    the 07:00 schedule asks), the first and last day (YYYY-MM-DD), and what to fetch."""

    esiids: list[str] = []
    active_agreements: bool = False
    start: str
    end: str
    include_interval: bool = True
    include_monthly: bool = True


def planned_calls(config: SmtEnergydataConfig, active: list[str] = ()) -> list[tuple[str, str, Window]]:
    """(ESIID, what, window) per call: monthly reads first, then the interval windows, ESIID by ESIID;
    ``active`` the ESIIDs of active agreements, when the config asks for them."""
    try:
        esiids = checked_esiids([*config.esiids, *active])
        start, end = dt.date.fromisoformat(config.start), dt.date.fromisoformat(config.end)
        plan = ([("monthly", w) for w in windows(start, end, months=MONTHLY_MAX_MONTHS)]
                if config.include_monthly else [])
        plan += ([("interval", w) for w in windows(start, end, days=INTERVAL_MAX_DAYS)]
                 if config.include_interval else [])
    except ValueError as exc:
        raise dg.Failure(description=f"bad config: {exc}") from None
    if (end - start).days >= MAX_DAYS:
        raise dg.Failure(description=f"{(end - start).days + 1} days asked; fetch at most {MAX_DAYS} per run")
    if not plan:
        raise dg.Failure(description="nothing to fetch: include_interval and include_monthly are both false")
    return [(esiid, what, window) for esiid in dict.fromkeys(esiids) for what, window in plan]


def active_agreement_esiids(engine) -> list[str]:
    with engine.connect() as conn:
        return active_esiids(conn)


def _call(client: SmtClient, esiid: str, window: Window, store_call) -> CallResult:
    """One energydata call, stored whatever happens: an answer (any status) or, when 5xx answers and
    timeouts outlasted the retries, the last answer or the reason none came."""
    called_at = dt.datetime.now(dt.timezone.utc)
    try:
        response = client.energydata([esiid], window.start, window.end)
    except SmtUnavailable as exc:
        if exc.response is not None:
            return store_call(esiid, window, exc.response, called_at)
        return store_call(esiid, window, None, called_at, no_answer=str(exc), attempts=client.config.attempts)
    return store_call(esiid, window, response, called_at)


def _summary(results: list[CallResult]) -> dict:
    failed = [r for r in results if r.failed]
    by_status = Counter(str(r.http_status) if r.http_status is not None else "no answer" for r in failed)
    files = sorted({r.raw_file_id for r in results if r.raw_file_id is not None})
    return {"calls": len(results), "calls_failed": len(failed), "raw_files": len(files),
            "new_raw_files": sum(r.new_file for r in results), "rows_written": sum(r.rows_written for r in results),
            "raw_file_ids": ", ".join(map(str, files[:50])), "failures_by_status": dict(sorted(by_status.items())),
            "esiids": ", ".join(sorted({mask(r.esiid) for r in results})[:20])}


def failure_text(results: list[CallResult]) -> str:
    """Which calls failed and why, ESIIDs masked (an answer's excerpt is redacted already)."""
    failed = [r for r in results if r.failed]
    lines = [f"{mask(r.esiid)} {r.window.start}..{r.window.end}: {r.error}"
             + (f" (raw file {r.raw_file_id})" if r.raw_file_id else "") for r in failed[:10]]
    more = f"\n… and {len(failed) - 10} more" if len(failed) > 10 else ""
    return redact(f"{len(failed)} of {len(results)} SMT energydata call(s) failed; every answer is stored:\n"
                  + "\n".join(lines) + more)


def build_smt_energydata_job() -> dg.JobDefinition:
    @dg.op(name="smt_energydata_fetched", description="Call SMT /v2/energydata/ per ESIID and window; store each "
                                                      "answer as a raw file (source smt_api) and normalize it.")
    @redacted_errors
    def smt_energydata_fetched(context: dg.OpExecutionContext, config: SmtEnergydataConfig,
                               smt_api: SmtApiResource, warehouse: WarehouseResource,
                               raw_store: RawStoreResource, rules: IngestRulesResource) -> dg.Output:
        engine, store = warehouse.engine(), raw_store.store()
        active = active_agreement_esiids(engine) if config.active_agreements else []
        if config.active_agreements and not active and not config.esiids:
            context.log.info("no ESIID has an active SMT agreement: nothing to fetch")
            return dg.Output(None, metadata={"calls": 0})
        plan = planned_calls(config, active)
        context.instance.add_run_tags(context.run_id, home_tags([esiid for esiid, _, _ in plan]))
        normalize = dict(max_invalid_fraction=rules.max_invalid_fraction, tolerance=rules.tolerance(),
                         precedence=rules.precedence(), reading_window=rules.window())

        def store_call(esiid, window, response, called_at, **extra) -> CallResult:
            return store_energydata(engine, store, esiid=esiid, window=window, response=response,
                                    called_at=called_at, run_id=context.run_id, **extra, **normalize)

        results = []
        with smt_api.client() as client:
            client.token()  # a token failure (the 401 causes) fails the run before any call
            for esiid, what, window in plan:
                result = _call(client, esiid, window, store_call)
                context.log.info(redact(f"SMT {what} {mask(esiid)} {window.start}..{window.end}: HTTP "
                                        f"{result.http_status or '-'}, raw file {result.raw_file_id or '-'}, "
                                        f"{result.rows_written} row(s)"
                                        + (f"; failed: {result.error}" if result.failed else "")))
                results.append(result)
        metadata = _summary(results)
        if metadata["calls_failed"]:
            raise dg.Failure(description=failure_text(results), metadata=metadata)
        return dg.Output(None, metadata=metadata)

    @dg.job(name=SMT_ENERGYDATA_JOB, tags={"intelliwatt/kind": "smt_energydata", **SMT_API_TAGS},
            description="Fetch monthly reads and/or 15-minute intervals from SMT's API for the configured ESIIDs "
                        "and days; every answer becomes a raw file (source smt_api) and its rows land as usual. "
                        "Needs INTELLIWATT_FLAG_SMT_API=true.")
    def smt_energydata_fetch_job():
        smt_energydata_fetched()

    return smt_energydata_fetch_job
