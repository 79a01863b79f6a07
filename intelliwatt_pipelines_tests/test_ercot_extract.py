"""ERCOT TDSP ESIID extracts (vendor-apis.md §2.6): parsing both layouts, applying full and daily files into
service_point (exact final table, idempotent, any order), bad rows and files, the MIS client against the
recorded document list, the Dagster job, and bounded memory on a 1M-row full file."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import subprocess
import sys
import zoneinfo
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import service_points as sp
from intelliwatt_pipelines.cdm.raw_files import register
from intelliwatt_pipelines.cdm.tables import ercot_extract_file, raw_file, service_point
from intelliwatt_pipelines.defs.ercot import ErcotResource, build_ercot_defs
from intelliwatt_pipelines.defs.resources import RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ercot_samples import constructed_name, extract_row, extract_rows, write_extract_zip
from intelliwatt_pipelines.ingest import ercot as ingest
from intelliwatt_pipelines.sources import ercot_extract as ex
from intelliwatt_pipelines.vendors.ercot.client import ErcotConfig, ErcotMisClient
from intelliwatt_pipelines_tests.conftest import _admin_engine

ROOT = Path(__file__).resolve().parent.parent
DOCLIST = Path(__file__).parent / "data" / "vendor" / "ercot" / "doclist.json"
CT = zoneinfo.ZoneInfo("America/Chicago")
NOW = dt.datetime(2026, 6, 10, 12, tzinfo=dt.timezone.utc)
LATER = dt.datetime(2026, 6, 11, 12, tzinfo=dt.timezone.utc)
SAMPLE = ('"1008901023817895470106","206 BOXWOOD DR","APT 2","BAYTOWN","TX","77520","CHAMBERS","957877905","19",'
          '"Active","Small Non-Residential","ERCOT","_CD","CEDAR BAYOU OLD","Y","06/01/2026,Move In",'
          '"Small Non-Residential","Y","AMSM","N","M04","FIREWORKS STAND"')
EMPTY_OPTIONAL = ('"1008901023817895470106","206 BOXWOOD DR",,"BAYTOWN","TX","77520",,"957877905","19","Active",'
                  '"Residential","ERCOT","_CD","CEDAR BAYOU OLD","N",,"Residential","N",,"N",,')


def parsed(line: str) -> dict:
    (chunk,) = ex.read_chunks(io.BytesIO(line.encode() + b"\r\n"))
    assert not chunk.errors
    return dict(zip(ex.RECORD_COLUMNS, chunk.records[0], strict=True))


def test_the_ossrep_sample_row_and_its_empty_optional_variant():
    row = parsed(SAMPLE)
    assert row["open_service_orders"] == "06/01/2026,Move In" and row["metered"] is True
    assert (row["tdsp_code"], row["zip5"], row["zip4"], row["county"], row["norm_line1"]) == (
        "CENTERPOINT", "77520", None, "CHAMBERS", "206 BOXWOOD DR")
    empty = parsed(EMPTY_OPTIONAL)
    assert empty["metered"] is False
    assert [empty[c] for c in ("address_overflow", "county", "open_service_orders", "tdsp_ams_indicator",
                               "metered_service_type", "metered_service_type_desc")] == [None] * 6


def test_names_tokens_and_columns_agree_with_the_tables():
    assert ex.parse_friendly_name("ONCOR_ELEC___DAILY") == ("ONCOR_ELEC", "DAILY")
    assert ex.parse_friendly_name("ext.00000203.0000000000000000.20260603.055219302.CENTERPOINT__FUL.zip") == (
        "CENTERPOINT", "FUL")
    with pytest.raises(ValueError):
        ex.parse_friendly_name("SOMETHING_ELSE.zip")
    assert ex.RECORD_COLUMNS == sp.INCOMING_COLUMNS
    from intelliwatt_pipelines.cdm.fields.reference import TDSP_CODES
    assert set(ex.TDSP_TOKENS.values()) == set(TDSP_CODES)
    for column, limit in ex.MAX_LENGTHS.items():
        assert service_point.c[column].type.length == limit


def test_a_zip4_an_18_column_row_and_bad_rows():
    row = extract_row(7, random.Random(1))
    row[5] = "775201234"
    short = [v for i, v in enumerate(row) if i not in (2, 6, 20, 21)]
    text = "\r\n".join([",".join(f'"{v}"' if v else "" for v in r) for r in
                        (row, short, row[:20], ["123", *row[1:]])]) + "\r\n"
    (chunk,) = ex.read_chunks(io.BytesIO(text.encode()), tdsp_code="CENTERPOINT")
    first, second = (dict(zip(ex.RECORD_COLUMNS, r, strict=True)) for r in chunk.records)
    assert (first["zip5"], first["zip4"]) == ("77520", "1234") and second["county"] is None
    assert [(e.line, e.reason) for e in chunk.errors] == [
        (3, "expected 22 or 18 columns, saw 20"), (4, "invalid ESIID (17 or 22 digits expected)")]


def test_a_file_of_an_unknown_layout_is_refused_whole():
    with pytest.raises(ex.LayoutError, match=r"expected 22 or 18 columns, saw 3: \['esiid#"):
        list(ex.read_chunks(io.BytesIO(b'"1008901023817895470106","a","b"\r\n' * 3)))


# --- applying files -------------------------------------------------------------------------------------

P = {k: dt.datetime(2026, 6, d, 5, 52, 19, tzinfo=CT) for k, d in (("ful", 1), ("d1", 2), ("d2", 3), ("d3", 4))}


def scenario() -> dict[str, tuple[int, list[list]]]:
    """A full file of 10 premises, then three dailies: adds, changes and a retirement (Inactive)."""
    base = list(extract_rows(12, seed=3))
    for row in base:
        row[9] = "Active"
    ful = base[:10]
    d1 = [base[10], base[11], [*base[2][:9], "De-Energized", *base[2][10:]]]
    d2 = [[base[3][0], "77 NORTH LAMAR BOULEVARD", *base[3][2:]], [*base[4][:9], "Inactive", *base[4][10:]]]
    d3 = [[*base[2][:9], "Active", *base[2][10:]], [*base[10][:3], "KATY", *base[10][4:]]]
    return {"ful": (22, ful), "d1": (18, d1), "d2": (22, d2), "d3": (22, d3)}


def drop(folder: Path, key: str, layout: int, rows: list) -> Path:
    kind = "FUL" if key == "ful" else "DAILY"
    path = folder / constructed_name("CENTERPOINT", kind, P[key].replace(tzinfo=None))
    write_extract_zip(path, rows, layout=layout, member_name=f"CENTERPOINT_{kind}_{key}.csv")
    return path


def expected_table(engine) -> list[tuple]:
    """The final table by the rules, from the parser's records: the latest file listing an ESIID wins."""
    with engine.connect() as conn:
        docs = {d.publish_date.astimezone(dt.timezone.utc): d for d in conn.execute(sa.select(ercot_extract_file))}
    final = {}
    for key, (layout, rows) in sorted(scenario().items(), key=lambda kv: P[kv[0]]):
        d = docs[P[key].astimezone(dt.timezone.utc)]
        for row in rows:
            shaped = row if layout == 22 else [v for i, v in enumerate(row) if i not in (2, 6, 20, 21)]
            record = ex.parse_row(shaped, "CENTERPOINT")
            retired = P[key] if record[11] == "Inactive" else None
            final[record[0]] = (*record, d.doc_id, P[key], d.raw_file_id, retired)
    return sorted(final.values())


