"""smt_energydata_fetch_job through a real Dagster execution against httpx.MockTransport, on SQLite and
PostgreSQL: every answer a raw file (source smt_api, exact bytes) with an smt_api_call row, its rows
landed; errors stored and failing the run; a re-run writes nothing new; no secret or raw ESIID leaks."""

import datetime as dt
import json
import logging

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from intelliwatt_pipelines.cdm.tables import billing_read, raw_file, smt_api_call, usage_interval
from intelliwatt_pipelines.defs.resources import IngestRulesResource, RawStoreResource, WarehouseResource
from intelliwatt_pipelines.defs.smt import SmtApiResource
from intelliwatt_pipelines.defs.smt_jobs import build_smt_energydata_job
from intelliwatt_pipelines.ingest.smt_api import windows
from intelliwatt_pipelines_tests.test_smt_api_client import BASE, JWT, MONTHLY_BYTES, PASSWORD, Smt

ESIID = "10443720000000001"
INTERVAL_BYTES = json.dumps({"energyData": [
    {"DT": "11/05/2024", "RT": "C", "RevTS": "11/06/2024 08:00:00", "RD": ",".join(["0.25-A"] * 96)}]}).encode()


class MockedSmtApi(SmtApiResource):
    """The production resource with its client on the test's transport (nothing else changes)."""

    def client(self, http=None, **feature):
        return super().client(httpx.Client(transport=httpx.MockTransport(FAKE[0])), **feature)


FAKE: list[Smt] = []


def run(warehouse_url, tmp_path, fake: Smt, *, monthly=True, interval=False, start="2024-11-01",
        end="2024-11-30"):
    FAKE[:] = [fake]
    job = build_smt_energydata_job()
    resources = {"smt_api": MockedSmtApi(enabled=True, base_url=BASE, username="INTELLIPATH", password=PASSWORD,
                                         requestor_auth_id="134642921", attempts=2),
                 "warehouse": WarehouseResource(url=warehouse_url),
                 "raw_store": RawStoreResource(url=str(tmp_path / "raw")), "rules": IngestRulesResource()}
    config = {"ops": {"smt_energydata_fetched": {"config": {
        "esiids": [ESIID], "start": start, "end": end, "include_monthly": monthly, "include_interval": interval}}}}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(run_config=config, resources=resources, instance=instance,
                                        raise_on_error=False)
        events = [serialize_value(r) for r in instance.all_logs(result.run_id)]
    return result, events


def rows(warehouse_url, table):
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
    finally:
        engine.dispose()


def assert_no_leak(events, text=""):
    for blob in [*events, text]:
        assert ESIID not in blob and PASSWORD not in blob and JWT not in blob


