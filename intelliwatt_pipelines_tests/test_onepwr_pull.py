"""koios_history_job and thundercloud_snapshot_job through a real Dagster execution against
httpx.MockTransport (Koios and ThunderCloud cannot run here; bodies shaped as vendor-apis.md §3.1 2-4 gives
them), on a temporary SQLite warehouse and a local raw store: every answer a raw file with its exact bytes,
a 429 stopping only its organization (outcome rate_limited), history files taken once, and no secret in the
run's events. Rows are asserted when the 1PWR parsers are wired into the normalize path; the history files are
real parquet (pyarrow), in the two layouts sources.thundercloud_parquet reads, and their rows land. An error
answer is kind onepwr_api_error, failed with its status, whatever its body looks like."""

import datetime as dt
import io
import json

import dagster as dg
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from intelliwatt_pipelines.cdm.fields.usage import ONEPWR_API_ERROR_KIND
from intelliwatt_pipelines.cdm.tables import raw_file, register_read, usage_interval, vendor_request_count
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.defs.onepwr import (
    KoiosResource,
    ThunderCloudResource,
    build_koios_schedule,
    build_onepwr_defs,
    build_thundercloud_schedule,
    koios_history_job,
    thundercloud_snapshot_job,
)
from intelliwatt_pipelines.defs.resources import IngestRulesResource, RawStoreResource, WarehouseResource
from intelliwatt_pipelines.ingest.onepwr_pull import koios_window, org_sites
from intelliwatt_pipelines.sources import ParseError, parse_usage_file
from intelliwatt_pipelines.vendors.thundercloud.client import history_names

LS, BN = "1cddcb07-5a4e-4c1b-9d1e-6b0a2f7c9e01", "0123589c-7d2b-4f3a-8c6e-1e9b5a4d3c02"
KET, LSB = "5b7f0c1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "6c8e1d2f-3d4e-4f60-9b0c-1d2e3f4a5b6c"
GBO, SAM = "7d9f2e30-4e5f-4071-8c1d-2e3f4a5b6c7d", "8e0a3f41-5f60-4182-9d2e-3f4a5b6c7d8e"
KEY, SECRET, TOKEN = "koios-key-8f2a91", "koios-secret-77c0de", "tc-token-4b19e2"
DAY = "2026-02-17"


def koios_page(site: str, hours: range, cursor: str | None, has_more: bool) -> bytes:
    """A Koios historical page: two meters' hourly kWh (customer codes of the site, as 1PWR writes them)."""
    code = {KET: "KET", LSB: "LSB", GBO: "GBO", SAM: "SAM"}[site]
    data = [{"kilowatt_hours": round(0.05 + 0.01 * h + 0.1 * m, 3), "timestamp": f"{DAY}T{h:02d}:00:00Z",
             "meter": {"serial_number": f"SMRSD-03-0002E04{m}", "customer": {"code": f"000{5 + m}{code}"}}}
            for h in hours for m in range(2)]
    return json.dumps({"data": data, "pagination": {"cursor": cursor, "has_more": has_more}}).encode()


TOO_MANY = b'{"detail":"Request was throttled. Expected available in 5 seconds."}'


class FakeKoios:
    """KET: two pages (cursor c1); LSB: one page; GBO (the BN organization): 429. Records every request."""

    def __init__(self):
        self.sent, self.served = [], []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        site, cursor = body["filters"]["sites"][0], body.get("cursor")
        self.sent.append({"path": request.url.path, "site": site, "cursor": cursor, "body": body,
                          "key": request.headers.get("x-api-key"), "secret": request.headers.get("x-api-secret")})
        if site == GBO:
            response = httpx.Response(429, content=TOO_MANY, headers={"Retry-After": "5"})
        elif site == KET and cursor is None:
            response = httpx.Response(200, content=koios_page(KET, range(0, 12), "c1", True))
        elif site == KET:
            response = httpx.Response(200, content=koios_page(KET, range(12, 24), None, False))
        else:
            response = httpx.Response(200, content=koios_page(site, range(0, 24), None, False))
        self.served.append(response.content)
        return response


FAKES: dict[str, object] = {}