def stored_table(engine) -> list[tuple]:
    columns = [*sp.INCOMING_COLUMNS, "source_doc_id", "publish_date", "raw_file_id", "retired_at"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*[service_point.c[c] for c in columns]).order_by(service_point.c.esiid)).all()
    return [tuple(v.astimezone(CT) if isinstance(v, dt.datetime) else v for v in r) for r in rows]


def updated_at(engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(service_point.c.esiid, service_point.c.updated_at)).all())


def test_full_and_daily_files_give_the_exact_table_and_reapplying_changes_nothing(engine, store, tmp_path):
    for key, (layout, rows) in scenario().items():
        drop(tmp_path, key, layout, rows)
    taken = ingest.take_local(engine, store, tmp_path, now=NOW)
    assert taken.new == {"CENTERPOINT": 4}
    outcomes = ingest.apply_pending(engine, store, now=NOW)
    assert [(o.kind, o.status, o.rows_read, o.rows_applied, o.rows_invalid) for o in outcomes] == [
        ("FUL", "applied", 10, 10, 0), ("DAILY", "applied", 3, 3, 0), ("DAILY", "applied", 2, 2, 0),
        ("DAILY", "applied", 2, 2, 0)]
    assert stored_table(engine) == expected_table(engine)
    before = updated_at(engine)
    with engine.connect() as conn:
        docs = conn.execute(sa.select(ercot_extract_file)).all()
    again = [ingest.apply_document(engine, store, d, now=LATER) for d in docs]
    assert [o.rows_applied for o in again] == [0, 0, 0, 0]
    assert updated_at(engine) == before and stored_table(engine) == expected_table(engine)
    assert ingest.take_local(engine, store, tmp_path, now=LATER).new == {}
    assert ingest.apply_pending(engine, store, now=LATER) == []