def test_windows_are_at_most_31_days_or_13_months():
    days = windows(dt.date(2024, 1, 1), dt.date(2024, 3, 5), days=31)
    assert [(w.start.isoformat(), w.end.isoformat()) for w in days] == [
        ("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-03-02"), ("2024-03-03", "2024-03-05")]
    months = windows(dt.date(2024, 1, 31), dt.date(2026, 1, 1), months=13)
    assert [w.end for w in months[:1]] == [dt.date(2025, 2, 27)] and months[-1].end == dt.date(2026, 1, 1)


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_a_monthly_answer_is_a_raw_file_with_an_audit_row_and_billing_reads(warehouse_url, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    fake = Smt(httpx.Response(200, content=MONTHLY_BYTES))
    result, events = run(warehouse_url, tmp_path, fake)
    assert result.success
    (file,) = rows(warehouse_url, raw_file)
    assert (file.source, file.kind, file.status) == ("smt_api", "smt_monthly_json", "normalized")
    assert file.filename.startswith(f"smt_energydata_{ESIID}_20241101-20241130_ED")
    assert RawStoreResource(url=str(tmp_path / "raw")).store().get(
        file.sha256) == MONTHLY_BYTES
    (call,) = rows(warehouse_url, smt_api_call)
    assert (call.endpoint, call.http_status, call.raw_file_id, call.esiid, call.error) == (
        "/v2/energydata/", 200, file.id, ESIID, None)
    assert call.run_id == result.run_id and call.correlation_id is None and len(call.trans_id) <= 32
    assert ESIID not in call.request_redacted and PASSWORD not in call.request_redacted
    reads = rows(warehouse_url, billing_read)
    assert len(reads) == 2 and {r.source for r in reads} == {"smt_monthly_api"}
    assert {r.raw_file_id for r in reads} == {file.id}
    (output,) = [e for e in result.all_node_events if e.is_successful_output]
    meta = output.event_specific_data.metadata
    assert (meta["calls"].value, meta["calls_failed"].value, meta["new_raw_files"].value) == (1, 0, 1)
    assert_no_leak(events, caplog.text)

    again, events = run(warehouse_url, tmp_path, Smt(httpx.Response(200, content=MONTHLY_BYTES)))
    assert again.success and len(rows(warehouse_url, raw_file)) == 1 and len(rows(warehouse_url, billing_read)) == 2
    assert [c.raw_file_id for c in rows(warehouse_url, smt_api_call)] == [file.id, file.id]  # one audit row per call


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_an_interval_answer_lands_usage_intervals(warehouse_url, tmp_path):
    result, _ = run(warehouse_url, tmp_path, Smt(httpx.Response(200, content=INTERVAL_BYTES)), monthly=False,
                    interval=True)
    assert result.success
    (file,) = rows(warehouse_url, raw_file)
    assert (file.kind, file.status) == ("smt_interval_json", "normalized")
    intervals = rows(warehouse_url, usage_interval)
    assert len(intervals) == 96 and {r.esiid for r in intervals} == {ESIID}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_5xx_then_200_is_retried_in_the_call_and_stores_the_answer(warehouse_url, tmp_path):
    fake = Smt(httpx.Response(500, content=b'{"error":"busy"}'), httpx.Response(200, content=MONTHLY_BYTES))
    result, _ = run(warehouse_url, tmp_path, fake)
    assert result.success
    # The client retries inside one call: the last answer is the raw file, one audit row counts the attempts.
    (file,) = rows(warehouse_url, raw_file)
    (call,) = rows(warehouse_url, smt_api_call)
    assert (file.kind, call.http_status, call.attempts, call.raw_file_id) == ("smt_monthly_json", 200, 2, file.id)


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_a_4xx_is_stored_as_an_error_and_fails_the_run(warehouse_url, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    body = json.dumps({"statusCode": "400", "errorMessage": f"ESIID {ESIID} not authorized"}).encode()
    # two interval windows: the first fails, the second still runs
    fake = Smt(httpx.Response(403, content=body), httpx.Response(200, content=INTERVAL_BYTES))
    result, events = run(warehouse_url, tmp_path, fake, monthly=False, interval=True, end="2024-12-05")
    assert not result.success
    error, ok = rows(warehouse_url, raw_file)
    assert (error.source, error.kind, error.status) == ("smt_api", "smt_api_error", "failed")
    assert error.error.startswith("HTTP 403 from SMT /v2/energydata/") and ESIID not in error.error
    assert RawStoreResource(url=str(tmp_path / "raw")).store().get(error.sha256) == body  # verbatim
    assert ok.status == "normalized"
    assert [c.http_status for c in rows(warehouse_url, smt_api_call)] == [403, 200]
    failure = next(e for e in result.all_node_events if e.is_step_failure).step_failure_data.error.message
    assert "1 of 2 SMT energydata call(s) failed" in failure and "HTTP 403" in failure
    assert_no_leak(events, caplog.text)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_timeout_with_no_answer_is_audited_and_fails_the_run(warehouse_url, tmp_path):
    fake = Smt(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"))
    result, events = run(warehouse_url, tmp_path, fake)
    assert not result.success and rows(warehouse_url, raw_file) == []
    (call,) = rows(warehouse_url, smt_api_call)
    assert (call.http_status, call.raw_file_id) == (None, None) and "ReadTimeout" in call.error
    assert ESIID not in call.request_redacted
    assert_no_leak(events)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_5xx_through_every_attempt_stores_the_last_answer_and_fails_the_run(warehouse_url, tmp_path):
    fake = Smt(httpx.Response(502, content=b"bad gateway 1"), httpx.Response(503, content=b"bad gateway 2"))
    result, _ = run(warehouse_url, tmp_path, fake)
    assert not result.success
    (file,) = rows(warehouse_url, raw_file)
    (call,) = rows(warehouse_url, smt_api_call)
    assert (file.kind, file.error[:8], call.http_status, call.attempts) == ("smt_api_error", "HTTP 503", 503, 2)
    assert RawStoreResource(url=str(tmp_path / "raw")).store().get(file.sha256) == b"bad gateway 2"
