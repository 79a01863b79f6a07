"""smt_authorize_job and smt_terminate_job through real Dagster runs, SMT answering with recorded
responses (httpx.MockTransport): the agreement recorded with its number and status, the meter number
taken from smt_meter_info (never a placeholder), SMT's 401 mismatch failing the run with its body and the
fix, Terminate sending the e-mail the agreement was made with, and no password, token or e-mail in any
Dagster event, stored request or warehouse column (only its ciphertext)."""

import datetime as dt
import json

import httpx
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from intelliwatt_pipelines.cdm.meter_info import store_meter_info
from intelliwatt_pipelines.cdm.tables import raw_file, smt_api_call, smt_authorization
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.smt import SmtApiResource
from intelliwatt_pipelines.defs.smt_lifecycle import build_smt_lifecycle_jobs
from intelliwatt_pipelines.ingest.contact_email import ENC, encrypt, new_key
from intelliwatt_pipelines_tests.test_smt_api_client import BASE, JWT, PASSWORD
from intelliwatt_pipelines_tests.test_smt_lifecycle_e2e import FIXTURES

ESIID = "10443720000000001"
EMAIL = "customer.name@mail.example"
KEY = new_key()
SENT: list[httpx.Request] = []
ANSWERS: dict[str, tuple[int, str]] = {}


def smt(request: httpx.Request) -> httpx.Response:
    SENT.append(request)
    status, name = (200, "token.json") if request.url.path == "/v2/token/" else ANSWERS[request.url.path]
    return httpx.Response(status, content=(FIXTURES / name).read_bytes())


class RecordedSmt(SmtApiResource):
    def client(self, http=None, **feature):
        return super().client(httpx.Client(transport=httpx.MockTransport(smt)), **feature)


def run(warehouse_url, tmp_path, instance, job_name, config, **answers):
    SENT.clear()
    ANSWERS.clear()
    ANSWERS.update(answers)
    job = next(j for j in build_smt_lifecycle_jobs() if j.name == job_name)
    resources = {"smt_api": RecordedSmt(agreements_enabled=True, base_url=BASE, username="INTELLIPATH",
                                        password=PASSWORD, requestor_auth_id="134642921", email_key=KEY),
                 "warehouse": WarehouseResource(url=warehouse_url), "raw_store": RawStoreResource(url=str(tmp_path))}
    op = next(iter(job.graph.node_dict))
    result = job.execute_in_process(run_config={"ops": {op: {"config": config}}}, resources=resources,
                                    instance=instance, raise_on_error=False)
    events = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
    return result, events


def authorize_config(**changes):
    return {"esiid": ESIID, "rep_puct_number": 10098, "email_ref": ENC + encrypt(EMAIL, KEY), **changes}


def with_meter(engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(raw_file).values(
            id=900, sha256="0" * 64, filename="mi.json", source="smt_api", kind="smt_api_answer", size_bytes=1,
            storage_uri="x", received_at=dt.datetime.now(dt.timezone.utc), status="normalized"))
        store_meter_info(conn, [{"esiid": ESIID, "meter_number": "112233445", "status": "ok"}], raw_file_id=900,
                         now=dt.datetime.now(dt.timezone.utc))


def stored(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.select(table)).all()


def assert_no_secret(*blobs):
    for blob in blobs:
        assert PASSWORD not in blob and JWT not in blob and EMAIL not in blob


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_an_agreement_is_recorded_with_the_meter_from_meter_info_then_terminated(warehouse_url, engine, tmp_path,
                                                                                 instance):
    with_meter(engine)
    result, events = run(warehouse_url, tmp_path, instance, "smt_authorize_job", authorize_config(),
                         **{"/v2/NewAgreement/": (200, "new_agreement.json")})
    assert result.success
    (row,) = stored(engine, smt_authorization)
    assert (row.esiid, row.meter_number, row.smt_agreement_number, row.smt_status) == (
        ESIID, "112233445", 3350001, "PENDING")
    assert row.rep_puct_number == 10098 and row.contact_email_enc and EMAIL not in row.contact_email_enc
    body = json.loads(SENT[-1].content)
    assert body["customerMeterList"] == [{"ESIID": ESIID, "meterNumber": "112233445", "PUCTRORNumber": 10098}]
    assert body["retailCustomerEmail"] == EMAIL and SENT[-1].headers["serviceId"] == "INTELLIPATH"

    with engine.begin() as conn:  # the customer confirmed: the hourly refresh would say so
        conn.execute(sa.update(smt_authorization).values(smt_status="ACTIVE"))
    result, more = run(warehouse_url, tmp_path, instance, "smt_terminate_job", {"esiid": ESIID},
                       **{"/v2/Terminateagreement/": (200, "terminate.json")})
    assert result.success
    assert json.loads(SENT[-1].content)["agreementList"] == [{"agreementNumber": 3350001, "retailCustomerEmail": EMAIL}]
    (row,) = stored(engine, smt_authorization)
    assert row.smt_status == "EXPIRED" and row.archived_at is not None
    assert_no_secret(events, more, json.dumps([c.request_redacted for c in stored(engine, smt_api_call)]))


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_401_mismatch_fails_the_run_quoting_smt_and_naming_the_fix(warehouse_url, engine, tmp_path, instance):
    result, events = run(warehouse_url, tmp_path, instance, "smt_authorize_job",
                         authorize_config(meter_number="112233445"),
                         **{"/v2/NewAgreement/": (401, "new_agreement_401.txt")})
    assert not result.success
    failure = result.failure_data_for_node("smt_agreement_created").error.message
    assert "Username/ServiceID Mismatch on both Header and Payload message." in failure
    assert "service ID must equal requestorID and the username/serviceId headers" in failure
    (row,) = stored(engine, smt_authorization)
    assert row.smt_status == "ERROR" and "Mismatch" in row.smt_status_message
    (call,) = stored(engine, smt_api_call)
    assert call.http_status == 401 and call.raw_file_id is not None
    assert_no_secret(events, call.request_redacted)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("changes", "message"), [
    ({}, "meter number unknown; run meter info first"),
    ({"meter_number": "112233445", "rep_puct_number": 10007}, "TDSP"),
    ({"meter_number": "112233445", "email_ref": EMAIL}, "email_ref must be"),
    ({"meter_number": "112233445", "esiid": "1044372000000000"}, "not an ESIID"),
])
def test_an_agreement_smt_would_refuse_is_never_sent(warehouse_url, engine, tmp_path, instance, changes, message):
    result, events = run(warehouse_url, tmp_path, instance, "smt_authorize_job", authorize_config(**changes))
    assert not result.success and message in result.failure_data_for_node("smt_agreement_created").error.message
    assert [r.url.path for r in SENT if r.url.path != "/v2/token/"] == []
    assert EMAIL not in events
