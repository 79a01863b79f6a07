"""1PWR minigrid files (vendor-apis.md §3) through detection and ``parse_usage_file``: 1Meter IoT batches
(S3 backups and API payloads) and ThunderCloud snapshots as register reads, Koios pages as hourly
intervals, the meter registry as meter roles. Fixtures in data/onepwr/ are synthetic, shaped as §3.1
describes the vendors' answers (no recorded payloads are public)."""

import json
import pathlib

import pandas as pd
import pytest

from intelliwatt_pipelines import kinds, markets
from intelliwatt_pipelines.sources import (
    ParsedIntervals,
    ParsedMeterRoles,
    ParsedRegisterReads,
    koios,
    onepwr_iot,
    parse_usage_file,
)
from intelliwatt_pipelines.sources.detect import USAGE_SOURCES
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.frames import REGISTER_READ_COLUMNS, ReadingWindow
from intelliwatt_pipelines.sources.onepwr_registry import usage_points
from intelliwatt_pipelines.sources.registers import register_intervals

DATA = pathlib.Path(__file__).parent / "data" / "onepwr"
POINTS = {"23022628": ("0005MAK", None)}
RULE = markets.market("lesotho").identity_rule  # as the market states it
UNMAPPED = "meter 23022613 is not registered to an account (meter registry)"


@pytest.fixture(autouse=True)
def lesotho(monkeypatch):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def iot(records: list[dict], points=POINTS) -> ParsedRegisterReads:
    return parse_usage_file(json.dumps(records).encode(), "iot.json", usage_points=points)


@pytest.mark.parametrize("name, kind", [
    ("iot_s3_batch.json", kinds.ONEPWR_IOT_JSON), ("iot_api_readings.json", kinds.ONEPWR_IOT_JSON),
    ("koios_page_1.json", kinds.KOIOS_HISTORICAL_JSON), ("koios_page_2.json", kinds.KOIOS_HISTORICAL_JSON),
    ("thundercloud_customers.json", kinds.THUNDERCLOUD_CUSTOMERS_JSON),
    ("meter_registry.csv", kinds.ONEPWR_METER_REGISTRY)])
def test_each_file_is_told_apart_by_its_first_bytes(name, kind):
    assert kinds.detect_kind(data(name)[:kinds.HEAD_BYTES], name) == kind


def test_other_json_and_csv_keep_their_kinds_and_big_pages_are_still_koios():
    monthly = b'{"monthlyData": [{"esiid": "10443720000000001", "actl_kwh_usg": 812}]}'
    interval = b'{"energyData": [{"DT": "02/17/2026", "RT": "C", "RD": "0.1-A"}]}'
    tc_list = json.dumps(json.loads(data("thundercloud_customers.json"))["customers"]).encode()
    assert kinds.detect_kind(monthly) == kinds.SMT_MONTHLY_JSON
    assert kinds.detect_kind(interval) == kinds.SMT_INTERVAL_JSON
    assert kinds.detect_kind(b'[{"meter": "1", "kwh": 2}]') == kinds.SMT_MONTHLY_JSON
    assert kinds.detect_kind(b"timestamp,kwh\n2026-02-17T00:00:00Z,1\n") == kinds.USAGE_TIMESTAMP_KWH
    assert kinds.detect_kind(tc_list) == kinds.THUNDERCLOUD_CUSTOMERS_JSON
    page = json.loads(data("koios_page_1.json"))
    page["data"] *= 100  # "pagination" is now far beyond the head
    body = json.dumps(page).encode()
    assert b'"pagination"' not in body[:kinds.HEAD_BYTES]
    assert kinds.detect_kind(body[:kinds.HEAD_BYTES]) == kinds.KOIOS_HISTORICAL_JSON


def test_an_iot_day_is_register_reads_in_utc_and_the_unmapped_meter_is_skipped_by_name():
    parsed = parse_usage_file(data("iot_s3_batch.json"), "1meterdatacopy.json", usage_points=POINTS)
    assert isinstance(parsed, ParsedRegisterReads)
    assert (parsed.kind, parsed.source) == ("onepwr_iot_json", "onepwr_iot") == (parsed.kind, USAGE_SOURCES[parsed.kind])
    assert list(parsed.frame.columns) == REGISTER_READ_COLUMNS
    # an unregistered meter (a customer not yet assigned, a repeater) is no defect of the file: skipped, named
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_invalid, parsed.rows_skipped) == (101, 97, 0, 4)
    assert parsed.problems == [] and parsed.notes == [f"{UNMAPPED}: 4 reading(s) skipped, kept in the raw file (reprocess it once the "
                               "meter is registered)"]
    frame = parsed.frame
    assert set(frame["esiid"]) == {"0005MAK"} and set(frame["meter"]) == {"23022628"}  # 12 digits -> 8
    # Maseru wall clock 2026-02-17 00:00 is 22:00 UTC the day before (UTC+2, no DST)
    assert frame["ts_utc"].iloc[0] == pd.Timestamp("2026-02-16 22:00", tz="UTC")
    assert frame["ts_utc"].iloc[-1] == pd.Timestamp("2026-02-17 22:00", tz="UTC")
    assert (frame["register_kwh"].iloc[0], frame["register_kwh"].iloc[-1]) == (3.01, 3.45)
    # EnergyActive, not EnergyIntegrated (which falls to 0 at noon): the register never falls
    assert frame["register_kwh"].is_monotonic_increasing


