"""The SMT admin routes (agreements, backfills, meters, API calls) and the flags route, over rows
written straight into the tables: admin token only, filters, cursor paging, 404s, and a customer's
e-mail (even encrypted) never in an answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.raw_files import register
from intelliwatt_pipelines.cdm.tables import smt_api_call, smt_authorization, smt_backfill_request, smt_meter_info
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines_tests.test_api import ADMIN, ADMIN_TOKEN, API_KEY, CONSUMER

ESIID, OTHER = "10443720000000001", "1008901000000000000001"  # 17 and 22 digits
CIPHERTEXT = "gAAAAABmFAKEciphertextOFcustomer.name@mail.example"  # a stand-in Fernet token
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
ROUTES = ("/api/v1/admin/smt/agreements", "/api/v1/admin/smt/backfills", f"/api/v1/admin/smt/meters/{ESIID}",
          "/api/v1/admin/smt/calls", "/api/v1/admin/flags")


@pytest.fixture
def warehouse_url(tmp_path):
    """SQLite here (the conftest default runs both databases); test_on_postgresql covers PostgreSQL."""
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def app_settings(settings, **changes):
    return dataclasses.replace(settings, api_keys=(API_KEY,), admin_token=ADMIN_TOKEN, **changes)


def insert(conn, table, rows: list[dict]) -> None:
    """Rows that set different columns (executemany needs the same keys in every row)."""
    keys = {k for row in rows for k in row}
    conn.execute(sa.insert(table), [{k: row.get(k) for k in keys} for row in rows])


def seed(url: str) -> None:
    """Three agreements (one with an encrypted e-mail), three backfills, a meter and three calls."""
    engine = create_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        raw_id = register(conn, sha="a" * 64, size=10, uri="file:///x", filename="meterinfo.json",
                          source="smt_api", kind="smt_api_error").raw_file_id
        stamps = {"created_at": NOW, "updated_at": NOW}
        insert(conn, smt_authorization, [
            {"esiid": ESIID, "months_back": 12, "account_class": "res", "smt_status": "ACTIVE",
             "contact_email_enc": CIPHERTEXT, "smt_agreement_number": 3162880, "consent_ip_hash": "f" * 64,
             "authorization_start": dt.date(2026, 1, 1), "consent_at": NOW, **stamps},
            {"esiid": ESIID, "months_back": 12, "account_class": "res", "smt_status": "EXPIRED",
             "smt_agreement_number": 3214970, **stamps},
            {"esiid": OTHER, "months_back": 24, "account_class": "com", "smt_status": "PENDING", **stamps}])
        insert(conn, smt_backfill_request, [
            {"esiid": ESIID, "reason": "enrollment", "requested_start": dt.date(2025, 1, 1),
             "requested_end": dt.date(2025, 12, 31), "status": "delivered", "delivered_raw_file_ids": f"{raw_id}",
             "last_report_status_json": '{"status": "COMPLETED"}', **stamps},
            {"esiid": ESIID, "reason": "gap", "requested_start": dt.date(2026, 1, 2),
             "requested_end": dt.date(2026, 1, 2), "status": "requested", **stamps},
            {"esiid": OTHER, "reason": "enrollment", "requested_start": dt.date(2024, 1, 1),
             "requested_end": dt.date(2025, 12, 31), "status": "accepted", "correlation_id": "C-9", **stamps}])
        conn.execute(sa.insert(smt_meter_info).values(
            esiid=ESIID, meter_number="112233445", status="ok", kwh_meter_multiplier=1.0,
            utility_meter_id="112233445", raw_file_id=raw_id, updated_at=NOW))
        request = {"method": "POST", "url": "/v2/NewAgreement/", "body": {"retailCustomerEmail": "[redacted]"}}
        insert(conn, smt_api_call, [
            {"called_at": NOW, "endpoint": endpoint, "attempts": 1, "http_status": 200, "esiid": esiid,
             "request_redacted": json.dumps(request), "raw_file_id": raw_id}
            for endpoint, esiid in (("/v2/NewAgreement/", ESIID), ("/v2/meterInfo/", ESIID),
                                    ("/v2/NewAgreement/", OTHER))])
    engine.dispose()


@pytest.fixture
def client(settings):
    seed(settings.warehouse_url)
    with TestClient(create_app(app_settings(settings))) as test_client:
        yield test_client


def every_page(client, path: str, key: str, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        body = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=ADMIN).json()
        assert body["count"] == len(body[key]) <= params.get("limit", 100)
        rows += body[key]
        if not (cursor := body["next_cursor"]):
            return rows


def test_every_route_needs_the_admin_token(client):
    for path in ROUTES:
        for headers in ({}, CONSUMER, {"x-admin-token": "wrong"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized", path
        assert client.get(path, headers=ADMIN).status_code == 200, path


def test_agreements_filter_by_esiid_and_status_newest_first(client):
    url = "/api/v1/admin/smt/agreements"
    every = client.get(url, headers=ADMIN).json()
    assert [a["esiid"] for a in every["agreements"]] == [OTHER, ESIID, ESIID] and every["next_cursor"] is None
    mine = client.get(url, params={"esiid": ESIID}, headers=ADMIN).json()["agreements"]
    assert [a["smt_agreement_number"] for a in mine] == [3214970, 3162880]
    active = client.get(url, params={"esiid": ESIID, "status": "ACTIVE"}, headers=ADMIN).json()["agreements"]
    assert len(active) == 1 and active[0]["has_contact_email"] is True and active[0]["consent_at"] == "2026-01-05T12:00:00Z"
    assert [a["has_contact_email"] for a in mine] == [False, True]
    assert client.get(url, params={"status": "DECLINED"}, headers=ADMIN).json()["agreements"] == []
    for bad in ({"status": "active"}, {"esiid": "123"}, {"esiid": ESIID + "0"}, {"limit": 0}):
        assert client.get(url, params=bad, headers=ADMIN).status_code == 422, bad


def test_lists_page_with_cursors(client):
    for path, key, total in (("/api/v1/admin/smt/agreements", "agreements", 3),
                             ("/api/v1/admin/smt/backfills", "backfills", 3), ("/api/v1/admin/smt/calls", "calls", 3)):
        whole = client.get(path, headers=ADMIN).json()[key]
        paged = every_page(client, path, key, limit=2)
        assert paged == whole and len(whole) == total and len({r["id"] for r in paged}) == total, path
    first = client.get("/api/v1/admin/smt/agreements", params={"limit": 2}, headers=ADMIN).json()["next_cursor"]
    # A cursor of another list, or one no route made, is refused
    for cursor in (first, "bm90IGEgY3Vyc29y", "!!"):
        response = client.get("/api/v1/admin/smt/backfills", params={"cursor": cursor}, headers=ADMIN)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_parameter"


def test_backfills_and_calls_filters_and_parsed_columns(client):
    url = "/api/v1/admin/smt/backfills"
    delivered = client.get(url, params={"esiid": ESIID, "status": "delivered"}, headers=ADMIN).json()["backfills"]
    assert len(delivered) == 1 and delivered[0]["last_report_status"] == {"status": "COMPLETED"}
    assert isinstance(delivered[0]["delivered_raw_file_ids"], list) and delivered[0]["delivered_raw_file_ids"]
    other = client.get(url, params={"esiid": OTHER}, headers=ADMIN).json()["backfills"]
    assert [(b["status"], b["correlation_id"], b["delivered_raw_file_ids"]) for b in other] == [("accepted", "C-9", [])]
    calls = "/api/v1/admin/smt/calls"
    agreements = client.get(calls, params={"endpoint": "/v2/NewAgreement/"}, headers=ADMIN).json()["calls"]
    assert [c["esiid"] for c in agreements] == [OTHER, ESIID]
    assert agreements[0]["request_redacted"]["body"] == {"retailCustomerEmail": "[redacted]"}
    both = client.get(calls, params={"endpoint": "/v2/meterInfo/", "esiid": ESIID}, headers=ADMIN).json()["calls"]
    assert len(both) == 1
    assert client.get(calls, params={"endpoint": "/v2/x\x00/"}, headers=ADMIN).status_code == 422


def test_meters_of_an_esiid_or_404(client):
    body = client.get(f"/api/v1/admin/smt/meters/{ESIID}", headers=ADMIN).json()
    assert body["esiid"] == ESIID and [m["meter_number"] for m in body["meters"]] == ["112233445"]
    missing = client.get(f"/api/v1/admin/smt/meters/{OTHER}", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/admin/smt/meters/12345", headers=ADMIN).status_code == 422


def test_the_contact_email_never_leaves(client):
    for path in ROUTES:
        for params in ({}, {"esiid": ESIID}):
            text = client.get(path, params=params if "meters" not in path and "flags" not in path else {},
                              headers=ADMIN).text
            assert CIPHERTEXT not in text and "contact_email_enc" not in text and "@" not in text, path


def test_flags_reflect_the_settings(settings, client):
    listed = {f["name"]: f for f in client.get("/api/v1/admin/flags", headers=ADMIN).json()["flags"]}
    assert listed["INTELLIWATT_FLAG_SMT_API"]["enabled"] is False and listed["INTELLIWATT_FLAG_SMT"]["enabled"] is True
    assert "SMT REST API" in listed["INTELLIWATT_FLAG_SMT_API"]["controls"]
    with TestClient(create_app(app_settings(settings, flag_smt_api=True))) as on:
        flags = {f["name"]: f["enabled"] for f in on.get("/api/v1/admin/flags", headers=ADMIN).json()["flags"]}
    assert flags["INTELLIWATT_FLAG_SMT_API"] is True and set(flags) == set(listed)


def test_on_postgresql(settings, postgres_url):
    seed(postgres_url)
    with TestClient(create_app(app_settings(settings, warehouse_url=postgres_url))) as pg:
        paged = every_page(pg, "/api/v1/admin/smt/agreements", "agreements", limit=1, esiid=ESIID)
        assert [a["smt_status"] for a in paged] == ["EXPIRED", "ACTIVE"] and paged[1]["has_contact_email"] is True
        backfills = pg.get("/api/v1/admin/smt/backfills", params={"status": "delivered"}, headers=ADMIN).json()
        assert len(backfills["backfills"][0]["delivered_raw_file_ids"]) == 1
        assert pg.get(f"/api/v1/admin/smt/meters/{OTHER}", headers=ADMIN).status_code == 404
        calls = pg.get("/api/v1/admin/smt/calls", params={"esiid": OTHER}, headers=ADMIN).json()["calls"]
        assert [c["endpoint"] for c in calls] == ["/v2/NewAgreement/"]
        assert CIPHERTEXT not in pg.get("/api/v1/admin/smt/agreements", headers=ADMIN).text
