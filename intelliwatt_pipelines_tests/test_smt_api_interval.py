"""SMT API interval JSON (energyData[]): DST-exact placement, and the same rows as the SMT CSV path."""

import csv
import datetime as dt
import io
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelliwatt_pipelines.cdm.tables import raw_file, usage_interval
from intelliwatt_pipelines.ingest import capture_file, normalize_raw_file
from intelliwatt_pipelines.kinds import detect_kind
from intelliwatt_pipelines.samples import smt_interval_csv
from intelliwatt_pipelines.sources import smt_api_interval
from intelliwatt_pipelines.sources.detect import parse_usage_file
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.smt_billing import parse_monthly_json
from intelliwatt_pipelines_tests.conftest import DATA

ESIID = "10443720000000001"
FALL_BACK, SPRING_FORWARD = dt.date(2025, 11, 2), dt.date(2026, 3, 8)
RT = {"Consumption": "C", "Surplus Generation": "G"}


def record(day: str, tokens: list[str], rt: str = "C", revised: str = "03/09/2026 08:00:00") -> dict:
    return {"DT": day, "RT": rt, "RevTS": revised, "RD": ",".join(tokens)}


def doc(*records: dict, esiid: str = ESIID) -> str:
    return json.dumps({"ESIID": esiid, "energyData": list(records)})


def json_from_csv(data: bytes) -> bytes:
    """The SMT API JSON carrying the same readings as an SMT interval CSV: one record per ESIID, day
    and channel, a token per CSV row in file order (blank rows become empty tokens)."""
    records: dict[tuple, dict] = {}
    for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))):
        key = (row["ESIID"].lstrip("'"), row["USAGE_DATE"], row["CONSUMPTION_SURPLUSGENERATION"])
        rec = records.setdefault(key, {"ESIID": key[0], "DT": key[1], "RT": RT[key[2]],
                                       "RevTS": row["REVISION_DATE"], "RD": []})
        rec["RD"].append(f"{row['USAGE_KWH']}-{row['ESTIMATED_ACTUAL']}" if row["USAGE_KWH"] else "")
    out = [{**rec, "RD": ",".join(rec["RD"])} for rec in records.values()]
    return json.dumps({"energyData": out}).encode()


def test_fall_back_day_has_100_distinct_intervals():
    parsed = smt_api_interval.parse(doc(record("11/02/2025", ["0.25-A"] * 100, revised="11/03/2025 08:00:00")))
    ts = parsed.frame["ts_utc"]
    assert (parsed.rows_valid, parsed.rows_skipped, parsed.rows_invalid) == (100, 0, 0) and ts.is_unique
    assert ts.iloc[0] == pd.Timestamp("2025-11-02T05:00:00Z") and ts.iloc[-1] == pd.Timestamp("2025-11-03T05:45:00Z")
    assert parsed.kind == "smt_interval_json" and set(parsed.frame["quality"]) == {"actual"}
    assert parsed.frame["revised_at"].iloc[0] == pd.Timestamp("2025-11-03T14:00:00Z")  # Central → UTC


def test_spring_forward_padded_to_96_drops_the_four_missing_slots():
    tokens = ["0.5-E"] * 96
    tokens[8:12] = [""] * 4
    parsed = smt_api_interval.parse(doc(record("03/08/2026", tokens)))
    ts = parsed.frame["ts_utc"]
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_skipped, parsed.rows_invalid) == (96, 92, 4, 0)
    assert ts.iloc[7] == pd.Timestamp("2026-03-08T07:45:00Z") and ts.iloc[8] == pd.Timestamp("2026-03-08T08:00:00Z")
    assert ts.iloc[-1] == pd.Timestamp("2026-03-09T04:45:00Z") and set(parsed.frame["quality"]) == {"estimated"}


def test_spring_forward_with_92_tokens_and_the_96_non_empty_failure():
    assert smt_api_interval.parse(doc(record("03/08/2026", ["0.5-A"] * 92))).rows_valid == 92
    full = smt_api_interval.parse(doc(record("03/08/2026", ["0.5-A"] * 96), record("03/07/2026", ["1-A"] * 96)))
    assert full.rows_valid == 96 and full.rows_invalid == 96  # only that record fails: never an invented slot
    assert set(full.frame["ts_utc"].dt.tz_convert("America/Chicago").dt.date) == {dt.date(2026, 3, 7)}
    assert any("96 readings on a 92-interval day" in p for p in full.problems)


def test_empty_tokens_generation_esiid_from_the_record_and_bad_tokens():
    tokens = ["0.1-A", "", "x-A", "0.2-Q", "0.3"] + [""] * 91
    rec = {**record("03/07/2026", tokens, rt="G"), "esiid": "1008901023817895470106"}
    parsed = smt_api_interval.parse(doc(rec))
    assert (parsed.rows_valid, parsed.rows_skipped, parsed.rows_invalid) == (1, 92, 3)
    row = parsed.frame.iloc[0]
    assert (row["channel"], row["esiid"], row["kwh"]) == ("generation", "1008901023817895470106", 0.1)
    with pytest.raises(ParseError, match="no energyData"):
        smt_api_interval.parse('{"monthlyData": []}')
    with pytest.raises(ParseError, match="not valid JSON"):
        smt_api_interval.parse('{"energyData": [')


