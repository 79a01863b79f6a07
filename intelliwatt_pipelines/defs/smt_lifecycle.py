"""The SMT lifecycle in Dagster (vendor-apis.md §2.2–2.4): the assets ``smt_agreements`` (every status,
from one ``/v2/myagreements/`` call) and ``smt_subscriptions``, and the jobs that change state at SMT or
ask it for data: authorize, terminate, unsubscribe, meter info, backfills, gap sweep. Each is behind its
feature flag; the work is in ``ingest.smt_agreements``, ``smt_backfills`` and ``smt_meter_info``.
"""


import contextlib
from typing import Literal

import dagster as dg

from intelliwatt_pipelines.defs.keys import SMT_AGREEMENTS, SMT_SUBSCRIPTIONS
from intelliwatt_pipelines.defs.logs import redacted_errors
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.smt import SMT_API_TAGS, SmtApiResource
from intelliwatt_pipelines.ingest import smt_agreements, smt_backfills
from intelliwatt_pipelines.ingest.contact_email import ContactEmailError
from intelliwatt_pipelines.ingest.smt_exchange import Caller, SmtStepError
from intelliwatt_pipelines.ingest.smt_meter_info import fetch_meter_info
from intelliwatt_pipelines.pii import redact
from intelliwatt_pipelines.vendors.smt.requests import SmtError, checked_esiids

GROUP = "smt"
SMT_AGREEMENTS_JOB = "smt_agreements_job"
SMT_SUBSCRIPTIONS_JOB = "smt_subscriptions_job"
SMT_AUTHORIZE_JOB = "smt_authorize_job"
SMT_TERMINATE_JOB = "smt_terminate_job"
SMT_UNSUBSCRIBE_JOB = "smt_unsubscribe_job"
SMT_METER_INFO_JOB = "smt_meter_info_job"
SMT_BACKFILL_JOB = "smt_backfill_job"
SMT_GAP_SWEEP_JOB = "smt_gap_sweep_job"


@contextlib.contextmanager
def step_failures():
    """A step's known failures (SMT's answer, bad input, a missing key) as a one-line Failure."""
    try:
        yield
    except (SmtStepError, SmtError, ContactEmailError, ValueError) as exc:
        raise dg.Failure(description=redact(str(exc))) from None


def caller(context, warehouse: WarehouseResource, raw_store: RawStoreResource) -> Caller:
    return Caller(warehouse.engine(), raw_store.store(), context.run_id)


def _metadata(counts: dict) -> dict:
    return {k: v if isinstance(v, int | float | str) else dg.MetadataValue.json(v) for k, v in counts.items()}


@dg.asset(key=SMT_AGREEMENTS, group_name=GROUP, kinds={"smt"},
          description="Every SMT agreement of the CSP with its mapped status (smt_authorization), from one "
                      "/v2/myagreements/ call; agreements that became active get their subscription. Needs "
                      "INTELLIWATT_FLAG_SMT_AGREEMENTS=true.")
@redacted_errors
def smt_agreements_asset(context: dg.AssetExecutionContext, smt_api: SmtApiResource, warehouse: WarehouseResource,
                         raw_store: RawStoreResource) -> dg.MaterializeResult:
    with smt_api.client(feature="agreements") as client, step_failures():
        counts = smt_agreements.refresh(caller(context, warehouse, raw_store), client)
    return dg.MaterializeResult(metadata=_metadata(counts))


@dg.asset(key=SMT_SUBSCRIPTIONS, group_name=GROUP, kinds={"smt"},
          description="The CSP's SMT subscriptions as /v2/Mysubscriptions/ lists them (the answer kept as a raw "
                      "file). Needs INTELLIWATT_FLAG_SMT_AGREEMENTS=true.")
