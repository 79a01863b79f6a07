"""Address search over service_point (vendor-apis.md §2.6): trigram ranking on PostgreSQL (and its index in
use), the token fallback on SQLite, and the API route: auth, parameter checks, and no raw query in any log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.address import normalize_line, zip5
from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm import service_point_search
from intelliwatt_pipelines.cdm.tables import raw_file, service_point
from intelliwatt_pipelines_tests.servers import LOG_CAPTURE

SAMPLE = "1008901023817895470106"  # the ossrep sample row of §2.6
API_KEY = "search-test-key-5d1e"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
STREETS = ("BOXWOOD", "BOXELDER", "BOXWOOD BEND", "BRIARWOOD", "BOX CANYON", "OAKWOOD", "ELMWOOD", "WILDWOOD",
           "DOGWOOD", "ROSEWOOD", "BAYWOOD", "BOXFORD", "CEDAR", "PINE", "MAPLE", "BIRCH")
SUFFIXES = ("DR", "ST", "LN", "CT", "RD", "AVE", "CIR", "TRL")


def point(esiid: str, address: str, zip_code: str = "77520", status: str = "Active", **extra) -> dict:
    """A service_point row as the loader writes it (norm_line1 from address.normalize_line)."""
    return {"esiid": esiid, "tdsp_code": "CENTERPOINT", "duns": "957877905", "address": address,
            "address_overflow": None, "city": "BAYTOWN", "state": "TX", "zip5": zip5(zip_code), "status": status,
            "premise_type": "Residential", "norm_line1": normalize_line(address), "source_doc_id": "local:test",
            "publish_date": NOW, "raw_file_id": 1, "updated_at": NOW, **extra}


def distractors(n: int, seed: int = 7) -> list[dict]:
    """``n`` premises with look-alike addresses (other numbers, streets, suffixes, ZIPs)."""
    rnd, rows = random.Random(seed), []
    for i in range(n):
        number = rnd.choice((206, 260, 208, 2060, 26, 602)) if i % 3 == 0 else rnd.randint(1, 9999)
        address = f"{number} {rnd.choice(STREETS)} {rnd.choice(SUFFIXES)}"
        rows.append(point(f"10443720{i:014d}", address, rnd.choice(("77520", "77521", "77523", "77002")),
                          rnd.choice(("Active", "Active", "Active", "Inactive", "De-Energized"))))
    return rows


def fill(engine: sa.Engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        if not conn.execute(sa.select(raw_file.c.id).where(raw_file.c.id == 1)).first():
            conn.execute(raw_file.insert().values(
                id=1, sha256="0" * 64, filename="ercot/2026-06-01/test.zip", source="ercot", kind="unknown",
                size_bytes=0, storage_uri="test", received_at=NOW, status="normalized"))
        for start in range(0, len(rows), 5000):
            conn.execute(service_point.insert(), rows[start:start + 5000])


@pytest.fixture
def indexed(engine) -> sa.Engine:
    """The §2.6 sample row (with its overflow) among 400 look-alikes."""
    fill(engine, [point(SAMPLE, "206 BOXWOOD DR", address_overflow="APT 2",
                        premise_type="Small Non-Residential"), *distractors(400)])
    return engine


def search(engine, q, **kwargs):
    with engine.connect() as conn:
        return service_point_search.search(conn, q, **kwargs)


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_misspelled_query_finds_the_sample_first_on_postgres(indexed):
    results = search(indexed, "206 boxwod dr", zip5="77520")
    top = results[0]
    assert top["esiid"] == SAMPLE
    assert {k: top[k] for k in service_point_search.FIELDS} == {
        "esiid": SAMPLE, "tdsp": "CENTERPOINT", "address": "206 BOXWOOD DR", "address_overflow": "APT 2",
        "city": "BAYTOWN", "state": "TX", "zip": "77520", "premise_type": "Small Non-Residential", "status": "Active"}
    assert 0.3 <= top["score"] < 1
    # Premises with the same house number only (step 1 of the search), all in the ZIP.
    assert all(r["zip"] == "77520" and r["address"].startswith("206 ") for r in results) and len(results) >= 2
    assert search(indexed, "206 Boxwood Drive", zip5="77520")[0] == {**top, "score": 1.0}


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_zip_filter_and_ranking_order(indexed):
    assert search(indexed, "206 boxwod dr", zip5="77002")[0]["esiid"] != SAMPLE
    assert all(r["zip"] == "77002" for r in search(indexed, "206 boxwod dr", zip5="77002", limit=50))
    assert search(indexed, "206 boxwood dr", zip5="99999") == []
    everywhere = search(indexed, "206 boxwood dr", limit=50)
    assert {r["zip"] for r in everywhere} > {"77520"}
    keys = [(r["status"] == "Inactive", -r["score"], r["esiid"]) for r in everywhere]
    assert keys == sorted(keys)
    assert search(indexed, "!!! ...") == []


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_inactive_is_ranked_after_active(engine):
    fill(engine, [point("10443720000000000001", "77 LANTERN LN", status="Inactive"),
                  point("10443720000000000002", "77 LANTERN LN", status="De-Energized"),
                  point("10443720000000000003", "77 LANTERN LN")])
    found = [(r["esiid"][-1], r["status"]) for r in search(engine, "77 lantern lane")]
    assert found == [("2", "De-Energized"), ("3", "Active"), ("1", "Inactive")]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_sqlite_fallback_matches_tokens(indexed):
    results = search(indexed, "206 boxwood drive", zip5="77520")
    assert results[0]["esiid"] == SAMPLE and results[0]["address"] == "206 BOXWOOD DR"
    assert results[0]["score"] == 1.0
    # Every token is in every candidate's address (as a substring: "2060 BOXWOOD DR" is one, ranked lower).
    assert all(all(token in r["address"] for token in ("206", "BOXWOOD", "DR")) for r in results)
    assert search(indexed, "206 boxwod dr") == []  # no fuzzy matching without trigrams (documented)
    assert service_point_search.token_score(["206", "BOXWOOD"], "206 BOXWOOD", "2060 BOXWOOD DR") < \
        service_point_search.token_score(["206", "BOXWOOD"], "206 BOXWOOD", "206 BOXWOOD DR")


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_postgres_plan_uses_the_trigram_index(engine):
    rnd = random.Random(3)
    def street() -> str:  # varied names, as Texas has: no query trigram is in a large share of rows
        return "".join(rnd.choice("ABCDEFGHIJKLMNOPRSTUVWY") for _ in range(rnd.randint(5, 10)))

    rows = [point(f"10443720{i:014d}", f"{rnd.randint(1, 20000)} {street()} {rnd.choice(SUFFIXES)}",
                  f"77{rnd.randint(0, 999):03d}") for i in range(50_000)]
    fill(engine, rows)
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE service_point"))
        conn.execute(sa.text("SELECT set_config('pg_trgm.similarity_threshold', '0.3', true)"))
        plan = "\n".join(r[0] for r in conn.execute(
            sa.text("EXPLAIN " + service_point_search.statement(None).text), {"q": "206 BOXWOD DR", "limit": 10}))
        by_number = "\n".join(r[0] for r in conn.execute(
            sa.text("EXPLAIN " + service_point_search.statement(None, by_number=True).text),
            {"q": "206 BOXWOD DR", "prefix": "206 %", "t": 0.3, "limit": 10}))
    assert "Bitmap Index Scan on ix_service_point_norm_line1_trgm" in plan, plan
    assert "ix_service_point_norm_line1_prefix" in by_number, by_number


# --- the API ---------------------------------------------------------------------------------------

@pytest.fixture
def client(settings, indexed):
    app = create_app(dataclasses.replace(settings, api_keys=(API_KEY,)))
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_search_route(client, warehouse_url, monkeypatch):
    # The request log is read from its own logger: an earlier test's logging configuration (a dictConfig
    # disabling existing loggers, a level) must not decide what this test sees.
    api_log, seen = logging.getLogger("intelliwatt.api"), []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())
    monkeypatch.setattr(api_log, "disabled", False)
    monkeypatch.setattr(api_log, "level", logging.INFO)
    api_log.addHandler(handler)
    start = LOG_CAPTURE.stat().st_size
    q = "206 boxwood drive" if warehouse_url.startswith("sqlite") else "206 boxwod dr"
    ok = client.get("/api/v1/service-points/search", params={"q": q, "zip": "77520", "limit": 3},
                    headers={"x-api-key": API_KEY})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["results"][0]["esiid"] == SAMPLE and len(body["results"]) <= 3 and body["corrId"]
    assert client.get("/api/v1/service-points/search", params={"q": q}).status_code == 401
    for bad in ({"q": q, "zip": "7752"}, {"q": q, "zip": "77520-1234"}, {"q": "20"}, {"q": "x" * 201},
                {"q": q, "limit": 0}, {"q": q, "limit": 51}, {}):
        refused = client.get("/api/v1/service-points/search", params=bad, headers={"x-api-key": API_KEY})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "invalid_parameter"
    logged = LOG_CAPTURE.read_text()[start:]
    api_log.removeHandler(handler)
    lines = [line for line in seen if "/api/v1/service-points/search" in line]
    assert len(lines) >= 9 and all("q#" in line for line in lines if '"status": 200' in line)
    for secret in (q, q.upper(), normalize_line(q), "boxwo", "BOXWO", "77520"):
        assert secret not in logged and not any(secret in line for line in seen), secret