def test_esiid_from_the_enclosing_object_or_the_request():
    nested = {"response": {"esiid": "'1008901023817895470106", "body": {"energyData": [record("03/07/2026", ["1-A"] * 96)]}}}
    assert set(smt_api_interval.parse(json.dumps(nested)).frame["esiid"]) == {"1008901023817895470106"}
    bare = json.dumps({"energyData": [record("03/07/2026", ["1-A"] * 96)]})
    assert set(smt_api_interval.parse(bare, esiid=ESIID).frame["esiid"]) == {ESIID}
    assert smt_api_interval.parse(bare).rows_invalid == 96  # no ESIID anywhere: every reading is invalid


def test_detected_by_content_and_routed():
    data = doc(record("03/07/2026", ["0.1-A"] * 96)).encode()
    assert detect_kind(data, "anything.dat") == "smt_interval_json"
    assert detect_kind(json.dumps({"monthlyData": []}).encode(), "energydata.json") == "smt_monthly_json"
    pretty = json.dumps(json.loads(data), indent=2).encode()
    assert detect_kind(pretty, "x.json") == "smt_interval_json"
    assert parse_usage_file(pretty, "x.json").kind == "smt_interval_json"


CSV_SAMPLES = [
    smt_interval_csv(ESIID, [FALL_BACK - dt.timedelta(days=1), FALL_BACK, SPRING_FORWARD],
                     channels=("Consumption", "Surplus Generation"), estimated_days=[SPRING_FORWARD]),
    smt_interval_csv(ESIID, [FALL_BACK, SPRING_FORWARD], raw=False, seed=3),
    (DATA / "IntervalMeterUsage_sample_fallback_unpadded.csv").read_bytes(),
    (DATA / "IntervalMeterUsage_sample_spring_padded_two_channels.csv").read_bytes(),
]


@pytest.mark.parametrize("data", CSV_SAMPLES, ids=["generated", "spreadsheet", "fallback", "spring"])
def test_json_parses_to_the_csv_frame(data):
    from_csv, from_json = parse_usage_file(data, "IntervalMeterUsage.csv"), parse_usage_file(json_from_csv(data), "x")
    key = ["esiid", "channel", "ts_utc"]
    pd.testing.assert_frame_equal(from_csv.frame.sort_values(key, ignore_index=True),
                                  from_json.frame.sort_values(key, ignore_index=True))
    assert (from_csv.rows_skipped, from_csv.rows_invalid) == (from_json.rows_skipped, from_json.rows_invalid)


def _ingest(engine, store, path, data: bytes):
    path.write_bytes(data)
    return normalize_raw_file(engine, store, capture_file(engine, store, path, source="test").raw_file_id)


def _rows(engine):
    u = usage_interval.c
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(*(c for c in u if c.name != "raw_file_id"))))


@pytest.mark.parametrize("data", CSV_SAMPLES[::2], ids=["generated", "fallback"])
def test_csv_and_json_land_identical_rows_and_a_second_ingest_writes_nothing(engine, store, tmp_path, data):
    first = _ingest(engine, store, tmp_path / "IntervalMeterUsage.csv", data)
    assert first.status == "normalized" and first.rows_written > 0
    from_csv = _rows(engine)
    with engine.begin() as conn:
        conn.execute(usage_interval.delete())
    as_json = json_from_csv(data)
    landed = _ingest(engine, store, tmp_path / "smt_energydata.json", as_json)
    assert (landed.status, landed.kind, landed.rows_written) == ("normalized", "smt_interval_json", first.rows_written)
    assert _rows(engine) == from_csv
    with engine.connect() as conn:  # raw first: the response's bytes are kept, under their kind
        kept = conn.execute(sa.select(raw_file).where(raw_file.c.id == landed.raw_file_id)).one()
    assert kept.kind == "smt_interval_json" and store.get(kept.sha256) == as_json
    again = _ingest(engine, store, tmp_path / "again.json", json.dumps(json.loads(as_json), indent=1).encode())
    csv_again = normalize_raw_file(engine, store, first.raw_file_id)  # the CSV's rows are already there
    assert (again.status, again.rows_written, csv_again.rows_written) == ("normalized", 0, 0)
    assert _rows(engine) == from_csv


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["03/08/2026", "11/02/2025", "C", "G", "0.5-A", ",,1-E", ESIID, "03/09/2026 01:00:00"]),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.sampled_from(["energyData", "DT", "RT", "RevTS", "RD", "ESIID", "esiid", "meter", "x"]), inner, max_size=6),
    max_leaves=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_arbitrary_json_never_crashes_the_parser(value):
    try:
        parsed = smt_api_interval.parse(json.dumps(value))
    except ParseError:
        return
    assert parsed.rows_valid + parsed.rows_invalid + parsed.rows_skipped >= 0
    assert parsed.frame["ts_utc"].notna().all()


def test_monthly_json_portal_shape_from_the_api_spec():
    doc_ = {"monthlyData": [{"startdate": "12/30/2020", "enddate": "01/28/2021", "actl_kwh_usg": 290,
                             "mtrd_kwh_usg": "0", "blld_kwh_usg": "0", "mtrd_kva_usg": "0", "blld_kva_usg": "0",
                             "errmsg": "Success", "lastupdate": "01/29/2021 09:55:06"}]}
    parsed = parse_monthly_json(json.dumps(doc_), esiid=ESIID)
    row = parsed.frame.iloc[0]
    assert row["read_start"] == pd.Timestamp("2020-12-30T06:00Z") and row["read_end"] == pd.Timestamp("2021-01-28T06:00Z")
    assert row["kwh_total"] == 290 and row["revised_at"] == pd.Timestamp("2021-01-29T15:55:06Z")
    assert "errmsg" in parsed.unmapped and parsed.rows_invalid == 0 and not parsed.problems
