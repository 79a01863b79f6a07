"""The upload relay: multipart bodies streamed into the raw store, the upload sensor ingesting them,
durable per-account rate limits, the legacy inline contract, and a 40 MB upload to a real server."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import gzip
import json
import os
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.api.relay import safe_filename
from intelliwatt_pipelines.cdm.tables import raw_file, upload, usage_interval
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.defs.definitions import INGEST_JOB, build_defs
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import date_range, smt_interval_csv
from intelliwatt_pipelines_tests.conftest import DATA
from intelliwatt_pipelines_tests.servers import ApiServer

API_KEY, ADMIN_TOKEN = "upload-test-key", "upload-test-admin"
CONSUMER, ADMIN = {"x-api-key": API_KEY}, {"x-admin-token": ADMIN_TOKEN}
FALL_SAMPLE = "IntervalMeterUsage_sample_fallback_unpadded.csv"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def api_settings(settings):
    return dataclasses.replace(settings, api_keys=(API_KEY,), admin_token=ADMIN_TOKEN)


@pytest.fixture
def engine(api_settings):
    engine = create_engine(api_settings.warehouse_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(api_settings, engine):
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


def post_file(client, data: bytes, *, name="usage.csv", role="customer", account="acct-1", headers=CONSUMER,
              **fields):
    return client.post("/api/v1/uploads", headers=headers,
                       data={"role": role, "accountKey": account, **fields}, files={"file": (name, data, "text/csv")})


def upload_sensor_tick(defs, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources, definitions=defs)
    return defs.resolve_sensor_def("upload_sensor").evaluate_tick(context)


def run_request(defs, instance, request: dg.RunRequest):
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        run_config=request.run_config, instance=instance, raise_on_error=False,
        tags={**request.tags, "dagster/run_key": request.run_key})


def ingest_pending_uploads(settings, instance) -> int:
    """What the daemon does: one upload_sensor tick, its runs. Returns the number of runs."""
    defs = build_defs(settings)
    tick = upload_sensor_tick(defs, instance)
    for request in tick.run_requests:
        assert run_request(defs, instance, request).success
    assert not upload_sensor_tick(defs, instance, tick.cursor).run_requests  # nothing left, nothing twice
    return len(tick.run_requests)


def raw_row(engine, raw_file_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(raw_file).where(raw_file.c.id == raw_file_id)).one()


def test_an_upload_is_kept_at_once_and_the_upload_sensor_ingests_it(api_settings, engine, client, instance):
    data = (DATA / FALL_SAMPLE).read_bytes()
    response = post_file(client, data, name=FALL_SAMPLE)
    assert response.status_code == 202, response.text
    body = response.json()
    row = raw_row(engine, body["raw_file_id"])
    assert (row.source, row.status, row.size_bytes, body["duplicate"]) == ("upload", "received", len(data), False)
    assert LocalRawStore(api_settings.raw_store_url).get(row.sha256) == data  # the exact bytes, before parsing

    assert ingest_pending_uploads(api_settings, instance) == 1
    assert raw_row(engine, body["raw_file_id"]).status == "normalized"
    days = client.get("/api/v1/esiids/10443720009990001/daily-completeness", headers=CONSUMER).json()["days"]
    assert [(d["date"], d["found"]) for d in days] == [("2025-11-01", 96), ("2025-11-02", 100), ("2025-11-03", 96)]
    again = post_file(client, data, name="again.csv", account="acct-2")  # the same bytes: a known raw file
    assert again.status_code == 202 and again.json()["duplicate"] and again.json()["status"] == "normalized"
    assert ingest_pending_uploads(api_settings, instance) == 0


def test_the_esiid_given_with_an_upload_binds_a_file_that_names_none(api_settings, engine, client, instance):
    data = b"timestamp,kwh\n2025-01-01T06:00:00Z,0.5\n2025-01-01T06:15:00Z,0.4\n"
    assert post_file(client, data, esiid="10443720000000042", meter="M77").status_code == 202
    ingest_pending_uploads(api_settings, instance)
    with engine.connect() as conn:
        series = conn.execute(sa.select(usage_interval.c.esiid, usage_interval.c.meter).distinct()).all()
    assert series == [("10443720000000042", "M77")]


def test_customer_limit_is_five_per_30_days_and_survives_a_restart(api_settings, client):
    for i in range(5):
        assert post_file(client, f"timestamp,kwh\n2025-01-01T00:00:00Z,{i}\n".encode()).status_code == 202
    sixth = post_file(client, b"timestamp,kwh\n2025-01-01T00:00:00Z,9\n")
    assert sixth.status_code == 429 and sixth.json()["error"]["code"] == "rate_limited"
    assert 29 * 86400 < int(sixth.headers["Retry-After"]) <= 30 * 86400
    with TestClient(create_app(api_settings)) as restarted:  # a new process would see the same rows
        assert post_file(restarted, b"timestamp,kwh\n2025-01-01T00:00:00Z,8\n").status_code == 429
        assert post_file(restarted, b"timestamp,kwh\n2025-01-01T00:00:00Z,8\n", account="acct-2").status_code == 202
        admin = post_file(restarted, b"timestamp,kwh\n2025-01-01T00:00:00Z,7\n", role="admin", headers=ADMIN)
        assert admin.status_code == 202


def test_the_limit_window_slides(api_settings, engine, client):
    limited = dataclasses.replace(api_settings, rate_limit_customer=(2, 3600))
    with TestClient(create_app(limited)) as c:
        for i in range(2):
            assert post_file(c, f"timestamp,kwh\n2025-01-01T00:00:00Z,{i}\n".encode()).status_code == 202
        assert post_file(c, b"timestamp,kwh\n2025-01-01T00:00:00Z,5\n").status_code == 429
        with engine.begin() as conn:  # the older upload leaves the window
            first = conn.execute(sa.select(sa.func.min(upload.c.id))).scalar_one()
            conn.execute(upload.update().where(upload.c.id == first).values(
                received_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=3601)))
        assert post_file(c, b"timestamp,kwh\n2025-01-01T00:00:00Z,5\n").status_code == 202


@pytest.mark.parametrize("kwargs, status, words", [
    ({"headers": {}}, 401, "x-api-key"),
    ({"role": "admin"}, 401, "x-admin-token"),
    ({"role": "owner"}, 422, "role: must be admin or customer"),
    ({"account": ""}, 422, "accountKey: required"),
    ({"esiid": "12"}, 422, "esiid: must be 17 or 22 digits"),
    ({"data": b""}, 422, "file: is empty"),
])
def test_refused_uploads_leave_nothing_behind(api_settings, engine, client, kwargs, status, words):
    kwargs = dict(kwargs)  # the parameter dict is shared by the sqlite and postgres runs
    data = kwargs.pop("data", b"timestamp,kwh\n2025-01-01T00:00:00Z,1\n")
    response = post_file(client, data, **kwargs)
    assert response.status_code == status and words in response.json()["error"]["message"], response.text
    assert_nothing_kept(engine, api_settings)


def assert_nothing_kept(engine, settings):
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(raw_file)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(upload)).scalar_one() == 0
    root = Path(settings.raw_store_url)
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]  # no spool left over


def test_too_large_and_malformed_bodies_are_refused(api_settings, engine):
    small = dataclasses.replace(api_settings, upload_max_bytes=1000)
    with TestClient(create_app(small)) as c:
        too_big = post_file(c, b"timestamp,kwh\n" + b"2025-01-01T00:00:00Z,1\n" * 100)
        assert too_big.status_code == 413 and "1000-byte limit" in too_big.text
        no_file = c.post("/api/v1/uploads", headers=CONSUMER, data={"role": "customer", "accountKey": "a"},
                         files={"other": ("x.csv", b"abc")})
        assert no_file.status_code == 422 and "no part named 'file'" in no_file.text
        not_multipart = c.post("/api/v1/uploads", headers={**CONSUMER, "content-type": "text/csv"}, content=b"a,b\n")
        assert not_multipart.status_code == 422 and "multipart/form-data" in not_multipart.text
        broken = c.post("/api/v1/uploads", headers={**CONSUMER, "content-type": "multipart/form-data; boundary=zz"},
                        content=b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc")
        assert broken.status_code == 422
    assert_nothing_kept(engine, api_settings)


def test_a_path_traversal_name_cannot_leave_the_store(api_settings, engine, client, tmp_path):
    response = post_file(client, b"timestamp,kwh\n2025-01-01T00:00:00Z,1\n", name="../../../../tmp/evil/..\\x.csv")
    assert response.status_code == 202
    assert raw_row(engine, response.json()["raw_file_id"]).filename == "x.csv"
    assert [safe_filename(n) for n in ("../../etc/passwd", "..", ".hidden.csv", "a b;rm -rf.csv", "C:\\x\\y.csv", "")] \
        == ["passwd", "upload", "hidden.csv", "a_b_rm_-rf.csv", "y.csv", "upload"]


def test_a_body_cut_short_is_refused(api_settings, engine, client):
    body = (b'--zz\r\nContent-Disposition: form-data; name="role"\r\n\r\ncustomer\r\n'
            b'--zz\r\nContent-Disposition: form-data; name="accountKey"\r\n\r\nacct\r\n'
            b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            b"timestamp,kwh\n2025-01-01T06:00")  # no closing boundary: the connection dropped
    response = client.post("/api/v1/uploads", content=body,
                           headers={**CONSUMER, "content-type": "multipart/form-data; boundary=zz"})
    assert response.status_code == 422 and "closing boundary" in response.text
    assert_nothing_kept(engine, api_settings)


def test_role_admin_given_after_the_file_still_needs_the_admin_token(api_settings, engine, client):
    body = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            b"timestamp,kwh\n2025-01-01T06:00:00Z,1\n\r\n"
            b'--zz\r\nContent-Disposition: form-data; name="role"\r\n\r\nadmin\r\n'
            b'--zz\r\nContent-Disposition: form-data; name="accountKey"\r\n\r\nacct\r\n--zz--\r\n')
    response = client.post("/api/v1/uploads", content=body,
                           headers={**CONSUMER, "content-type": "multipart/form-data; boundary=zz"})
    assert response.status_code == 401
    assert_nothing_kept(engine, api_settings)


def test_known_bytes_keep_their_binding_unless_they_failed(api_settings, engine, client, instance):
    data = b"timestamp,kwh\n2025-01-01T06:00:00Z,0.5\n2025-01-01T06:15:00Z,0.4\n"
    unbound = post_file(client, data)  # no ESIID anywhere: the file fails
    ingest_pending_uploads(api_settings, instance)
    assert raw_row(engine, unbound.json()["raw_file_id"]).status == "failed"
    # The fix is to upload it again with the ESIID: the failed file is re-bound and queued again.
    fixed = post_file(client, data, esiid="10443720000000042", account="acct-2")
    assert fixed.status_code == 202 and fixed.json()["status"] == "received"
    assert ingest_pending_uploads(api_settings, instance) == 1
    assert raw_row(engine, unbound.json()["raw_file_id"]).status == "normalized"
    # Once rows exist, another ESIID for the same bytes is refused, and nothing moves.
    other = post_file(client, data, esiid="10443720000000099", account="acct-3")
    assert other.status_code == 409 and "already stored as raw file" in other.text
    same = post_file(client, data, esiid="10443720000000042", account="acct-3")
    assert same.status_code == 202 and same.json()["duplicate"]
    from intelliwatt_pipelines.ingest import rebuild_esiid_days

    result = rebuild_esiid_days(engine, LocalRawStore(api_settings.raw_store_url), "10443720000000042",
                                dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    assert result.rows_written == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(usage_interval.c.esiid).distinct()).scalars().all() == ["10443720000000042"]


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_rows_the_warehouse_refuses_fail_the_file_not_the_run(api_settings, engine, client, instance, monkeypatch):
    data = b"timestamp,kwh\n2025-01-01T06:00:00Z,0.5\n"
    response = post_file(client, data, esiid="10443720000000042")
    # A defect after parsing producing a value longer than its column (PostgreSQL refuses it). The
    # parsers now refuse over-long meters themselves, so the bad value is put in past them.
    from intelliwatt_pipelines.ingest import normalize
    canonical = normalize._canonical
    monkeypatch.setattr(normalize, "_canonical", lambda parsed: canonical(parsed).assign(channel="c" * 40))
    assert ingest_pending_uploads(api_settings, instance) == 1  # and no second offer
    row = raw_row(engine, response.json()["raw_file_id"])
    assert row.status == "failed" and "the warehouse refused the rows" in row.error


def inline_body(data: bytes, *, gz=False, size=None, **extra) -> dict:
    content = gzip.compress(data) if gz else data
    return {"mode": "inline", "filename": "IntervalMeterUsage_inline.csv", "encoding": "base64+gzip" if gz else "base64",
            "sizeBytes": len(data) if size is None else size, "content_b64": base64.b64encode(content).decode(), **extra}


def test_inline_contract(api_settings, engine, client, instance):
    data = (DATA / FALL_SAMPLE).read_bytes()
    assert client.post("/api/v1/admin/smt/inline", json=inline_body(data), headers=CONSUMER).status_code == 401
    plain = client.post("/api/v1/admin/smt/inline", json=inline_body(data), headers=ADMIN)
    assert plain.status_code == 202, plain.text
    zipped = client.post("/api/v1/admin/smt/inline", json=inline_body(data, gz=True), headers=ADMIN)
    assert zipped.status_code == 202 and zipped.json()["raw_file_id"] == plain.json()["raw_file_id"]
    assert ingest_pending_uploads(api_settings, instance) == 1
    assert raw_row(engine, plain.json()["raw_file_id"]).status == "normalized"

    wrong_size = client.post("/api/v1/admin/smt/inline", json=inline_body(data, size=len(data) + 1), headers=ADMIN)
    assert wrong_size.status_code == 422 and "sizeBytes: says" in wrong_size.text
    bad = dict(inline_body(data), content_b64="not base64!")
    assert client.post("/api/v1/admin/smt/inline", json=bad, headers=ADMIN).status_code == 422
    truncated = dict(inline_body(data), encoding="base64+gzip",
                     content_b64=base64.b64encode(gzip.compress(data)[:-20]).decode())
    assert client.post("/api/v1/admin/smt/inline", json=truncated, headers=ADMIN).status_code == 422
    missing = {k: v for k, v in inline_body(data).items() if k != "filename"}
    response = client.post("/api/v1/admin/smt/inline", json=missing, headers=ADMIN)
    assert response.status_code == 422 and "filename: is required" in response.text


def test_inline_gzip_bomb_is_stopped_at_the_limit(api_settings, engine):
    small = dataclasses.replace(api_settings, upload_max_bytes=1 << 20)
    bomb = gzip.compress(b"0" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    body = {"mode": "inline", "filename": "bomb.csv", "encoding": "base64+gzip", "sizeBytes": 64 << 20,
            "content_b64": base64.b64encode(bomb).decode()}
    with TestClient(create_app(small)) as c:
        response = c.post("/api/v1/admin/smt/inline", json=body, headers=ADMIN)
    assert response.status_code == 413 and "expands beyond" in response.text
    assert_nothing_kept(engine, api_settings)


def big_smt_file(target_bytes: int) -> tuple[bytes, int]:
    """A real-shaped SMT export of whole 2025 years for as many ESIIDs as make ``target_bytes``.
    Returns (bytes, number of ESIIDs); each ESIID-year is 35,040 intervals."""
    days = date_range(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    parts, size, i = [], 0, 0
    while size < target_bytes:
        data = smt_interval_csv(f"1044372000{i:07d}", days, seed=i)
        parts.append(data if i == 0 else data.split(b"\n", 1)[1])
        size, i = size + len(parts[-1]), i + 1
    return b"".join(parts), i


def streamed_multipart(data: bytes, fields: dict, marks: dict, chunk: int = 1 << 20):
    """A multipart body as a generator; ``marks['last_byte']`` is set when the last chunk is handed over."""
    boundary = "iwboundary7d1e"
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
             f"Content-Type: text/csv\r\n\r\n").encode()

    def body():
        yield head
        for i in range(0, len(data), chunk):
            yield data[i:i + chunk]
        yield f"\r\n--{boundary}--\r\n".encode()
        marks["last_byte"] = time.perf_counter()

    return f"multipart/form-data; boundary={boundary}", body()


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_a_40_mb_upload_to_a_real_server_streams_and_is_ingested(api_settings, engine, pg_instance, tmp_path):
    """``intelliwatt api`` as its own process: a 40 MB body is streamed (bounded server memory), 202 comes
    back once the bytes are kept, the sensor's run ingests every row; the 6th customer upload in 30
    days is refused, also after the server restarts. PostgreSQL warehouse and Dagster instance, as
    deployed (the run marks 12 ESIIDs × 365 days of partitions)."""
    instance = pg_instance
    data, esiids = big_smt_file(40 << 20)
    env = {**os.environ, "INTELLIWATT_HOME": str(tmp_path), "INTELLIWATT_WAREHOUSE_URL": api_settings.warehouse_url,
           "INTELLIWATT_RAW_STORE_URL": api_settings.raw_store_url, "INTELLIWATT_API_KEYS": API_KEY,
           "INTELLIWATT_ADMIN_TOKEN": ADMIN_TOKEN}
    server = ApiServer(env, tmp_path / "api.log", ROOT)
    try:
        before = server.peak_rss_bytes()
        marks = {}
        content_type, body = streamed_multipart(data, {"role": "customer", "accountKey": "big"}, marks)
        with httpx.Client(base_url=server.url, timeout=120) as http:
            response = http.post("/api/v1/uploads", content=body,
                                 headers={**CONSUMER, "content-type": content_type})
            after_last_byte = time.perf_counter() - marks["last_byte"]
            assert response.status_code == 202, response.text
            grown = server.peak_rss_bytes() - before
            print(f"40 MB upload: 202 {after_last_byte * 1000:.0f} ms after the last byte; peak RSS +{grown >> 20} MiB")
            assert grown < 20 << 20, "the server held the body in memory"
            raw_id = response.json()["raw_file_id"]
            assert raw_row(engine, raw_id).size_bytes == len(data)

            for i in range(4):
                small = http.post("/api/v1/uploads", headers=CONSUMER, data={"role": "customer", "accountKey": "big"},
                                  files={"file": ("s.csv", f"timestamp,kwh\n2025-01-01T00:00:00Z,{i}\n".encode())})
                assert small.status_code == 202
        server.stop()
        server = ApiServer(env, tmp_path / "api.log", ROOT)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            sixth = http.post("/api/v1/uploads", headers=CONSUMER, data={"role": "customer", "accountKey": "big"},
                              files={"file": ("s.csv", b"timestamp,kwh\n2025-01-01T00:00:00Z,9\n")})
            assert sixth.status_code == 429 and int(sixth.headers["Retry-After"]) > 0

            ingest_pending_uploads(api_settings, instance)
            assert raw_row(engine, raw_id).status == "normalized"
            with engine.connect() as conn:
                stored = conn.execute(sa.select(sa.func.count()).select_from(usage_interval)
                                      .where(usage_interval.c.raw_file_id == raw_id)).scalar_one()
            assert stored == 35040 * esiids
            summary = http.get(f"/api/v1/esiids/1044372000{esiids - 1:07d}/summary", headers=CONSUMER).json()
            assert summary["days_complete"] == 365, json.dumps(summary)[:500]
    finally:
        server.stop()
