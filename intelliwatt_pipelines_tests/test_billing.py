"""Billing reads: the daily usage CSV and monthly JSON parsers, revision-aware storage, and the
reconciliation against intervals (warehouse, Dagster run and asset check, API)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm.tables import billing_read, billing_reconciliation, raw_file, usage_interval
from intelliwatt_pipelines.ingest import capture_file, normalize_raw_file, rebuild_esiid_days
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.ingest.inbox import IngestOptions, reprocess_raw_files
from intelliwatt_pipelines.kinds import detect_kind
from intelliwatt_pipelines.sources import ParseError
from intelliwatt_pipelines.sources.detect import parse_usage_file
from intelliwatt_pipelines.sources.smt_billing import parse_daily, parse_monthly_json
from intelliwatt_pipelines_tests.conftest import DATA

ESIID = "10443720009990001"  # the fall-back interval sample: 2025-11-01..03
FALLBACK = "IntervalMeterUsage_sample_fallback_unpadded.csv"
DAILY_NAME = "DailyMeterUsage_sample.CSV"
UTC = dt.timezone.utc
# The interval sample's real kWh per local day (expected.json), as the meter registered them.
DAY_KWH = {"11/01/2025": 77.079, "11/02/2025": 91.479, "11/03/2025": 82.18}
DAILY_HEADER = "ESIID,USAGE_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH,METER_NOTE\n"


def daily_csv(kwh: dict[str, float] = DAY_KWH, revision: str = "11/04/2025 08:00:00") -> bytes:
    lines, reading = [DAILY_HEADER], 1000.0
    for day, value in kwh.items():
        lines.append(f"{ESIID},{day},{revision},{reading:.3f},{reading + value:.3f},{value},ok\n")
        reading += value
    return "".join(lines).encode()


def altered_intervals(delta: float = 0.5) -> bytes:
    """The interval sample re-delivered with a later revision, one 11/02 interval changed by ``delta``."""
    lines = (DATA / FALLBACK).read_text().splitlines(keepends=True)
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.rstrip("\r\n").split(",")
        cells[2] = "11/5/2025 9:00"
        if cells[1] == "11/2/2025" and cells[3] == "12:00":
            cells[5] = f"{float(cells[5]) + delta:.3f}"
        out.append(",".join(cells) + "\n")
    return "".join(out).encode()


def ingest(engine, store, data: bytes, name: str):
    captured = capture_bytes(engine, store, data, filename=name, source="test")
    return normalize_raw_file(engine, store, captured.raw_file_id)


def reads(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(billing_read).order_by(billing_read.c.read_start)).all()


def statuses(engine) -> dict[dt.date, str]:
    c = billing_reconciliation.c
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(c.local_date, c.status)).all())


# --- parsers (pure) ---------------------------------------------------------------------------

def test_daily_csv_maps_columns_by_family_and_reports_the_rest():
    parsed = parse_daily(daily_csv().decode())
    frame = parsed.frame
    assert len(frame) == 3 and parsed.rows_invalid == 0
    assert parsed.unmapped == ["METER_NOTE"]
    assert list(frame["kwh_total"]) == list(DAY_KWH.values())
    assert frame["start_reading"].iloc[0] == 1000.0 and frame["meter"].iloc[0] == "unknown"
    # each read is one local day: the fall-back day is 25 hours long
    hours = ((frame["read_end"] - frame["read_start"]) / pd.Timedelta(hours=1)).tolist()
    assert hours == [24.0, 25.0, 24.0]
    assert frame["read_start"].iloc[0] == pd.Timestamp("2025-11-01 05:00", tz="UTC")
    assert frame["revised_at"].iloc[0] == pd.Timestamp("2025-11-04 14:00", tz="UTC")


def test_reads_spanning_several_days_run_from_read_date_to_read_date():
    text = ("esi_id,Meter Number,Period Start,Period End,Total kWh,Billed kWh,TDSP,Actual/Estimated\n"
            f"{ESIID},M77,10/05/2025,11/04/2025,912.5,910,CNP,E\n")
    frame = parse_daily(text).frame
    row = frame.iloc[0]
    assert (row["meter"], row["kwh_billed"], row["tdsp_code"], row["quality"]) == ("M77", 910.0, "CNP", "estimated")
    assert row["read_start"] == pd.Timestamp("2025-10-05 05:00", tz="UTC")
    assert row["read_end"] == pd.Timestamp("2025-11-04 06:00", tz="UTC")  # 11/04 00:00 CST, exclusive


def test_daily_file_with_an_unrecognizable_header_names_the_columns_it_saw():
    with pytest.raises(ParseError) as err:
        parse_usage_file(b"Premise,When,Amount\n1,2,3\n", "DailyMeterUsage_20251104.CSV")
    assert "['Premise', 'When', 'Amount']" in str(err.value)
    with pytest.raises(ParseError, match="kwh_total"):
        parse_daily(f"ESIID,USAGE_DATE,VALUE\n{ESIID},11/01/2025,3\n")


def test_bad_rows_are_counted_with_reasons_and_duplicates_skipped():
    text = (DAILY_HEADER + f"{ESIID},11/01/2025,11/04/2025 08:00:00,1,2,5.5,\n"
            f"{ESIID},11/01/2025,11/04/2025 08:00:00,1,2,5.5,\n"  # exact duplicate
            f"{ESIID},13/45/2025,11/04/2025 08:00:00,1,2,5.5,\n"
            f"{ESIID},11/02/2025,11/04/2025 08:00:00,1,2,-3,\n"
            f"{ESIID},11/03/2025,11/04/2025 08:00:00,1,2,abc,\n")
    parsed = parse_daily(text)
    assert (len(parsed.frame), parsed.rows_invalid, parsed.rows_skipped) == (1, 3, 1)
    assert any("not a date" in p for p in parsed.problems) and any("negative" in p for p in parsed.problems)


MONTHLY = {
    "trans_id": "T1", "ESIID": ESIID,
    "MonthlyData": [
        {"startDate": "09/04/2025", "endDate": "10/05/2025", "actualkWh": "1,204.5", "billedkWh": "1204",
         "meterNumber": "M77", "revisionDate": "10/07/2025 10:00:00", "tdspName": "CenterPoint", "unknownField": 1},
        {"startDate": "10/05/2025", "endDate": "11/04/2025", "actualkWh": "912.5", "billedkWh": "910",
         "meterNumber": "M77", "revisionDate": "11/06/2025 10:00:00", "tdspName": "CenterPoint", "unknownField": 2},
    ],
}


def test_monthly_json_records_become_chained_periods():
    parsed = parse_monthly_json(json.dumps(MONTHLY))
    frame = parsed.frame
    assert parsed.source == "smt_monthly_api" and len(frame) == 2 and parsed.unmapped == ["unknownField"]
    assert list(frame["kwh_total"]) == [1204.5, 912.5] and set(frame["esiid"]) == {ESIID}
    assert frame["read_end"].iloc[0] == frame["read_start"].iloc[1]  # one period's end is the next one's start
    assert set(frame["tdsp_name"]) == {"CenterPoint"}


def test_monthly_json_in_the_smt_portal_shape():
    doc = {"monthlyData": [
        {"startdate": "10/05/2025", "enddate": "11/04/2025", "actl_kwh_usg": "912.500", "mtrd_kwh_usg": "912.500",
         "blld_kwh_usg": "910", "lastupdate": "11/06/2025 10:00:00", "errmsg": ""}]}
    parsed = parse_monthly_json(json.dumps(doc), esiid=ESIID)
    row = parsed.frame.iloc[0]
    assert (row["kwh_total"], row["kwh_billed"], row["esiid"]) == (912.5, 910.0, ESIID)
    assert row["revised_at"] == pd.Timestamp("2025-11-06 16:00", tz="UTC")
    assert parsed.unmapped == ["mtrd_kwh_usg", "errmsg"]  # actual kWh is the read's kWh


def test_the_default_tolerance_catches_half_a_kwh_on_a_hot_day():
    from intelliwatt_pipelines.cdm.billing import Tolerance

    assert Tolerance().allowed(91.479) < 0.5 and Tolerance().allowed(200.0) < 0.5


def test_json_without_read_records_is_a_clear_error():
    with pytest.raises(ParseError, match="no read records"):
        parse_monthly_json('{"statusCode": "200", "energyData": []}')
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_monthly_json('{"MonthlyData": [')


def test_file_kinds_by_content_and_name():
    assert detect_kind(daily_csv()[:200], "report.csv") == "smt_daily_read"
    assert detect_kind(b"Premise,When,Amount\n", "DailyMeterUsage_1.CSV") == "smt_daily_read"
    assert detect_kind(b"ESIID,USAGE_DATE,USAGE_KWH,LAST_UPDATE_TIME\n", "DailyMeterUsage_1.CSV") == "smt_daily_read"
    # a CSV unpacked from a PGP/ZIP delivery is named <package>!<member>: the package name counts
    assert detect_kind(b"a,b\n", "DailyMeterUsage_1.CSV.20251104.asc!report.csv") == "smt_daily_read"
    assert detect_kind(json.dumps(MONTHLY).encode(), "energydata.json") == "smt_monthly_json"
    assert detect_kind((DATA / FALLBACK).read_bytes()[:300], "DailyMeterUsage_misnamed.csv") == "smt_interval"
    # a damaged interval header still gets the interval parser's error
    with pytest.raises(ParseError, match="SMT interval header"):
        parse_usage_file(b"ESIID,USAGE_DATE,VALUE\n1,2,3\n", "x.csv")


# --- warehouse ----------------------------------------------------------------------------------

def test_daily_reads_reconcile_with_matching_intervals(engine, store):
    assert ingest(engine, store, (DATA / FALLBACK).read_bytes(), FALLBACK).status == "normalized"
    outcome = ingest(engine, store, daily_csv(), DAILY_NAME)
    assert outcome.status == "normalized" and outcome.rows_written == 3
    assert "unmapped columns: ['METER_NOTE']" in outcome.error
    assert statuses(engine) == {dt.date(2025, 11, d): "match" for d in (1, 2, 3)}
    with engine.connect() as conn:
        row = conn.execute(sa.select(billing_reconciliation).where(
            billing_reconciliation.c.local_date == dt.date(2025, 11, 2))).one()
    assert (row.minutes_expected, row.minutes_covered, row.intervals_found) == (1500, 1500, 100)
    assert abs(row.difference_kwh) < 1e-6 and row.interval_meters == "unknown"


def test_one_altered_interval_turns_exactly_its_day_into_a_mismatch(engine, store):
    ingest(engine, store, (DATA / FALLBACK).read_bytes(), FALLBACK)
    ingest(engine, store, daily_csv(), DAILY_NAME)
    outcome = ingest(engine, store, altered_intervals(0.5), "IntervalMeterUsage_revised.csv")
    assert outcome.status == "normalized" and outcome.rows_written == 292  # a newer revision of every row
    assert statuses(engine) == {dt.date(2025, 11, 1): "match", dt.date(2025, 11, 2): "mismatch",
                                dt.date(2025, 11, 3): "match"}
    c = billing_reconciliation.c
    with engine.connect() as conn:
        diff = conn.execute(sa.select(c.difference_kwh).where(c.local_date == dt.date(2025, 11, 2))).scalar_one()
    assert diff == pytest.approx(0.5)


def test_intervals_missing_under_a_read_are_insufficient_not_a_mismatch(engine, store):
    ingest(engine, store, (DATA / FALLBACK).read_bytes(), FALLBACK)
    ingest(engine, store, daily_csv({**DAY_KWH, "11/04/2025": 80.0}), DAILY_NAME)
    assert statuses(engine)[dt.date(2025, 11, 4)] == "insufficient_intervals"


def test_the_same_daily_file_twice_or_revised_leaves_one_row_per_read(engine, store):
    first = ingest(engine, store, daily_csv(), DAILY_NAME)
    # the same rows in a new file (other bytes, so not deduplicated by sha256), and re-processing
    again = ingest(engine, store, daily_csv() + b"\n", "DailyMeterUsage_again.CSV")
    assert again.status == "normalized" and again.rows_written == 0
    reprocess_raw_files(engine, store, [first.raw_file_id], run_id=None, options=IngestOptions())
    assert len(reads(engine)) == 3
    # a later delivery revises one day
    revised = ingest(engine, store, daily_csv({**DAY_KWH, "11/02/2025": 95.0}, "11/06/2025 08:00:00"),
                     "DailyMeterUsage_revised.CSV")
    assert revised.rows_written == 3  # every row has the newer revision stamp
    rows = {r.read_start.date(): r for r in reads(engine)}
    assert len(rows) == 3 and rows[dt.date(2025, 11, 2)].kwh_total == 95.0
    assert rows[dt.date(2025, 11, 2)].raw_file_id == revised.raw_file_id
    # an older revision delivered late changes nothing
    late = ingest(engine, store, daily_csv({**DAY_KWH, "11/02/2025": 1.0}, "11/05/2025 08:00:00"),
                  "DailyMeterUsage_old.CSV")
    assert late.rows_written == 0 and {r.read_start.date(): r.kwh_total for r in reads(engine)}[dt.date(2025, 11, 2)] == 95.0


def test_a_revision_stamped_in_the_repeated_fall_back_hour_still_wins(engine, store):
    ingest(engine, store, daily_csv(revision="11/01/2025 08:00:00"), DAILY_NAME)
    newer = ingest(engine, store, daily_csv({**DAY_KWH, "11/02/2025": 95.0}, "11/02/2025 01:30:00"),
                   "DailyMeterUsage_newer.CSV")
    assert newer.status == "normalized" and newer.rows_written == 3
    assert {r.read_start.date(): r.kwh_total for r in reads(engine)}[dt.date(2025, 11, 2)] == 95.0


def test_rebuilding_billing_reads_twice_changes_nothing(engine, store):
    from intelliwatt_pipelines.ingest.rebuild import rebuild_billing_days

    ingest(engine, store, (DATA / FALLBACK).read_bytes(), FALLBACK)
    ingest(engine, store, daily_csv(), DAILY_NAME)

    def snapshot():
        with engine.connect() as conn:
            return (sorted(map(tuple, conn.execute(sa.select(billing_read)).all())),
                    sorted(map(tuple, conn.execute(sa.select(billing_reconciliation)).all())))

    before = snapshot()
    for _ in range(2):
        result = rebuild_billing_days(engine, store, ESIID, dt.date(2025, 11, 1), dt.date(2025, 11, 3))
        assert result.rows_deleted == 3 and result.rows_written == 3
    assert snapshot() == before  # checked_at included: nothing changed, nothing rewritten


def test_renormalizing_intervals_never_deletes_billing_reads(engine, store):
    intervals = ingest(engine, store, (DATA / FALLBACK).read_bytes(), FALLBACK)
    ingest(engine, store, daily_csv(), DAILY_NAME)
    before = reads(engine)
    reprocess_raw_files(engine, store, [intervals.raw_file_id], run_id=None, options=IngestOptions())
    result = rebuild_esiid_days(engine, store, ESIID, dt.date(2025, 11, 1), dt.date(2025, 11, 3))
    assert result.rows_deleted == 292 and reads(engine) == before
    assert statuses(engine) == {dt.date(2025, 11, d): "match" for d in (1, 2, 3)}
    with engine.begin() as conn:  # even a wiped interval table leaves the reads alone
        conn.execute(usage_interval.delete())
    rebuild_esiid_days(engine, store, ESIID, dt.date(2025, 11, 1), dt.date(2025, 11, 3))
    assert reads(engine) == before


def test_unrecognizable_daily_header_fails_the_file_and_keeps_its_bytes(engine, store, tmp_path):
    path = tmp_path / "DailyMeterUsage_20251104.CSV"
    path.write_bytes(b"Premise,When,Amount\n1,2,3\n")
    captured = capture_file(engine, store, path, source="test")
    outcome = normalize_raw_file(engine, store, captured.raw_file_id)
    assert outcome.status == "failed"
    with engine.connect() as conn:
        row = conn.execute(sa.select(raw_file).where(raw_file.c.id == captured.raw_file_id)).one()
    assert row.status == "failed" and "columns seen: ['Premise', 'When', 'Amount']" in row.error
    assert store.get(row.sha256) == path.read_bytes()
    assert reads(engine) == []


def test_monthly_reads_land_in_the_same_table(engine, store):
    outcome = ingest(engine, store, json.dumps(MONTHLY).encode(), "energydata_response.json")
    assert outcome.status == "normalized" and outcome.kind == "smt_monthly_json"
    rows = reads(engine)
    assert [(r.source, r.meter, r.kwh_total, r.kwh_billed) for r in rows] == [
        ("smt_monthly_api", "M77", 1204.5, 1204.0), ("smt_monthly_api", "M77", 912.5, 910.0)]
    assert statuses(engine) == {dt.date(2025, 10, 4): "insufficient_intervals",
                                dt.date(2025, 11, 3): "insufficient_intervals"}


# --- Dagster ------------------------------------------------------------------------------------

def test_ingest_runs_mark_billing_partitions_and_the_check_fails_on_a_mismatch(settings, instance):
    import dagster as dg

    from intelliwatt_pipelines.defs.definitions import BILLING_REBUILD_JOB, build_defs
    from intelliwatt_pipelines.defs.keys import BILLING_READS, RECONCILIATION
    from intelliwatt_pipelines.defs.resources import WarehouseResource
    from intelliwatt_pipelines_tests.conftest import copy_sample
    from intelliwatt_pipelines_tests.test_dagster import check_results, run_ingest, sensor_tick

    copy_sample(FALLBACK, settings.inbox_dir)
    (settings.inbox_dir / DAILY_NAME).write_bytes(daily_csv())
    defs = build_defs(settings)
    tick = sensor_tick(defs, instance)
    result = run_ingest(defs, instance, tick.run_requests[0])
    assert result.success
    days = {f"2025-11-0{d}" for d in (1, 2, 3)}
    assert instance.get_materialized_partitions(BILLING_READS) == days
    assert instance.get_materialized_partitions(RECONCILIATION) == days
    check = check_results(result)["billing_reconciliation_mismatches"]
    assert check.passed and check.metadata["reads_checked"].value == 3
    mat = instance.fetch_materializations(dg.AssetKey("raw_files"), limit=1).records[0].asset_materialization
    assert mat.metadata["unmapped_columns"].value == {DAILY_NAME: ["METER_NOTE"]}

    (settings.inbox_dir / "IntervalMeterUsage_revised.csv").write_bytes(altered_intervals(0.5))
    result = run_ingest(defs, instance, sensor_tick(defs, instance, cursor=tick.cursor).run_requests[0])
    assert result.success  # the check reports; it does not stop the ingest
    check = check_results(result)["billing_reconciliation_mismatches"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["mismatches"].value == 1 and "2025-11-02" in check.metadata["mismatched_reads"].value

    # a read lost from the table comes back from raw with a one-run rebuild of the partition range
    engine = WarehouseResource(url=settings.warehouse_url).engine()
    with engine.begin() as conn:
        conn.execute(billing_read.delete().where(billing_read.c.kwh_total == DAY_KWH["11/01/2025"]))
    tags = {"dagster/asset_partition_range_start": "2025-11-01", "dagster/asset_partition_range_end": "2025-11-03"}
    rebuild = defs.resolve_job_def(BILLING_REBUILD_JOB).execute_in_process(instance=instance, tags=tags)
    assert rebuild.success and len(reads(engine)) == 3
    assert statuses(engine)[dt.date(2025, 11, 2)] == "mismatch"
    assert not check_results(rebuild)["billing_reconciliation_mismatches"].passed

    # an interval rebuild re-reconciles the reads over its days, marks them, and runs the check
    from intelliwatt_pipelines.defs.definitions import REBUILD_JOB

    before = len(instance.fetch_materializations(RECONCILIATION, limit=100).records)
    usage = defs.resolve_job_def(REBUILD_JOB).execute_in_process(instance=instance, tags=tags)
    assert usage.success
    assert len(instance.fetch_materializations(RECONCILIATION, limit=100).records) == before + 3
    assert check_results(usage)["billing_reconciliation_mismatches"].metadata["mismatches"].value == 1


# --- API ----------------------------------------------------------------------------------------

def test_billing_routes(settings):
    import dataclasses

    from fastapi.testclient import TestClient

    from intelliwatt_pipelines.api import create_app
    from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
    from intelliwatt_pipelines.rawstore import LocalRawStore

    settings = dataclasses.replace(settings, api_keys=("k-1",))
    engine, store = create_engine(settings.warehouse_url), LocalRawStore(settings.raw_store_url)
    migrate(engine)
    ingest(engine, store, (DATA / FALLBACK).read_bytes(), FALLBACK)
    ingest(engine, store, daily_csv(), DAILY_NAME)
    ingest(engine, store, json.dumps(MONTHLY).encode(), "energydata_response.json")
    headers = {"x-api-key": "k-1"}
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/api/v1/esiids/{ESIID}/billing-reads?start=2025-11-02&end=2025-11-02",
                          headers=headers).json()
        # overlapping the 11/02 local day: its daily read and the 10/05-11/04 monthly read
        assert [(r["source"], r["last_day"]) for r in body["reads"]] == [
            ("smt_daily_csv", "2025-11-02"), ("smt_monthly_api", "2025-11-03")]
        daily = body["reads"][0]
        assert daily["read_start"] == "2025-11-02T05:00:00Z" and daily["read_end"] == "2025-11-03T06:00:00Z"
        assert daily["read_start_local"] == "2025-11-02T00:00:00-05:00" and daily["kwh_total"] == 91.479
        assert "esiid" not in daily and body["corrId"]

        body = client.get(f"/api/v1/esiids/{ESIID}/reconciliation?start=2025-11-01T00:00&end=2025-11-04",
                          headers=headers).json()
        assert body["counts"] == {"match": 3, "mismatch": 0, "insufficient_intervals": 1}  # the 10/05-11/04 read
        assert {r["last_day"]: r["status"] for r in body["reads"] if r["source"] == "smt_daily_csv"} == {
            "2025-11-01": "match", "2025-11-02": "match", "2025-11-03": "match"}

        assert client.get("/api/v1/esiids/10443720009990999/billing-reads", headers=headers).status_code == 404
        bad = client.get(f"/api/v1/esiids/{ESIID}/reconciliation?start=2025-11-05&end=2025-11-01", headers=headers)
        assert bad.status_code == 422 and "end" in bad.json()["error"]["message"]
        assert client.get(f"/api/v1/esiids/{ESIID}/billing-reads").status_code == 401
    engine.dispose()


def test_the_reconciliation_check_covers_reads_that_only_overlap_the_runs_days(settings, instance):
    """A monthly read ending after the delivered intervals is reconciled again by their run: checked too."""
    from intelliwatt_pipelines.defs.definitions import build_defs
    from intelliwatt_pipelines_tests.test_dagster import check_results, run_ingest, sensor_tick

    defs = build_defs(settings)
    (settings.inbox_dir / "energydata_response.json").write_text(json.dumps(MONTHLY))
    tick = sensor_tick(defs, instance)
    assert run_ingest(defs, instance, tick.run_requests[0]).success
    lines = (DATA / FALLBACK).read_text().splitlines(keepends=True)
    first_day = [lines[0]] + [line for line in lines[1:] if ",11/1/2025," in line]  # 11/01 only
    (settings.inbox_dir / FALLBACK).write_text("".join(first_day))
    result = run_ingest(defs, instance, sensor_tick(defs, instance, cursor=tick.cursor).run_requests[0])
    assert result.success
    check = check_results(result)["billing_reconciliation_mismatches"]
    assert check.metadata["reads_checked"].value == 1  # the 10/05-11/04 read, which ends after 11/01