@redacted_errors
def smt_subscriptions_asset(context: dg.AssetExecutionContext, smt_api: SmtApiResource,
                            warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.MaterializeResult:
    with smt_api.client(feature="agreements") as client, step_failures():
        counts = smt_agreements.refresh_subscriptions(caller(context, warehouse, raw_store), client)
    return dg.MaterializeResult(metadata=_metadata(counts))


class SmtAuthorizeConfig(dg.Config):
    """A new agreement: the ESIID (17 or 22 digits), the customer's REP PUCT certificate number (never a
    TDSP's), ``email_ref`` (``enc:<token>`` from ``intelliwatt smt encrypt-email`` or ``env:<VARIABLE>``),
    the meter number (empty: from smt_meter_info), the account class and months of history (0: 12
    residential, 24 commercial)."""

    esiid: str
    rep_puct_number: int
    email_ref: str
    meter_number: str = ""
    account_class: Literal["res", "com"] = "res"
    months_back: int = 0
    allow_tdsp_number: bool = False


class SmtEsiidConfig(dg.Config):
    esiid: str


class SmtMeterInfoConfig(dg.Config):
    esiids: list[str]


def _one_esiid(esiid: str) -> str:
    with step_failures():
        return checked_esiids([esiid])[0]


def _one_op_job(name: str, op: dg.OpDefinition, description: str, kind: str) -> dg.JobDefinition:
    @dg.job(name=name, description=description, tags={"intelliwatt/kind": kind, **SMT_API_TAGS})
    def one_op_job():
        op()

    return one_op_job


@dg.op(name="smt_agreement_created", description="NewAgreement for one ESIID, then its subscription when active.")
@redacted_errors
def smt_agreement_created(context: dg.OpExecutionContext, config: SmtAuthorizeConfig, smt_api: SmtApiResource,
                          warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.Output:
    request = smt_agreements.AuthorizeRequest(
        esiid=_one_esiid(config.esiid), rep_puct_number=config.rep_puct_number, email_ref=config.email_ref,
        meter_number=config.meter_number, account_class=config.account_class,
        months_back=config.months_back or None, allow_tdsp_number=config.allow_tdsp_number)
    with smt_api.client(feature="agreements") as client, step_failures():
        result = smt_agreements.authorize(caller(context, warehouse, raw_store), client, request,
                                          email_key=smt_api.email_key)
    return dg.Output(None, metadata=_metadata(result))


def _for_esiid(context, config: SmtEsiidConfig, smt_api: SmtApiResource, warehouse: WarehouseResource,
               raw_store: RawStoreResource, step) -> dg.Output:
    """One agreements step for the configured ESIID: ``step(caller, client, esiid)``'s counts as metadata."""
    esiid = _one_esiid(config.esiid)
    with smt_api.client(feature="agreements") as client, step_failures():
        result = step(caller(context, warehouse, raw_store), client, esiid)
    return dg.Output(None, metadata=_metadata(result))


@dg.op(name="smt_agreements_terminated", description="Terminateagreement for every active agreement of the ESIID.")
@redacted_errors
def smt_agreements_terminated(context: dg.OpExecutionContext, config: SmtEsiidConfig, smt_api: SmtApiResource,
                              warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.Output:
    return _for_esiid(context, config, smt_api, warehouse, raw_store, lambda step, client, esiid:
                      smt_agreements.terminate(step, client, esiid, email_key=smt_api.email_key))


@dg.op(name="smt_subscriptions_ended", description="UnSubscription for the subscriptions of the ESIID's agreements.")
@redacted_errors
def smt_subscriptions_ended(context: dg.OpExecutionContext, config: SmtEsiidConfig, smt_api: SmtApiResource,
                            warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.Output:
    return _for_esiid(context, config, smt_api, warehouse, raw_store, smt_agreements.unsubscribe)


@dg.op(name="smt_meter_info_fetched", description="/v2/meterInfo/ per ESIID into smt_meter_info.")
@redacted_errors
def smt_meter_info_fetched(context: dg.OpExecutionContext, config: SmtMeterInfoConfig, smt_api: SmtApiResource,
                           warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.Output:
    with step_failures():
        esiids = checked_esiids(config.esiids)
    with smt_api.client(feature="api") as client, step_failures():
        results = fetch_meter_info(warehouse.engine(), raw_store.store(), client, esiids, run_id=context.run_id)
    by_status: dict[str, int] = {}
    for result in results:
        by_status[result.status] = by_status.get(result.status, 0) + 1
    return dg.Output(None, metadata=_metadata({"esiids": len(esiids), "by_status": by_status}))


@dg.op(name="smt_backfills_advanced", description="Submit the history request of newly active agreements, poll "
                                                  "open requests' report status, mark delivered ones.")
@redacted_errors
def smt_backfills_advanced(context: dg.OpExecutionContext, smt_api: SmtApiResource, warehouse: WarehouseResource,
                           raw_store: RawStoreResource) -> dg.Output:
    with smt_api.client(feature="backfill") as client, step_failures():
        step = caller(context, warehouse, raw_store)
        counts = {**smt_backfills.submit_enrollments(step, client), **smt_backfills.poll(step, client)}
    return dg.Output(None, metadata=_metadata(counts))


class GapSweepConfig(dg.Config):
    """Days checked before SMT's delivery lag, and the lag itself (days left alone as PENDING_SMT)."""

    lookback_days: int = 3
    lag_days: int = 2


@dg.op(name="smt_gaps_swept", description="Update interval_day_ledger for recent days; one repair request per gap.")
@redacted_errors
def smt_gaps_swept(context: dg.OpExecutionContext, config: GapSweepConfig, smt_api: SmtApiResource,
                   warehouse: WarehouseResource, raw_store: RawStoreResource) -> dg.Output:
    with smt_api.client(feature="backfill") as client, step_failures():
        counts = smt_backfills.sweep_gaps(caller(context, warehouse, raw_store), client,
                                          lookback_days=config.lookback_days, lag_days=config.lag_days)
    return dg.Output(None, metadata=_metadata(counts))


def build_smt_lifecycle_jobs() -> list[dg.JobDefinition]:
    """The lifecycle's op jobs, then the asset jobs the schedules launch."""
    flag = "Needs INTELLIWATT_FLAG_SMT_{}=true."
    return [
        _one_op_job(SMT_AUTHORIZE_JOB, smt_agreement_created, "Create an SMT agreement for one ESIID (NewAgreement), "
                    "then its subscription once active. " + flag.format("AGREEMENTS"), "smt_lifecycle"),
        _one_op_job(SMT_TERMINATE_JOB, smt_agreements_terminated, "Terminate every active SMT agreement of one ESIID "
                    "(the cancel flow). " + flag.format("AGREEMENTS"), "smt_lifecycle"),
        _one_op_job(SMT_UNSUBSCRIBE_JOB, smt_subscriptions_ended, "End the SMT subscriptions of one ESIID's "
                    "agreements. " + flag.format("AGREEMENTS"), "smt_lifecycle"),
        _one_op_job(SMT_METER_INFO_JOB, smt_meter_info_fetched, "Ask SMT for the meters of some ESIIDs "
                    "(smt_meter_info; the meter number an agreement needs). " + flag.format("API"), "smt_lifecycle"),
        _one_op_job(SMT_BACKFILL_JOB, smt_backfills_advanced, "Request the interval history of newly active "
                    "agreements and follow open requests (launched by smt_backfill_sensor). " + flag.format("BACKFILL"),
                    "smt_backfill"),
        _one_op_job(SMT_GAP_SWEEP_JOB, smt_gaps_swept, "The daily gap sweep: record recent days in "
                    "interval_day_ledger and request one repair per real gap. " + flag.format("BACKFILL"),
                    "smt_backfill"),
        *build_smt_asset_jobs(),
    ]


def build_smt_asset_jobs() -> list[dg.JobDefinition]:
    """The jobs the agreement schedules launch: one per lifecycle asset."""
    return [dg.define_asset_job(SMT_AGREEMENTS_JOB, selection=dg.AssetSelection.assets(SMT_AGREEMENTS),
                                tags=SMT_API_TAGS,
                                description="Refresh every SMT agreement's status (smt_agreements)."),
            dg.define_asset_job(SMT_SUBSCRIPTIONS_JOB, selection=dg.AssetSelection.assets(SMT_SUBSCRIPTIONS),
                                tags=SMT_API_TAGS,
                                description="Refresh the CSP's SMT subscriptions (smt_subscriptions).")]