class MockedKoios(KoiosResource):
    """The production resource with its client on the test's transport (nothing else changes)."""

    def client(self, transport=None):
        return super().client(httpx.MockTransport(FAKES["koios"]))


class MockedThunderCloud(ThunderCloudResource):
    def client(self, http=None):
        return super().client(httpx.Client(transport=httpx.MockTransport(FAKES["thundercloud"])))


def common(warehouse_url, tmp_path) -> dict:
    return {"warehouse": WarehouseResource(url=warehouse_url), "raw_store": RawStoreResource(url=str(tmp_path / "raw")),
            "rules": IngestRulesResource(reading_floor="2020-01-01")}


def run(job, resources: dict, instance, config: dict | None = None):
    result = job.execute_in_process(run_config=config or {}, resources=resources, instance=instance,
                                    raise_on_error=False)
    return result, [serialize_value(r) for r in instance.all_logs(result.run_id)]


def metadata(result) -> dict:
    events = [e for e in result.all_node_events if e.is_successful_output]
    if events:
        return {k: v.value for k, v in events[0].event_specific_data.metadata.items()}
    (failure,) = [e for e in result.all_node_events if e.is_step_failure]
    return {k: v.value for k, v in failure.step_failure_data.user_failure_data.metadata.items()}


def rows(warehouse_url, table, *where):
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(table).where(*where).order_by(*table.primary_key.columns)).all()
    finally:
        engine.dispose()


def parsers_wired(data: bytes, filename: str) -> bool:
    """Whether the normalize path parses this answer yet (its parser is written alongside)."""
    try:
        parse_usage_file(data, filename)
    except ParseError:
        return False
    return True


@pytest.fixture
def lesotho(monkeypatch):
    monkeypatch.setenv("INTELLIWATT_MARKET", "lesotho")  # 1PWR account numbers are service points there
    monkeypatch.setenv("INTELLIWATT_KOIOS_API_KEY", KEY)
    monkeypatch.setenv("INTELLIWATT_KOIOS_API_SECRET", SECRET)
    monkeypatch.setenv("INTELLIWATT_THUNDERCLOUD_TOKEN", TOKEN)


def koios_resources(warehouse_url, tmp_path, daily_budget: int = 30_000) -> dict:
    # Key and secret as EnvVars, as onepwr_resources builds them from the settings.
    koios = MockedKoios(enabled=True, api_key=dg.EnvVar("INTELLIWATT_KOIOS_API_KEY"),
                        api_secret=dg.EnvVar("INTELLIWATT_KOIOS_API_SECRET"), org_id=LS,
                        site_ids=[KET, LSB, f"{BN}:{GBO}", f"{BN}:{SAM}"], daily_budget=daily_budget)
    return {"koios": koios, **common(warehouse_url, tmp_path)}