def test_files_arriving_in_reverse_order_give_the_same_table(engine, store, tmp_path):
    for key, (layout, rows) in sorted(scenario().items(), key=lambda kv: P[kv[0]], reverse=True):
        folder = tmp_path / key
        folder.mkdir()
        drop(folder, key, layout, rows)
        ingest.take_local(engine, store, folder, now=NOW)
        assert [o.status for o in ingest.apply_pending(engine, store, now=NOW)] == ["applied"]
    assert stored_table(engine) == expected_table(engine)
    retired = {r[0] for r in stored_table(engine) if r[-1] is not None}
    assert len(retired) == 1


def test_a_later_full_file_retires_what_it_no_longer_lists(engine):
    rows = list(extract_rows(3, seed=5))
    records = [ex.parse_row(r, "CENTERPOINT") for r in rows]
    with engine.begin() as conn:
        raw_id = register(conn, sha="0" * 64, size=1, uri="x", filename="x.zip", source="ercot",
                          kind="zip_package").raw_file_id
        assert sp.apply_rows(conn, records, doc_id="1", publish_date=P["ful"], raw_file_id=raw_id, now=NOW) == 3
        assert sp.apply_rows(conn, records[:2], doc_id="2", publish_date=P["d3"], raw_file_id=raw_id, now=NOW) == 2
        assert sp.retire_absent(conn, tdsp_code="CENTERPOINT", full_doc_id="2", publish_date=P["d3"], now=NOW) == 1
        # an older file listing it again does not bring it back
        assert sp.apply_rows(conn, records, doc_id="3", publish_date=P["d2"], raw_file_id=raw_id, now=NOW) == 0
    assert [r[-1] for r in stored_table(engine)] == [None, None, P["d3"]]


def test_a_bad_row_is_refused_by_line_and_a_wrong_layout_file_fails_alone(engine, store, tmp_path):
    rows = list(extract_rows(4, seed=9))
    drop(tmp_path, "d1", 22, [rows[0], rows[1][:20], rows[2]])
    drop(tmp_path, "d2", 22, [r[:20] for r in rows])
    ingest.take_local(engine, store, tmp_path, now=NOW)
    good, bad = ingest.apply_pending(engine, store, now=NOW)
    assert (good.status, good.rows_read, good.rows_applied, good.rows_invalid) == ("applied", 3, 2, 1)
    assert good.error == "1 row(s) refused: line 2: expected 22 or 18 columns, saw 20"
    assert bad.status == "failed" and "expected 22 or 18 columns, saw 20" in bad.error
    with engine.connect() as conn:
        row = conn.execute(sa.select(ercot_extract_file).where(ercot_extract_file.c.doc_id == bad.doc_id)).one()
        raw = conn.execute(sa.select(raw_file).where(raw_file.c.id == row.raw_file_id)).one()
    assert row.status == "failed" and store.exists(raw.sha256) and raw.source == "ercot"


# --- ERCOT MIS ------------------------------------------------------------------------------------------

BASE = "https://mis.test"


class Recorder:
    def __init__(self):
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url}")
        if request.url.path.endswith("IceDocListJsonWS"):
            return httpx.Response(200, content=DOCLIST.read_bytes())
        out = io.BytesIO()
        write_extract_zip(out, extract_rows(2, seed=int(request.url.params["doclookupId"]) % 100),
                          member_name="x_DAILY.csv")
        return httpx.Response(200, content=out.getvalue())


def mis_client(recorder: Recorder) -> ErcotMisClient:
    return ErcotMisClient(ErcotConfig(base_url=BASE), httpx.Client(transport=httpx.MockTransport(recorder)),
                          sleep=lambda s: None)


def test_the_recorded_document_list_is_taken_once(engine, store):
    recorder = Recorder()
    taken = ingest.take_mis(engine, store, mis_client(recorder), now=NOW)
    assert taken.new == {"LUBBOCK": 1, "CENTERPOINT": 1, "ONCOR_ELEC": 1}
    assert recorder.requests == [f"GET {BASE}/misapp/servlets/IceDocListJsonWS?reportTypeId=203"] + [
        f"GET {BASE}/misdownload/servlets/mirDownload?doclookupId={i}" for i in (1234254362, 1234254361, 1234254360)]
    with engine.connect() as conn:
        docs = conn.execute(sa.select(ercot_extract_file).order_by(ercot_extract_file.c.doc_id.desc())).all()
        names = dict(conn.execute(sa.select(raw_file.c.id, raw_file.c.filename)).all())
    assert [(d.tdsp, d.kind, d.status) for d in docs] == [
        ("LUBBOCK", "DAILY", "stored"), ("CENTERPOINT", "DAILY", "stored"), ("ONCOR_ELEC", "DAILY", "stored")]
    assert names[docs[0].raw_file_id] == f"ercot/2026-06-03/{docs[0].constructed_name}"
    again = Recorder()
    assert ingest.take_mis(engine, store, mis_client(again), now=LATER).new == {}
    assert again.requests == [f"GET {BASE}/misapp/servlets/IceDocListJsonWS?reportTypeId=203"]


