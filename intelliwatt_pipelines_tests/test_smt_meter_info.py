"""SMT meter info (vendor-apis.md §2.3) on SQLite and PostgreSQL: /v2/meterInfo/ answers through
httpx.MockTransport (one row per meter, 2076 recorded as api_not_enabled and not retried), the SFTP CSV
(kind smt_meter_info_csv) through the real inbox ingest, unknown layouts failed with their columns, and
meter_number_for never answering with a status row."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines import cli, kinds
from intelliwatt_pipelines.cdm.meter_info import meter_number_for, store_meter_info
from intelliwatt_pipelines.cdm.tables import raw_file, smt_api_call, smt_meter_info
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.ingest.inbox import IngestOptions, reprocess_raw_files
from intelliwatt_pipelines.ingest.smt_meter_info import fetch_meter_info
from intelliwatt_pipelines.sources import ParseError
from intelliwatt_pipelines.sources import smt_meter_info as source
from intelliwatt_pipelines.vendors.smt.answers import API_NOT_ENABLED
from intelliwatt_pipelines_tests.test_cli_and_schema import cli_env  # noqa: F401  (fixture)
from intelliwatt_pipelines_tests.test_smt_api_client import FIXTURES, Smt, client

ESIID = "10443720000000001"
OTHER = "10443720000000002"
JSON_BYTES = (FIXTURES / "mi_meter_info.json").read_bytes()
ERROR_2076 = (FIXTURES / "mi_meter_info_2076.json").read_bytes()
CSV_BYTES = (FIXTURES / "mi_meter_info_two_esiids.csv").read_bytes()
UNKNOWN_BYTES = (FIXTURES / "mi_meter_info_unknown_header.csv").read_bytes()
NOW = dt.datetime(2025, 11, 20, 15, 0, tzinfo=dt.timezone.utc)


def table(engine, t):
    with engine.connect() as conn:
        return conn.execute(sa.select(t).order_by(*t.primary_key.columns)).all()


def calls_to(fake: Smt, path: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path == path]


def test_the_csv_kind_is_told_by_an_esiid_and_two_meter_columns_and_takes_no_other_kind():
    assert kinds.detect_kind(CSV_BYTES, "delivery.csv") == kinds.SMT_METER_INFO_CSV
    assert kinds.detect_kind(b"esiid,KWHMeterMultiplier,MeterClass\n", "x.csv") == kinds.SMT_METER_INFO_CSV
    assert kinds.detect_kind(b"ESIID,MeterSerialNumber,Notes\n", "x.csv") == kinds.UNKNOWN  # one meter column
    assert kinds.detect_kind(b"MeterSerialNumber,MeterClass,Notes\n", "x.csv") == kinds.UNKNOWN  # no ESIID
    # a daily read with meter columns stays a daily read; the meter info JSON answer is no CSV
    daily = b"ESIID,MeterSerialNumber,MeterMultiplier,USAGE_DATE,USAGE_KWH\n"
    assert kinds.detect_kind(daily, "x.csv") == kinds.SMT_DAILY_READ
    assert kinds.detect_kind(JSON_BYTES, "smt_meterinfo_x.json") != kinds.SMT_METER_INFO_CSV


def test_the_csv_maps_columns_by_family_and_reports_the_unmapped():
    parsed = source.parse(CSV_BYTES.decode())
    assert (parsed.kind, parsed.rows_read, parsed.rows_valid, parsed.unmapped) == (
        kinds.SMT_METER_INFO_CSV, 2, 2, ["RegionCode"])
    first, second = parsed.rows()
    assert (first["esiid"], first["meter_number"], first["kwh_meter_multiplier"], first["manufacturer_name"]) == (
        ESIID, "112233445", 1.0, "Landis+Gyr")
    assert (second["meter_number"], second["utility_meter_id"], second["status"]) == ("ITR-55667788", None, "ok")
    with pytest.raises(ParseError, match=r"columns seen: \['ESIID', 'MeterSerialNumber', 'Region', 'Notes'\]"):
        source.parse(UNKNOWN_BYTES.decode())


def test_a_json_answer_is_one_row_with_the_utility_meter_id(engine, store):
    fake = Smt(httpx.Response(200, content=JSON_BYTES))
    (result,) = fetch_meter_info(engine, store, client(fake), [ESIID], run_id="r1", now=NOW)
    assert (result.status, result.http_status, result.meter_numbers, result.error) == ("ok", 200, ["112233445"], None)
    (row,) = table(engine, smt_meter_info)
    assert (row.esiid, row.meter_number, row.status, row.utility_meter_id, row.meter_serial_number) == (
        ESIID, "112233445", "ok", "112233445", "LG-9988776655")
    assert (row.kwh_meter_multiplier, row.han_protocol, row.raw_file_id) == (1.0, "ZigBee", result.raw_file_id)
    (file,) = table(engine, raw_file)
    assert (file.source, file.kind, file.status, file.rows_read, file.rows_valid) == (
        "smt_api", "smt_api_answer", "normalized", 1, 1)
    assert file.filename.startswith(f"smt_meterinfo_{ESIID}_MI") and store.get(file.sha256) == JSON_BYTES
    (call,) = table(engine, smt_api_call)
    assert (call.endpoint, call.http_status, call.raw_file_id, call.error, call.run_id) == (
        "/v2/meterInfo/", 200, file.id, None, "r1")
    body = json.loads(calls_to(fake, "/v2/meterInfo/")[0].content)
    assert (body["reportFormat"], body["ESIIDMeterList"]) == ("JSON", [{"esiid": ESIID}])
    with engine.connect() as conn:
        assert meter_number_for(conn, ESIID) == "112233445"


@pytest.mark.parametrize("status", [400, 200])
def test_error_2076_is_recorded_as_api_not_enabled_and_not_retried(engine, store, status):
    fake = Smt(httpx.Response(status, content=ERROR_2076), httpx.Response(200, content=JSON_BYTES))
    (result,) = fetch_meter_info(engine, store, client(fake, attempts=3), [ESIID], run_id=None, now=NOW)
    assert len(calls_to(fake, "/v2/meterInfo/")) == 1
    assert (result.status, result.error, result.failed, result.meter_numbers) == (
        "api_not_enabled", API_NOT_ENABLED, False, [])
    (row,) = table(engine, smt_meter_info)
    assert (row.esiid, row.meter_number, row.status, row.error) == (ESIID, "unknown", "api_not_enabled",
                                                                     API_NOT_ENABLED)
    (file,) = table(engine, raw_file)
    assert file.status == "failed" and store.get(file.sha256) == ERROR_2076
    (call,) = table(engine, smt_api_call)
    assert call.error and (call.http_status, call.raw_file_id) == (status, file.id)
    with engine.connect() as conn:
        assert meter_number_for(conn, ESIID) is None  # never the placeholder


def test_no_answer_is_an_audit_row_and_a_failed_result(engine, store):
    fake = Smt(*[httpx.ConnectError("down")] * 2)
    (result,) = fetch_meter_info(engine, store, client(fake, attempts=2), [ESIID], run_id=None, now=NOW)
    assert result.failed and result.http_status is None and "ConnectError" in result.error
    assert table(engine, smt_meter_info) == [] and table(engine, raw_file) == []
    (call,) = table(engine, smt_api_call)
    assert call.http_status is None and ESIID not in call.request_redacted


def test_a_status_row_never_replaces_or_removes_a_real_meter(engine, store):
    fake = Smt(httpx.Response(200, content=JSON_BYTES), httpx.Response(400, content=ERROR_2076))
    fetch_meter_info(engine, store, client(fake), [ESIID, ESIID], run_id=None, now=NOW)
    rows = table(engine, smt_meter_info)
    assert [(r.meter_number, r.status) for r in rows] == [("112233445", "ok"), ("unknown", "api_not_enabled")]
    with engine.begin() as conn:  # a newer status row, later than the meter: still the meter
        later = NOW + dt.timedelta(days=1)
        store_meter_info(conn, [{"esiid": ESIID, "status": "failed", "error": "x"}], raw_file_id=rows[0].raw_file_id,
                         now=later)
        assert meter_number_for(conn, ESIID) == "112233445" and meter_number_for(conn, OTHER) is None
        assert store_meter_info(conn, [{"esiid": ESIID, "status": "failed", "error": "x"}],
                                raw_file_id=rows[0].raw_file_id, now=later) == 0  # the same again: no change
        with pytest.raises(ValueError, match="no usable meter number"):
            store_meter_info(conn, [{"esiid": ESIID, "meter_number": "unknown"}], raw_file_id=1, now=later)


def test_the_csv_through_the_inbox_is_two_rows_and_again_writes_nothing(cli_env, engine, store):  # noqa: F811
    (cli_env.inbox_dir / "SMT_MeterInfo_20251120.csv").write_bytes(CSV_BYTES)
    assert cli.main(["ingest", "--inbox", str(cli_env.inbox_dir)]) == 0
    (file,) = table(engine, raw_file)
    assert (file.kind, file.status, file.rows_read, file.rows_valid) == (kinds.SMT_METER_INFO_CSV, "normalized", 2, 2)
    assert "unmapped columns: ['RegionCode']" in file.error
    rows = table(engine, smt_meter_info)
    assert [(r.esiid, r.meter_number, r.raw_file_id) for r in rows] == [
        (ESIID, "112233445", file.id), (OTHER, "ITR-55667788", file.id)]
    (cli_env.inbox_dir / "same_bytes_again.csv").write_bytes(CSV_BYTES)
    assert cli.main(["ingest", "--inbox", str(cli_env.inbox_dir)]) == 0
    (outcome,) = reprocess_raw_files(engine, store, [file.id], run_id=None, options=IngestOptions())
    assert (outcome.status, outcome.rows_written) == ("normalized", 0)
    assert table(engine, smt_meter_info) == rows and len(table(engine, raw_file)) == 1


def test_an_unknown_header_fails_the_raw_file_with_its_columns_and_keeps_the_bytes(engine, store):
    captured = capture_bytes(engine, store, UNKNOWN_BYTES, filename="mi_meter_info_unknown_header.csv",
                             source="inbox")
    (outcome,) = reprocess_raw_files(engine, store, [captured.raw_file_id], run_id=None, options=IngestOptions())
    (file,) = table(engine, raw_file)
    assert (outcome.status, file.status, file.kind) == ("failed", "failed", kinds.SMT_METER_INFO_CSV)
    assert "columns seen: ['ESIID', 'MeterSerialNumber', 'Region', 'Notes']" in file.error
    assert store.get(file.sha256) == UNKNOWN_BYTES and table(engine, smt_meter_info) == []