KOIOS_CONFIG = {"ops": {"koios_history_pulled": {"config": {"first": DAY, "last": DAY}}}}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_koios_pages_are_raw_files_and_a_429_stops_only_its_organization(warehouse_url, tmp_path, instance,
                                                                         lesotho):
    FAKES["koios"] = fake = FakeKoios()
    result, events = run(koios_history_job, koios_resources(warehouse_url, tmp_path), instance, KOIOS_CONFIG)
    # KET twice (cursor followed), LSB once, GBO once (429: no retry); SAM, BN's next site, never asked.
    assert [(s["site"], s["cursor"]) for s in fake.sent] == [(KET, None), (KET, "c1"), (LSB, None), (GBO, None)]
    assert all(s["path"] == f"/api/v2/organizations/{LS if s['site'] != GBO else BN}/data/historical" for s in fake.sent)
    assert {(s["key"], s["secret"]) for s in fake.sent} == {(KEY, SECRET)}
    assert fake.sent[0]["body"]["filters"]["date_range"] == {"from": DAY, "to": DAY}

    files = rows(warehouse_url, raw_file)
    assert [f.filename for f in files] == [
        f"koios_{KET}_{DAY}_{DAY}_p1.json", f"koios_{KET}_{DAY}_{DAY}_p2.json", f"koios_{LSB}_{DAY}_{DAY}_p1.json",
        f"koios_{GBO}_{DAY}_{DAY}_p1_http429.json"]
    store = RawStoreResource(url=str(tmp_path / "raw")).store()
    assert [store.get(f.sha256) for f in files] == fake.served  # verbatim, the 429's body too
    assert {f.source for f in files} == {"koios"}

    meta = metadata(result)
    assert meta["outcomes"] == {LS: "done", BN: "rate_limited"}
    assert meta["orgs"][BN]["sites"] == {GBO: "rate_limited", SAM: "skipped"}
    assert (meta["orgs"][LS]["pages"], meta["orgs"][LS]["rows"]) == (3, 96)
    assert (meta["raw_files"], meta["new_raw_files"]) == (4, 4)
    assert f"Koios org {BN}: rate_limited" in "".join(events)
    assert not any(KEY in e or SECRET in e or "0005KET" in e for e in events)  # no secret, no account number

    assert parsers_wired(fake.served[0], files[0].filename)
    assert result.success, result.all_node_events
    intervals = rows(warehouse_url, usage_interval, usage_interval.c.source == "koios")
    assert len(intervals) == 96 and {i.interval_minutes for i in intervals} == {60}
    assert {i.raw_file_id for i in intervals} == {f.id for f in files[:3]}
    assert [f.status for f in files] == ["normalized"] * 3 + ["failed"]  # a 429 is kept, not parsed
    assert meta["rows_written"] == 96

    # The 429's JSON body would pass for an SMT file; it is an error answer, its status in `error`.
    assert (files[3].kind, files[3].status, files[3].error) == (ONEPWR_API_ERROR_KIND, "failed", "HTTP 429 from Koios")
    assert {f.kind for f in files[:3]} == {"koios_historical_json"}

    FAKES["koios"] = FakeKoios()
    again, _ = run(koios_history_job, koios_resources(warehouse_url, tmp_path), instance, KOIOS_CONFIG)
    assert len(rows(warehouse_url, raw_file)) == 4 and metadata(again)["new_raw_files"] == 0


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_the_daily_budget_holds_over_every_run_of_the_day(warehouse_url, tmp_path, instance, lesotho):
    resources = koios_resources(warehouse_url, tmp_path, daily_budget=3)
    FAKES["koios"] = FakeKoios()
    first, _ = run(koios_history_job, resources, instance, KOIOS_CONFIG)
    assert metadata(first)["outcomes"] == {LS: "done", BN: "rate_limited"}  # LS: 3 requests, BN: 1
    FAKES["koios"] = fake = FakeKoios()
    second, _ = run(koios_history_job, resources, instance, KOIOS_CONFIG)
    # the same UTC day: LS has spent its 3, so nothing is asked for it; BN has 2 left and asks again
    assert metadata(second)["outcomes"] == {LS: "budget_exhausted", BN: "rate_limited"}
    assert [s["site"] for s in fake.sent] == [GBO]
    today = dt.datetime.now(dt.timezone.utc).date()
    assert {(r.organization, r.utc_day, r.requests) for r in rows(warehouse_url, vendor_request_count)} == {
        (LS, today, 3), (BN, today, 2)}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_koios_error_answers_fail_the_run_after_every_organization(warehouse_url, tmp_path, instance, lesotho):
    class Unauthorized(FakeKoios):
        def __call__(self, request):
            if json.loads(request.content)["filters"]["sites"][0] == KET:
                self.sent.append(request)
                return httpx.Response(401, json={"detail": "Invalid API key"})
            return super().__call__(request)

    FAKES["koios"] = fake = Unauthorized()
    result, events = run(koios_history_job, koios_resources(warehouse_url, tmp_path), instance, KOIOS_CONFIG)
    assert not result.success and len(fake.sent) == 3  # KET 401, LSB still asked, GBO 429
    (failure,) = [e for e in result.all_node_events if e.is_step_failure]
    assert f"{LS} site {KET}: http_401" in failure.step_failure_data.error.message
    assert metadata(result)["outcomes"] == {LS: "http_401", BN: "rate_limited"}
    (unauthorized,) = [f for f in rows(warehouse_url, raw_file) if f.filename == f"koios_{KET}_{DAY}_{DAY}_p1_http401.json"]
    assert (unauthorized.kind, unauthorized.status, unauthorized.error) == (ONEPWR_API_ERROR_KIND, "failed",
                                                                            "HTTP 401 from Koios")
    assert not any(KEY in e or SECRET in e for e in events)


