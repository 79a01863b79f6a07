"""The SMT lifecycle end to end on a real local Dagster instance, SMT answering with recorded responses
through httpx.MockTransport (vendor-apis.md §2.2 check 5): the agreements refresh finds an ACTIVE
agreement -> the backfill sensor's run records one history request with its correlationId -> a
generated 12-month SMT CSV dropped in the inbox is ingested through the inbox sensor's run -> the request
is `delivered` and every day of its window is complete. On SQLite and PostgreSQL."""

import dataclasses
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import daily_completeness, smt_api_call, smt_authorization, smt_backfill_request
from intelliwatt_pipelines.defs.definitions import build_defs
from intelliwatt_pipelines.defs.smt import SmtApiResource
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests.test_dagster import run_ingest, sensor_tick
from intelliwatt_pipelines_tests.test_smt_api_client import BASE, JWT, PASSWORD

FIXTURES = Path(__file__).parent / "data" / "vendor" / "smt"
ESIID = "10443720000000001"  # agreement 3162880 (active) and 3214970 (terminated) in myagreements.json
CORRELATION = json.loads((FIXTURES / "backfill_accepted.json").read_bytes())["correlationId"]
ANSWERS = {"/v2/myagreements/": "myagreements.json", "/v2/NewSubscription/": "new_subscription.json",
           "/v2/15minintervalreads/": "backfill_accepted.json", "/v2/reportrequeststatus/": "report_status_pending.json"}
REQUESTS: list[httpx.Request] = []


def smt(request: httpx.Request) -> httpx.Response:
    REQUESTS.append(request)
    name = "token.json" if request.url.path == "/v2/token/" else ANSWERS[request.url.path]
    return httpx.Response(200, content=(FIXTURES / name).read_bytes())


class RecordedSmt(SmtApiResource):
    """The production resource with its client on the recorded answers (nothing else changes)."""

    def client(self, http=None, **feature):
        return super().client(httpx.Client(transport=httpx.MockTransport(smt)), **feature)


def lifecycle_defs(settings) -> dg.Definitions:
    settings = dataclasses.replace(settings, flag_smt_agreements=True, flag_smt_backfill=True)
    defs = build_defs(settings)
    resources = {**defs.resources, "smt_api": RecordedSmt(
        enabled=True, agreements_enabled=True, backfill_enabled=True, base_url=BASE, username="INTELLIPATH",
        password=PASSWORD, requestor_auth_id="134642921")}
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, sensors=defs.sensors,
                          schedules=defs.schedules, loggers=defs.loggers, resources=resources)


def table(engine, t, *where):
    with engine.connect() as conn:
        return conn.execute(sa.select(t).where(*where)).all()


def backfill_run(defs, instance) -> dg.ExecuteInProcessResult:
    sensor = defs.resolve_sensor_def("smt_backfill_sensor")
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs) as context:
        data = sensor.evaluate_tick(context)
    (request,) = data.run_requests
    return defs.resolve_job_def("smt_backfill_job").execute_in_process(
        run_config=request.run_config, instance=instance, tags={**request.tags, "dagster/run_key": request.run_key})


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_an_active_agreement_gets_one_backfill_that_a_delivered_csv_completes(settings, instance, engine):
    REQUESTS.clear()
    defs = lifecycle_defs(settings)
    refreshed = defs.resolve_job_def("smt_agreements_job").execute_in_process(instance=instance)
    assert refreshed.success
    (active,) = table(engine, smt_authorization, smt_authorization.c.smt_status == "ACTIVE")
    assert (active.esiid, active.smt_agreement_number, active.smt_subscription_status) == (ESIID, 3162880, "created")

    assert backfill_run(defs, instance).success
    (request,) = table(engine, smt_backfill_request)
    assert (request.esiid, request.reason, request.status, request.correlation_id) == (
        ESIID, "enrollment", "accepted", CORRELATION)
    today = dt.datetime.now(ZoneInfo("America/Chicago")).date()
    assert request.requested_end == today - dt.timedelta(days=1) and request.authorization_id == active.id
    assert (request.requested_end - request.requested_start).days in range(364, 367)  # 12 months
    (call,) = table(engine, smt_api_call, smt_api_call.c.endpoint == "/v2/15minintervalreads/")
    assert call.correlation_id == CORRELATION and call.raw_file_id is not None
    sent = json.loads(next(r for r in REQUESTS if r.url.path == "/v2/15minintervalreads/").content)
    assert sent["esiid"] == [ESIID] and sent["deliveryMode"] == "FTP" and sent["reportFormat"] == "CSV"
    assert len([r for r in REQUESTS if r.url.path == "/v2/token/"]) <= 1  # the process's token, reused

    # The next tick has nothing to do: the request was made and polled; its next poll is 15 minutes away.
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs) as context:
        again = defs.resolve_sensor_def("smt_backfill_sensor").evaluate_tick(context)
    assert not again.run_requests and "no agreement awaits" in again.skip_message

    days = date_range(request.requested_start, request.requested_end)
    (settings.inbox_dir / f"IntervalMeterUsage_{ESIID}_backfill.csv").write_bytes(smt_interval_csv(ESIID, days))
    (ingest,) = sensor_tick(defs, instance).run_requests
    assert run_ingest(defs, instance, ingest).success

    (request,) = table(engine, smt_backfill_request)
    assert request.status == "delivered" and request.delivered_raw_file_ids
    stored = table(engine, daily_completeness, daily_completeness.c.esiid == ESIID,
                   daily_completeness.c.channel == "consumption")
    assert {row.local_date for row in stored} == set(days)
    assert {row.status for row in stored} == {"complete"}
    assert JWT not in json.dumps([c.request_redacted for c in table(engine, smt_api_call)])