def test_a_server_error_is_retried():
    answers = iter([httpx.Response(503), httpx.Response(200, content=DOCLIST.read_bytes())])
    client = ErcotMisClient(ErcotConfig(base_url=BASE), httpx.Client(transport=httpx.MockTransport(
        lambda request: next(answers))), sleep=lambda s: None)
    documents, _ = client.list_documents()
    assert [d.doc_id for d in documents] == ["1234254362", "1234254361", "1234254360"]


# --- Dagster --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_ercot_extract_job_applies_the_ercot_folder(settings, instance, engine, tmp_path):
    folder = tmp_path / "ercot"
    folder.mkdir()
    for key, (layout, rows) in scenario().items():
        drop(folder, key, layout, rows)
    parts = build_ercot_defs(settings)
    defs = dg.Definitions(assets=parts["assets"], jobs=parts["jobs"], schedules=parts["schedules"], resources={
        "ercot": ErcotResource(enabled=False, inbox_dir=str(folder)),
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "raw_store": RawStoreResource(url=settings.raw_store_url)})
    result = defs.resolve_job_def("ercot_extract_job").execute_in_process(instance=instance)
    assert result.success
    materialized = {e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata
                    for e in result.get_asset_materialization_events()}
    assert "INTELLIWATT_FLAG_ERCOT is off" in materialized["ercot_extract_files"]["mis"].value
    per_tdsp = materialized["service_points"]["per_tdsp"].value
    assert per_tdsp == {"CENTERPOINT": {"files": 4, "rows_read": 17, "rows_applied": 17, "rows_invalid": 0}}
    assert stored_table(engine) == expected_table(engine)
    schedule = defs.resolve_schedule_def("ercot_extract_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    tick = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert "INTELLIWATT_FLAG_ERCOT" in tick.skip_message


# --- memory ---------------------------------------------------------------------------------------------

# VmHWM, not ru_maxrss: Linux carries the forking process's RSS into a child's ru_maxrss across exec,
# so inside a full-suite worker that has grown, ru_maxrss reported the worker's size, not the load's.
MEMORY_PROBE = """
import datetime as dt, json, sys
from pathlib import Path
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.ingest import ercot
from intelliwatt_pipelines.rawstore import LocalRawStore
engine = create_engine(sys.argv[1]); migrate(engine)
store = LocalRawStore(sys.argv[3]); now = dt.datetime.now(dt.timezone.utc)
ercot.take_local(engine, store, Path(sys.argv[2]), now=now)
outcomes = ercot.apply_pending(engine, store, now=now)
def peak_rss_mib():
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    return int(hwm.split()[1]) / 1024
print(json.dumps({"status": [o.status for o in outcomes], "rows": sum(o.rows_applied for o in outcomes),
                  "peak_rss_mib": peak_rss_mib()}))
"""


def load_peak(postgres_url, tmp_path, rows: int) -> dict:
    """Peak RSS of a fresh process loading a generated full file of ``rows`` rows into an empty warehouse."""
    folder, database = tmp_path / f"ercot{rows}", f"{postgres_url}_{rows}"
    folder.mkdir()
    path = folder / constructed_name("CENTERPOINT", "FUL", dt.datetime(2026, 6, 1, 4))
    write_extract_zip(path, extract_rows(rows, seed=11), member_name="CENTERPOINT_FUL_20260601.csv")
    with _admin_engine().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database.rsplit("/", 1)[1]}"'))
    try:
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, database, str(folder), str(tmp_path / f"raw{rows}")],
                             cwd=ROOT, capture_output=True, text=True, check=True)
    finally:
        with _admin_engine().connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{database.rsplit("/", 1)[1]}" WITH (FORCE)'))
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_million_row_full_file_loads_with_bounded_memory(postgres_url, tmp_path):
    """Memory does not grow with the file: 1M rows peak no more than 100 MiB above 200k rows, and under
    600 MiB (346 MiB measured for 1M, the same when the forking process holds 600 MiB)."""
    small, large = load_peak(postgres_url, tmp_path, 200_000), load_peak(postgres_url, tmp_path, 1_000_000)
    assert large["status"] == ["applied"] and large["rows"] == 1_000_000
    assert large["peak_rss_mib"] - small["peak_rss_mib"] < 100, (small, large)
    assert large["peak_rss_mib"] < 600, large