TC_SNAPSHOT = json.dumps({"customers": [
    {"code": "0005MAK", "credit_balance": 12.5, "debt_balance": 0.0,
     "meters": [{"serial": "SMRSD-03-0002E040", "current_daily_energy": 1.2, "total_cycle_energy": 1534.27,
                 "last_energy": 0.05, "last_energy_datetime": "2026-02-17T10:00:00",
                 "latest_reading": {"kilowatt_hours": 0.05, "avg_true_power": 0.2, "avg_voltage": 229.8, "cost": 0.4,
                                    "timestamp": "2026-02-17T10:00:00"}}]},
    {"code": "0006MAK", "credit_balance": 0.0, "debt_balance": 3.1,
     "meters": [{"serial": "SMRSD-03-0002E041", "current_daily_energy": 0.0, "total_cycle_energy": 88.01,
                 "last_energy": 0.0, "last_energy_datetime": "2026-02-17T09:45:00",
                 "latest_reading": {"kilowatt_hours": 0.0, "avg_true_power": 0.0, "avg_voltage": 231.0, "cost": 0.0,
                                    "timestamp": "2026-02-17T09:45:00"}}]}]}).encode()
HISTORY_LIST = json.dumps(["2026-02-15.parquet", "2026-02-16.parquet", "../../etc/passwd"]).encode()


def parquet(columns: dict) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


# ThunderCloud's history columns are undocumented: one file per layout sources.thundercloud_parquet accepts.
# 15 Feb: a quarter-hour's interval kWh of 0005MAK (naive times: UTC); 16 Feb: registers of 0007MAK's meter.
QUARTERS = [dt.datetime(2026, 2, 15, 10, 0) + dt.timedelta(minutes=15 * i) for i in range(4)]
REGISTER_TIMES = [dt.datetime(2026, 2, 16, 10, 0) + dt.timedelta(minutes=15 * i) for i in range(3)]
PARQUET = {
    "2026-02-15.parquet": parquet({"serial": ["SMRSD-03-0002E040"] * 4, "customer_code": ["0005MAK"] * 4,
                                   "timestamp": QUARTERS, "kilowatt_hours": [0.05, 0.06, 0.07, 0.08]}),
    "2026-02-16.parquet": parquet({"serial": ["SMRSD-03-0002E042"] * 3, "customer_code": ["0007MAK"] * 3,
                                   "timestamp": REGISTER_TIMES, "total_cycle_energy": [5.0, 5.1, 5.25]}),
}


class FakeThunderCloud:
    def __init__(self, customers: httpx.Response | None = None):
        self.sent, self.customers = [], customers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.url.path, dict(request.url.params), request.headers.get("authentication-token")))
        if request.url.path == "/api/v0/customers":
            return self.customers or httpx.Response(200, content=TC_SNAPSHOT)
        if request.url.path == "/history/list.json":
            return httpx.Response(200, content=HISTORY_LIST)
        return httpx.Response(200, content=PARQUET[request.url.path.rsplit("/", 1)[1]])