def test_the_iot_day_sums_to_the_register_difference_with_no_negative_energy():
    reads = parse_usage_file(data("iot_s3_batch.json"), "iot.json", usage_points=POINTS).frame
    intervals, events = register_intervals(reads)
    assert events.empty  # no reset: the reboot is invisible to EnergyActive
    assert intervals["kwh"].sum() == pytest.approx(0.44, abs=1e-9)
    assert (intervals["kwh"] >= 0).all()
    assert len(intervals) == 96 and set(intervals["quality"]) == {"actual"}


def test_the_api_payload_shape_reads_energy_active_in_kwh():
    parsed = parse_usage_file(data("iot_api_readings.json"), "readings.json", usage_points={"000023022628": (
        "0005MAK", "1M-23022628")})
    assert parsed.frame[["esiid", "meter", "register_kwh"]].values.tolist() == [
        ["0005MAK", "1M-23022628", 3.45], ["0005MAK", "1M-23022628", 3.46]]
    assert parsed.frame["ts_utc"].tolist() == [pd.Timestamp("2026-02-17 22:00", tz="UTC"),
                                               pd.Timestamp("2026-02-17 22:15", tz="UTC")]


def test_unreadable_iot_readings_are_invalid_rows_with_reasons():
    good = {"meterId": "000023022628", "Time": "202602170000", "EnergyActive": "3.01 kWh"}
    parsed = iot([good, "x", {**good, "meterId": "abc"}, {**good, "Time": "2026-02-17 00:00"},
                  {**good, "Time": "202602171500", "EnergyActive": "3.01 V"},
                  {"meterId": "000023022628", "Time": "202602171515", "EnergyIntegrated": "0.4 kWh"},
                  {**good, "Time": "202602171530", "EnergyActive": "-1 kWh"},
                  {**good, "EnergyActive": "3.02 kWh"}, good])
    # two reads of one instant: a register only rises, so the higher is kept and the lower skipped, noted
    assert (parsed.rows_valid, parsed.rows_invalid, parsed.rows_skipped) == (1, 6, 2)
    assert parsed.frame["register_kwh"].tolist() == [3.02]
    assert parsed.notes == ["1 read(s) of an instant that has a higher read too: the higher kept"]
    text = "; ".join(parsed.problems)
    for reason in ("reading is not an object", "meterId is not a 1Meter id", "Time is not YYYYMMDDHHMM",
                   "EnergyActive is not a kWh value", "no EnergyActive register (EnergyIntegrated is not used",
                   "EnergyActive is negative"):
        assert reason in text, text
    assert "0005MAK" not in text  # accounts are personal: never in a reason
    with pytest.raises(ParseError, match="not an array"):  # one object is not detected as IoT, nor parsed so
        onepwr_iot.parse('{"meterId": "000023022628", "EnergyActive": "1 kWh"}', usage_points=POINTS)


def test_a_registry_account_that_breaks_the_market_rule_is_refused():
    parsed = iot([{"meterId": "23022628", "Time": "202602170000", "EnergyActive": "3.01 kWh"}],
                 points={"23022628": ("5MAK", None)})
    assert parsed.rows_valid == 0
    assert parsed.problems == [f"account of the meter (meter registry) is not {RULE} (lesotho market): 1 reading(s)"]


def test_register_reads_are_span_checked_per_esiid_and_meter():
    with pytest.raises(ParseError, match="spans"):
        parse_usage_file(data("iot_s3_batch.json"), "iot.json", usage_points=POINTS,
                         window=ReadingWindow(max_span_days=1))


def test_the_registry_gives_roles_and_the_usage_points_of_a_1meter_file():
    roles = parse_usage_file(data("meter_registry.csv"), "meter_registry.csv")
    assert isinstance(roles, ParsedMeterRoles) and roles.kind == "onepwr_meter_registry"
    assert roles.frame.values.tolist() == [["0005MAK", "23022628", "primary"], ["0005MAK", "SMRSD-03-0002E040", "check"]]
    parsed = parse_usage_file(data("iot_s3_batch.json"), "iot.json", usage_points=usage_points(roles.frame))
    assert parsed.rows_valid == 97 and parsed.rows_skipped == 4 and parsed.notes[0].startswith(UNMAPPED)


