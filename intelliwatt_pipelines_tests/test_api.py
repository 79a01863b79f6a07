"""The read API over real warehouses (SQLite and PostgreSQL): exact intervals for any window (DST
days included), completeness, summary, admin views, auth, errors and correlation ids."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import random
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.tables import usage_interval
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.ingest import capture_file, normalize_raw_file
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines_tests.conftest import DATA

API_KEY, ADMIN_TOKEN = "test-consumer-key-7f3a", "test-admin-token-91c2"
CONSUMER, ADMIN = {"x-api-key": API_KEY}, {"x-admin-token": ADMIN_TOKEN}
FALL = "10443720009990001"  # fall-back sample: 2025-11-01..03, one channel
SPRING = "1008901023817895470106"  # spring-forward sample: 2026-03-07..09, two channels
UTC = dt.timezone.utc
CENTRAL = ZoneInfo("America/Chicago")


@pytest.fixture
def api_settings(settings):
    return dataclasses.replace(settings, api_keys=("another-key", API_KEY), admin_token=ADMIN_TOKEN)


@pytest.fixture
def client(api_settings):
    engine = create_engine(api_settings.warehouse_url)
    migrate(engine)
    engine.dispose()
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def ingested(api_settings, client, expected):
    """The SMT samples, captured and normalized as a run would."""
    engine, store = create_engine(api_settings.warehouse_url), LocalRawStore(api_settings.raw_store_url)
    for name in expected:
        captured = capture_file(engine, store, DATA / name, source="test")
        assert normalize_raw_file(engine, store, captured.raw_file_id).status == "normalized"
    yield engine
    engine.dispose()


def stored(engine, esiid, lo=None, hi=None, channel=None) -> list[tuple]:
    u = usage_interval.c
    where = [u.esiid == esiid]
    where += [u.ts_utc >= lo] if lo else []
    where += [u.ts_utc < hi] if hi else []
    where += [u.channel == channel] if channel else []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(u.meter, u.channel, u.ts_utc, u.kwh, u.quality).where(*where)
                            .order_by(u.meter, u.channel, u.ts_utc)).all()
    return [(m, c, ts.astimezone(UTC), kwh, q) for m, c, ts, kwh, q in rows]


def fetch_all(client, esiid, limit=97, **params) -> list[tuple]:
    """Every page of the JSON intervals route, following next_cursor, as rows."""
    out, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/esiids/{esiid}/intervals", params=query, headers=CONSUMER)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == sum(s["count"] for s in body["series"]) <= limit
        for s in body["series"]:
            assert s["count"] == len(s["ts"]) == len(s["kwh"]) == len(s["utc_offset_minutes"]) == len(s["quality"])
            for ts, offset, kwh, quality in zip(s["ts"], s["utc_offset_minutes"], s["kwh"], s["quality"], strict=True):
                instant = dt.datetime.fromisoformat(ts)
                assert ts.endswith("Z") and instant.astimezone(CENTRAL).utcoffset() == dt.timedelta(minutes=offset)
                out.append((s["meter"], s["channel"], instant, kwh, quality))
        cursor, pages = body["next_cursor"], pages + 1
        if not cursor:
            return out
        assert pages < 10_000


def fetch_csv(client, esiid, **params) -> list[tuple]:
    response = client.get(f"/api/v1/esiids/{esiid}/intervals", params=params, headers={**CONSUMER, "Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    for r in rows:  # local time is the same instant, with the offset in force then
        assert dt.datetime.fromisoformat(r["local_time"]) == dt.datetime.fromisoformat(r["ts_utc"])
        local = dt.datetime.fromisoformat(r["ts_utc"]).astimezone(CENTRAL)
        assert r["local_time"] == local.isoformat()
    return [(r["meter"], r["channel"], dt.datetime.fromisoformat(r["ts_utc"]), float(r["kwh"]), r["quality"])
            for r in rows]


def test_intervals_are_exactly_the_stored_rows_for_any_window(client, ingested):
    windows = [  # (esiid, start, end) as a caller would write them
        (FALL, None, None),
        (FALL, "2025-11-02", "2025-11-02"),  # the whole fall-back day (bare dates: local days, end included)
        (FALL, "2025-11-02T01:00", "2025-11-02T01:00-06:00"),  # first 01:00 CDT .. second 01:00 CST
        (FALL, "2025-11-02T01:30-06:00", "2025-11-03T00:15"),  # starts inside the repeated hour
        (FALL, "2025-11-01T23:45", "2025-11-02T02:00"),
        (FALL, "2025-11-02T06:00:00Z", "2025-11-02T08:00:00Z"),
        (SPRING, "2026-03-08", "2026-03-08"),  # the whole spring-forward day
        (SPRING, "2026-03-08T01:45", "2026-03-08T03:15"),  # across the skipped hour
        (SPRING, "2026-03-07T12:07", "2026-03-09T00:00-05:00"),  # not on a quarter hour
        (SPRING, "2026-03-08T03:00", None),
    ]
    rng = random.Random(20251102)
    for esiid, first in ((FALL, dt.datetime(2025, 11, 1, 5, tzinfo=UTC)), (SPRING, dt.datetime(2026, 3, 7, 6, tzinfo=UTC))):
        for _ in range(12):
            a, b = sorted(rng.sample(range(0, 72 * 60 + 1, 5), 2))
            windows.append((esiid, (first + dt.timedelta(minutes=a)).isoformat(),
                            (first + dt.timedelta(minutes=b)).isoformat()))
    from intelliwatt_pipelines.api.timeparams import parse_instant

    for esiid, start, end in windows:
        lo, hi = parse_instant(start, "start"), parse_instant(end, "end", end=True)
        want = stored(ingested, esiid, lo, hi)
        params = {k: v for k, v in (("start", start), ("end", end)) if v}
        got = fetch_all(client, esiid, **params)
        assert got == want, (start, end)
        assert fetch_csv(client, esiid, **params) == want, (start, end)
    # The DST days hold what the real samples say: 100 on fall-back, 92 per channel on spring-forward.
    assert len(fetch_all(client, FALL, start="2025-11-02", end="2025-11-02")) == 100
    assert len(fetch_all(client, SPRING, start="2026-03-08", end="2026-03-08", channel="generation")) == 92
    spring_day = stored(ingested, SPRING, dt.datetime(2026, 3, 8, 6, tzinfo=UTC), dt.datetime(2026, 3, 9, 5, tzinfo=UTC))
    for limit in (1, 91, 92, 93, 184, 185):  # pages ending exactly at a series' end, and around it
        assert fetch_all(client, SPRING, limit=limit, start="2026-03-08", end="2026-03-08") == spring_day
    fall_day = fetch_all(client, FALL, start="2025-11-02", end="2025-11-02", limit=20000)
    assert sum(r[3] for r in fall_day) == pytest.approx(91.479, abs=5e-4)


def test_a_window_ending_on_the_first_of_two_repeated_hours_is_exact(client, ingested):
    # 01:00-02:00 happens twice on 2025-11-02: the first (CDT) unless an offset says otherwise.
    first = fetch_all(client, FALL, start="2025-11-02T01:00", end="2025-11-02T01:00-06:00")
    assert [r[2] for r in first] == [dt.datetime(2025, 11, 2, 6, m, tzinfo=UTC) for m in (0, 15, 30, 45)]


def test_daily_completeness_and_summary_match_the_samples(client, ingested, expected):
    for want in expected.values():
        body = client.get(f"/api/v1/esiids/{want['esiid']}/daily-completeness", headers=CONSUMER).json()
        got = {(d["date"], d["channel"]): d for d in body["days"]}
        for day in want["days"]:
            row = got[(day["date"], "consumption" if day["channel"] == "Consumption" else "generation")]
            assert row["expected"] == row["found"] == day["intervals"] and row["status"] == "complete"
            assert row["kwh_real"] == pytest.approx(day["kwh"], abs=5e-4)
            assert {"estimated", "filled", "kwh_filled", "completeness"} <= row.keys()
    one = client.get(f"/api/v1/esiids/{FALL}/daily-completeness", params={"start": "2025-11-02", "end": "2025-11-02"},
                     headers=CONSUMER).json()
    assert [(d["date"], d["expected"]) for d in one["days"]] == [("2025-11-02", 100)]

    summary = client.get(f"/api/v1/esiids/{SPRING}/summary", headers=CONSUMER).json()
    assert summary["first_interval"] == "2026-03-07T06:00:00Z"
    assert summary["last_interval"] == "2026-03-10T04:45:00Z"
    assert summary["days_complete"] == 3 and summary["days_incomplete"] == 0
    assert summary["kwh_consumption"] == pytest.approx(81.168 + 74.948 + 80.764, abs=1e-3)
    assert summary["kwh_generation"] == pytest.approx(44.882 + 40.23 + 45.932, abs=1e-3)
    assert {(s["channel"], s["intervals_real"]) for s in summary["series"]} == {("consumption", 284), ("generation", 284)}


def test_admin_views_of_raw_files(client, ingested):
    assert client.get("/api/v1/admin/raw-files", headers=CONSUMER).status_code == 401
    listing = client.get("/api/v1/admin/raw-files", params={"status": "normalized"}, headers=ADMIN).json()
    assert len(listing["raw_files"]) == 2 and all(f["status"] == "normalized" for f in listing["raw_files"])
    assert client.get("/api/v1/admin/raw-files", params={"status": "failed"}, headers=ADMIN).json()["raw_files"] == []
    first = listing["raw_files"][-1]
    detail = client.get(f"/api/v1/admin/raw-files/{first['id']}", headers=ADMIN).json()
    assert detail["sha256"] == first["sha256"] and detail["coverage"] and detail["children"] == []
    assert client.get("/api/v1/admin/raw-files/999999", headers=ADMIN).status_code == 404
    assert client.get("/api/v1/admin/raw-files", params={"status": "bogus"}, headers=ADMIN).status_code == 422


@pytest.mark.parametrize("path, params, status, words", [
    ("/api/v1/esiids/10443720000000077/intervals", {}, 404, "no usage is stored"),
    ("/api/v1/esiids/12345/intervals", {}, 422, "17 or 22 digits"),
    (f"/api/v1/esiids/{FALL}/intervals", {"start": "yesterday"}, 422, "start: not a date or time"),
    (f"/api/v1/esiids/{FALL}/intervals", {"end": "2025-11-02T25:00"}, 422, "end: not an ISO-8601"),
    (f"/api/v1/esiids/{FALL}/intervals", {"start": "2026-03-08T02:30"}, 422, "does not exist in America/Chicago"),
    (f"/api/v1/esiids/{FALL}/intervals", {"start": "2025-11-03", "end": "2025-11-01"}, 422, "end must be after start"),
    (f"/api/v1/esiids/{FALL}/intervals", {"cursor": "garbage"}, 422, "cursor: not a cursor"),
    (f"/api/v1/esiids/{FALL}/intervals", {"cursor": "WyJ1bmtub3duIiwiY29uc3VtcHRpb24iLCIwMDAxLTAxLTAxVDAwOjAwOjAwKzAxOjAwIl0"},
     422, "cursor: not a cursor"),  # a forged cursor at year 1
    (f"/api/v1/esiids/{FALL}/intervals", {"limit": 0}, 422, "limit:"),
    (f"/api/v1/esiids/{FALL}/intervals", {"channel": "solar"}, 422, "channel:"),
    (f"/api/v1/esiids/{FALL}/intervals", {"start": "0001-01-01"}, 422, "years 1970..2200"),
    (f"/api/v1/esiids/{FALL}/daily-completeness", {"start": "2025-11-03", "end": "2025-11-01"}, 422, "end must not"),
    ("/api/v1/esiids/10443720000000077/summary", {}, 404, "no usage is stored"),
])
def test_bad_requests_get_a_clear_json_error(client, ingested, path, params, status, words):
    response = client.get(path, params=params, headers=CONSUMER)
    assert response.status_code == status, response.text
    body = response.json()
    assert words in body["error"]["message"] and body["corrId"] == response.headers["x-correlation-id"]


def test_auth_is_required_and_secrets_never_echo(client, ingested, caplog):
    url = f"/api/v1/esiids/{FALL}/summary"
    for headers in ({}, {"x-api-key": "wrong"}, {"x-api-key": ADMIN_TOKEN + "x"}, {"x-admin-token": API_KEY}):
        response = client.get(url, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert API_KEY not in response.text and ADMIN_TOKEN not in response.text
    assert client.get(url, headers={"x-api-key": "another-key"}).status_code == 200
    assert client.get(url, headers=ADMIN).status_code == 200  # the admin token opens consumer routes too
    assert API_KEY not in caplog.text and ADMIN_TOKEN not in caplog.text


def test_routes_refuse_everything_when_no_keys_are_configured(api_settings, client):
    app = create_app(dataclasses.replace(api_settings, api_keys=(), admin_token=""))
    with TestClient(app) as bare:
        for headers in ({"x-api-key": ""}, CONSUMER, ADMIN):
            assert bare.get(f"/api/v1/esiids/{FALL}/summary", headers=headers).status_code == 401
        for headers in ({"x-admin-token": ""}, ADMIN):
            assert bare.get("/api/v1/admin/raw-files", headers=headers).status_code == 401


def test_correlation_ids_and_one_log_line_per_request(client, ingested, caplog):
    caplog.set_level("INFO", logger="intelliwatt.api")
    given = client.get("/api/v1/health", headers={"x-correlation-id": "req-123"})
    assert given.json() == {"ok": True, "db": True, "corrId": "req-123"}
    assert given.headers["x-correlation-id"] == "req-123"
    for bad in ("bad id with spaces", f"req-{FALL}"):  # an id carrying an ESIID is not echoed either
        made = client.get("/api/v1/health", headers={"x-correlation-id": bad})
        assert made.headers["x-correlation-id"] != bad and len(made.headers["x-correlation-id"]) == 32
    caplog.clear()
    client.get(f"/api/v1/esiids/{FALL}/intervals", params={"start": "2025-11-02"}, headers=CONSUMER)
    client.get(f"/api/v1/esiids/{FALL}/intervals", params={"start": "nope"}, headers=CONSUMER)
    lines = [r.getMessage() for r in caplog.records if r.name == "intelliwatt.api"]
    assert len(lines) == 2
    import json

    ok, bad = (json.loads(line) for line in lines)
    assert ok["route"] == "/api/v1/esiids/{esiid}/intervals" and ok["status"] == 200 and ok["error"] is None
    assert bad["status"] == 422 and bad["error"] == "invalid_parameter" and isinstance(bad["ms"], float)
    assert ok["esiid"].startswith("esiid#") and FALL not in "\n".join(lines)


def test_openapi_schema_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/health", "/api/v1/esiids/{esiid}/intervals", "/api/v1/esiids/{esiid}/daily-completeness",
            "/api/v1/esiids/{esiid}/summary", "/api/v1/admin/raw-files", "/api/v1/admin/raw-files/{raw_file_id}",
            "/api/v1/uploads", "/api/v1/admin/smt/inline"} <= paths.keys()


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_paging_crosses_series_whatever_the_database_collation(postgres_url, tmp_path, settings):
    """Meters 'B7' and 'a7' sort one way in Python and the other under en-US collation: the cursor
    must not skip a series. Runs on a database created with the ICU en-US locale."""
    from intelliwatt_pipelines_tests.conftest import _admin_engine

    name = f"{sa.engine.make_url(postgres_url).database}_icu"
    with _admin_engine().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                             "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        migrate(engine)
        store = LocalRawStore(tmp_path / "raw_icu")
        for meter in ("B7", "a7"):
            rows = "".join(f"2025-01-01T{6 + i // 4:02d}:{15 * (i % 4):02d}:00Z,0.{i + 1}\n" for i in range(16))
            path = tmp_path / f"usage_{meter}.csv"
            path.write_bytes(b"timestamp,kwh\n" + rows.encode())
            captured = capture_file(engine, store, path, source="test")
            with engine.begin() as conn:  # bind ESIID and meter as an upload would
                from intelliwatt_pipelines.cdm.tables import upload

                conn.execute(upload.insert().values(
                    raw_file_id=captured.raw_file_id, role="admin", account_hash="x", esiid=FALL, meter=meter,
                    filename=path.name, size_bytes=1, via="multipart", binds_hints=True,
                    received_at=dt.datetime.now(UTC)))
            assert normalize_raw_file(engine, store, captured.raw_file_id).status == "normalized"
        engine.dispose()
        app_settings = dataclasses.replace(settings, warehouse_url=url, api_keys=(API_KEY,), admin_token=ADMIN_TOKEN)
        with TestClient(create_app(app_settings)) as c:
            got = fetch_all(c, FALL, limit=10)
        assert sorted({r[0] for r in got}) == ["B7", "a7"] and len(got) == 32
    finally:
        with _admin_engine().connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_a_lost_database_connection_is_a_503_and_the_next_request_recovers(client, ingested, postgres_url):
    url = f"/api/v1/esiids/{FALL}/summary"
    assert client.get(url, headers=CONSUMER).status_code == 200  # a pooled connection now exists
    from intelliwatt_pipelines_tests.conftest import _admin_engine

    with _admin_engine().connect() as conn:  # what a database restart does to the pool
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db "
                             "AND pid <> pg_backend_pid()"), {"db": sa.engine.make_url(postgres_url).database})
    first = client.get(url, headers=CONSUMER)  # its pooled connection is dead: no pre-ping, a clear 503
    assert first.status_code == 503 and first.headers["Retry-After"] == "1", first.text
    assert first.json()["error"]["code"] == "warehouse_unavailable"
    assert [client.get(url, headers=CONSUMER).status_code for _ in range(2)] == [200, 200]