def tc_resources(warehouse_url, tmp_path) -> dict:
    tc = MockedThunderCloud(enabled=True, base_url="https://tc-mak.example.org",
                            token=dg.EnvVar("INTELLIWATT_THUNDERCLOUD_TOKEN"))
    return {"thundercloud": tc, **common(warehouse_url, tmp_path)}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_thundercloud_snapshot_and_its_history_files_are_raw_files(warehouse_url, tmp_path, instance, lesotho):
    FAKES["thundercloud"] = fake = FakeThunderCloud()
    result, events = run(thundercloud_snapshot_job, tc_resources(warehouse_url, tmp_path), instance)
    assert [path for path, _, _ in fake.sent] == ["/api/v0/customers", "/history/list.json",
                                                  "/history/download/2026-02-15.parquet",
                                                  "/history/download/2026-02-16.parquet"]  # never ../../etc
    assert fake.sent[0][1] == {"customers_only": "true", "reading_details": "true"}
    assert {token for _, _, token in fake.sent} == {TOKEN}

    files = rows(warehouse_url, raw_file)
    store = RawStoreResource(url=str(tmp_path / "raw")).store()
    snapshot, listing, *history = files
    assert snapshot.filename.startswith("thundercloud_customers_") and store.get(snapshot.sha256) == TC_SNAPSHOT
    assert listing.filename.startswith("thundercloud_history_list_") and store.get(listing.sha256) == HISTORY_LIST
    assert [(f.filename, store.get(f.sha256)) for f in history] == [
        (f"thundercloud_history_{name}", data) for name, data in PARQUET.items()]
    assert {f.source for f in files} == {"thundercloud"}
    assert listing.status == "received"  # the list: stored raw, not parsed
    assert [(f.kind, f.status) for f in history] == [("thundercloud_history_parquet", "normalized")] * 2
    # the interval file's quarter-hours land as they are; the register file's reads, and the energy between them
    by_file = {f.filename: f.id for f in history}
    intervals = rows(warehouse_url, usage_interval, usage_interval.c.raw_file_id == by_file[
        "thundercloud_history_2026-02-15.parquet"])
    assert [(i.esiid, i.meter, i.interval_minutes, i.kwh, i.quality, i.source) for i in intervals] == [
        ("0005MAK", "SMRSD-03-0002E040", 15, kwh, "actual", "thundercloud") for kwh in (0.05, 0.06, 0.07, 0.08)]
    assert [i.ts_utc.replace(tzinfo=None) for i in intervals] == QUARTERS
    reads = rows(warehouse_url, register_read, register_read.c.meter == "SMRSD-03-0002E042")
    assert [(r.esiid, r.register_kwh, r.source, r.raw_file_id) for r in reads] == [
        ("0007MAK", kwh, "thundercloud", by_file["thundercloud_history_2026-02-16.parquet"]) for kwh in (5.0, 5.1, 5.25)]
    derived = rows(warehouse_url, usage_interval, usage_interval.c.meter == "SMRSD-03-0002E042",
                   usage_interval.c.quality != "filled")
    assert [i.kwh for i in derived] == pytest.approx([0.1, 0.15]) and {i.source for i in derived} == {"thundercloud"}
    meta = metadata(result)
    assert (meta["snapshot_raw_file_id"], meta["history_listed"], meta["history_downloaded"]) == (snapshot.id, 2, 2)
    assert not any(TOKEN in e or "0005MAK" in e for e in events)
    # every parser is wired: the snapshot and both history files are normalized
    assert result.success, result.all_node_events
    assert snapshot.status == "normalized" and meta["normalized_files"] == 3 and meta["normalize_failures"] == 0
    reads = rows(warehouse_url, register_read, register_read.c.raw_file_id == snapshot.id)
    assert sorted((r.meter, r.register_kwh, r.raw_file_id) for r in reads) == [
        ("SMRSD-03-0002E040", 1534.27, snapshot.id), ("SMRSD-03-0002E041", 88.01, snapshot.id)]

    FAKES["thundercloud"] = fake = FakeThunderCloud()
    again, _ = run(thundercloud_snapshot_job, tc_resources(warehouse_url, tmp_path), instance)
    assert [path for path, _, _ in fake.sent] == ["/api/v0/customers", "/history/list.json"]  # nothing new to take
    assert len(rows(warehouse_url, raw_file)) == 4 and metadata(again)["history_downloaded"] == 0


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_thundercloud_error_is_kept_and_fails_the_run(warehouse_url, tmp_path, instance, lesotho):
    unauthorized = b'{"error": "invalid authentication token"}'
    FAKES["thundercloud"] = FakeThunderCloud(customers=httpx.Response(401, content=unauthorized))
    result, events = run(thundercloud_snapshot_job, tc_resources(warehouse_url, tmp_path), instance,
                         {"ops": {"thundercloud_snapshot_pulled": {"config": {"history": False}}}})
    assert not result.success
    (file,) = rows(warehouse_url, raw_file)
    assert file.filename.endswith("_http401.json") and (file.kind, file.status) == (ONEPWR_API_ERROR_KIND, "failed")
    assert file.error == "HTTP 401 from ThunderCloud"
    assert RawStoreResource(url=str(tmp_path / "raw")).store().get(file.sha256) == unauthorized
    (failure,) = [e for e in result.all_node_events if e.is_step_failure]
    assert "HTTP 401" in failure.step_failure_data.error.message and not any(TOKEN in e for e in events)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_with_the_flags_off_the_jobs_fail_naming_the_flag(warehouse_url, tmp_path, instance):
    defs = build_onepwr_defs(Settings.from_env())
    resources = {**defs["resources"], **common(warehouse_url, tmp_path)}
    koios, _ = run(koios_history_job, resources, instance)
    tc, _ = run(thundercloud_snapshot_job, resources, instance)
    for result, flag in ((koios, "INTELLIWATT_FLAG_KOIOS"), (tc, "INTELLIWATT_FLAG_THUNDERCLOUD")):
        (failure,) = [e for e in result.all_node_events if e.is_step_failure]
        assert flag in failure.step_failure_data.error.message