def test_registry_rows_that_do_not_hold_are_invalid_with_their_lines():
    text = ("account_number,meter_id,role\n0005MAK,23022628,primary\n5MAK,23022696,primary\n"
            "0006MAK,23022673,spare\n0007MAK,SMRSD-03-0002E041,primary\n0008MAK,SMRSD-03-0002E041,check\n"
            "0005MAK,000023022628,primary\n0009MAK,,primary\n")
    roles = parse_usage_file(text.encode(), "registry.csv")
    assert roles.frame.values.tolist() == [["0005MAK", "23022628", "primary"]]
    assert (roles.rows_invalid, roles.rows_skipped) == (5, 1)  # line 7 repeats line 2 once canonical
    assert roles.problems == [
        f"account_number is not {RULE} (lesotho market): 1 row(s), line 3",
        "meter_id is missing: 1 row(s), line 8", "role is not primary, check, backup: 1 row(s), line 4",
        "meter is listed with more than one account or role: 2 row(s), line 5, 6"]


def test_koios_pages_are_hourly_consumption_intervals_of_the_customer_code():
    pages = [parse_usage_file(data(f"koios_page_{n}.json"), f"koios_page_{n}.json") for n in (1, 2)]
    assert all(isinstance(p, ParsedIntervals) and p.kind == "koios_historical_json" for p in pages)
    assert [p.rows_valid for p in pages] == [12, 12] and USAGE_SOURCES["koios_historical_json"] == "koios"
    frame = pd.concat([p.frame for p in pages], ignore_index=True)
    assert set(frame["esiid"]) == {"0005MAK"} and set(frame["meter"]) == {"SMRSD-03-0002E040"}
    assert set(frame["channel"]) == {"consumption"} and set(frame["quality"]) == {"actual"}
    assert set(frame["interval_minutes"]) == {60} and frame["revised_at"].isna().all()
    assert frame["ts_utc"].tolist() == list(pd.date_range("2026-02-17", periods=24, freq="h", tz="UTC"))
    assert frame["kwh"].iloc[18] == 0.141 and frame["kwh"].sum() == pytest.approx(1.243)


def test_under_the_default_texas_market_koios_customer_codes_are_invalid(monkeypatch):
    monkeypatch.delenv("INTELLIWATT_MARKET")
    parsed = parse_usage_file(data("koios_page_1.json"), "koios_page_1.json")
    assert (parsed.rows_valid, parsed.rows_invalid) == (0, 12)
    texas = markets.market("texas").identity_rule
    assert parsed.problems == [f"meter.customer.code is not {texas} (texas market): 12 reading(s)"]


def test_koios_rows_that_do_not_hold_are_invalid_with_reasons():
    row = {"kilowatt_hours": 0.1, "timestamp": "2026-02-17T10:00:00Z",
           "meter": {"serial_number": "SMRSD-03-0002E040", "customer": {"code": "0005MAK"}}}
    body = {"data": [row, 7, {**row, "timestamp": "yesterday"}, {**row, "timestamp": "2026-02-17T10:30:00Z"},
                     {**row, "kilowatt_hours": -0.1, "timestamp": "2026-02-17T11:00:00Z"},
                     {**row, "kilowatt_hours": None}, {**row, "meter": {"serial_number": "SMRSD-03-0002E040"}},
                     {**row, "kilowatt_hours": 0.2}, row], "pagination": {"cursor": None, "has_more": False}}
    parsed = parse_usage_file(json.dumps(body).encode(), "page.json")
    assert (parsed.rows_valid, parsed.rows_invalid, parsed.rows_skipped) == (1, 7, 1)
    text = "; ".join(parsed.problems)
    for reason in ("data item is not an object", "timestamp is not an ISO 8601 time", "not on the hour",
                   "kWh is negative", "kilowatt_hours is missing", "meter.customer.code is missing",
                   "with a different value"):
        assert reason in text, text
    with pytest.raises(ParseError, match="no data list"):
        koios.parse('{"data": {"x": 1}, "pagination": {}}')


def test_a_thundercloud_snapshot_is_register_reads_of_customer_codes():
    parsed = parse_usage_file(data("thundercloud_customers.json"), "thundercloud_customers_20260217T1000Z.json")
    assert isinstance(parsed, ParsedRegisterReads)
    assert (parsed.kind, parsed.source) == ("thundercloud_customers_json", "thundercloud")
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_skipped) == (3, 2, 1)  # 0006MAK has no read yet
    assert parsed.frame.values.tolist() == [
        ["0005MAK", "SMRSD-03-0002E040", pd.Timestamp("2026-02-17 10:00", tz="UTC"), 1534.27],
        ["0007MAK", "SMRSD-03-0002E0A1", pd.Timestamp("2026-02-17 10:00", tz="UTC"), 88.02]]


def test_thundercloud_reads_that_do_not_hold_are_invalid_rows():
    doc = json.loads(data("thundercloud_customers.json"))
    doc["customers"][0]["code"] = "5MAK"
    doc["customers"][2]["meters"][0].update(total_cycle_energy="lots", last_energy_datetime="noon")
    parsed = parse_usage_file(json.dumps(doc).encode(), "tc.json")
    assert (parsed.rows_valid, parsed.rows_invalid) == (0, 2)
    assert parsed.problems == [
        f"customer code is not {RULE} (lesotho market): 1 reading(s)",
        "last_energy_datetime is not an ISO 8601 time: 1 reading(s)"]