def test_the_15_minute_schedule_runs_only_with_its_flag(instance):
    settings = Settings.from_env()
    off = build_thundercloud_schedule(settings)
    on = build_thundercloud_schedule(Settings(**{**vars(settings), "flag_thundercloud": True}))
    assert off.cron_schedule == "*/15 * * * *" and off.default_status == dg.DefaultScheduleStatus.STOPPED
    assert on.default_status == dg.DefaultScheduleStatus.RUNNING
    at = dt.datetime(2026, 2, 17, 10, 15, tzinfo=dt.timezone.utc)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
    assert isinstance(off.evaluate_tick(context).skip_message, str)
    (request,) = on.evaluate_tick(context).run_requests
    assert request.run_key == f"thundercloud_snapshot_schedule:{at.isoformat()}"


def test_the_daily_koios_schedule_runs_only_with_its_flag_and_names_yesterday_and_today(instance):
    settings = Settings.from_env()
    off = build_koios_schedule(settings)
    on = build_koios_schedule(Settings(**{**vars(settings), "flag_koios": True}))
    assert off.cron_schedule == "0 6 * * *" and off.execution_timezone == "UTC"
    assert off.default_status == dg.DefaultScheduleStatus.STOPPED and on.default_status == dg.DefaultScheduleStatus.RUNNING
    assert off.job_name == on.job_name == koios_history_job.name
    at = dt.datetime(2026, 2, 18, 6, 0, tzinfo=dt.timezone.utc)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at)
    assert "INTELLIWATT_FLAG_KOIOS" in off.evaluate_tick(context).skip_message
    (request,) = on.evaluate_tick(context).run_requests
    assert request.run_key == "koios_history_schedule:2026-02-18"
    assert request.run_config == {"ops": {"koios_history_pulled": {"config": {"first": "2026-02-17",
                                                                              "last": "2026-02-18"}}}}
    # the run config is one the job takes, and both schedules are among the 1PWR definitions
    dg.validate_run_config(koios_history_job, request.run_config)
    names = {schedule.name for schedule in build_onepwr_defs(settings)["schedules"]}
    assert names == {"koios_history_schedule", "thundercloud_snapshot_schedule"}


def test_sites_history_names_and_the_default_window():
    assert org_sites(LS, [KET, f"{BN}:{GBO}", KET]) == [(LS, KET), (BN, GBO)]
    with pytest.raises(ValueError, match="names no organization"):
        org_sites("", [KET])
    assert koios_window("", "", dt.date(2026, 2, 18)) == (dt.date(2026, 2, 17), dt.date(2026, 2, 18))
    with pytest.raises(ValueError, match="at most 31"):
        koios_window("2026-01-01", "2026-03-01", dt.date(2026, 3, 2))
    assert history_names(b'{"files": [{"filename": "b.parquet"}, {"name": "a.parquet"}, {"x": 1}, "..x"]}') == [
        "a.parquet", "b.parquet"]
