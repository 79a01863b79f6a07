"""Issue 16, HTTP side, on SQLite and PostgreSQL: CSV exports defuse spreadsheet formulas, Accept
is negotiated properly (406 when nothing fits), no redirect is built from the Host header, and
daily completeness is paged with the intervals' cursor contract."""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import io

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.api.negotiation import MediaType, choose
from intelliwatt_pipelines.api.render import SeriesColumns, series_csv
from intelliwatt_pipelines.api.routing import CSV, DAYS_DEFAULT, DAYS_MAX, JSON
from intelliwatt_pipelines.cdm.tables import daily_completeness, raw_file, raw_file_coverage, usage_interval
from intelliwatt_pipelines.cdm.warehouse import create_engine
from intelliwatt_pipelines_tests.test_api import (  # noqa: F401 (fixtures)
    CONSUMER,
    FALL,
    SPRING,
    api_settings,
    client,
    ingested,
)

UTC = dt.timezone.utc
ESIID = "10443720000000042"
FORMULAS = ['=HYPERLINK("http://x")', "@SUM(1)", "+1+1", "-1+1", "\tTAB", "\rCR"]


def add_raw_file(conn, name: str) -> int:
    return conn.execute(raw_file.insert().values(
        sha256=name.encode().hex().ljust(64, "0")[:64], filename=name, source="test", kind="interval",
        size_bytes=1, storage_uri=f"file:///{name}", received_at=dt.datetime.now(UTC), status="normalized")
        .returning(raw_file.c.id)).scalar_one()


def add_series(conn, raw_file_id: int, meter: str, channel: str, days: int, first=dt.date(2020, 1, 1)) -> None:
    """A series' coverage (how the API lists series) and one completeness row per day."""
    conn.execute(raw_file_coverage.insert().values(
        raw_file_id=raw_file_id, esiid=ESIID, meter=meter, channel=channel, first_local_date=first,
        last_local_date=first + dt.timedelta(days=days - 1), intervals=96 * days))
    conn.execute(daily_completeness.insert(), [dict(
        esiid=ESIID, meter=meter, channel=channel, local_date=first + dt.timedelta(days=i), interval_minutes=15,
        expected_intervals=96, actual_intervals=96, estimated_intervals=0, filled_intervals=0, kwh_real=1.5 + i,
        kwh_filled=0.0, completeness=1.0, status="complete") for i in range(days)])


# --- 1. CSV formula injection ------------------------------------------------------------------

@pytest.fixture
def hostile(api_settings, client):
    """Rows whose meter (or source) starts with a formula character, written straight into the
    canonical tables: what a file accepted before meter ids were validated at ingest left there."""
    engine = create_engine(api_settings.warehouse_url)
    ts = dt.datetime(2025, 6, 1, 5, tzinfo=UTC)
    with engine.begin() as conn:
        raw_file_id = add_raw_file(conn, "hostile.csv")
        for meter in [*FORMULAS, 'a,b "c"']:
            conn.execute(raw_file_coverage.insert().values(
                raw_file_id=raw_file_id, esiid=ESIID, meter=meter, channel="consumption",
                first_local_date=dt.date(2025, 6, 1), last_local_date=dt.date(2025, 6, 1), intervals=1))
            conn.execute(usage_interval.insert().values(
                esiid=ESIID, meter=meter, channel="consumption", ts_utc=ts, interval_minutes=15, kwh=-0.25,
                quality="actual", source="=1+1" if meter == "@SUM(1)" else "smt", raw_file_id=raw_file_id))
    engine.dispose()


@pytest.mark.parametrize("how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
def test_csv_export_defuses_formula_prefixes_in_every_text_cell(client, hostile, how):
    response = client.get(f"/api/v1/esiids/{ESIID}/intervals", params=how.get("params"),
                          headers={**CONSUMER, **how.get("headers", {})})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    by_meter = {r["meter"]: r for r in rows}
    assert set(by_meter) == {"'" + m for m in FORMULAS} | {'a,b "c"'}  # every formula cell starts with '
    assert '"\'=HYPERLINK(""http://x"")"' in response.text  # then quoted as CSV requires
    assert '"a,b ""c"""' in response.text  # a plain cell with a comma and quotes: quoted, not prefixed
    assert by_meter["'@SUM(1)"]["source"] == "'=1+1"
    assert {r["kwh"] for r in rows} == {"-0.25"}  # a negative number is a number, not text
    for r in rows:
        assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for key, value in r.items() if key != "kwh")


def test_series_csv_prefixes_text_cells_only():
    series = SeriesColumns("-5", "consumption", [1748754000], [15], [-1.5], ["actual"], ["@src"], [7], [None])
    assert series_csv(series).split(",")[2:] == ["'-5", "consumption", "15", "-1.5", "actual", "'@src", "7", "\n"]


# --- 2. Content negotiation -------------------------------------------------------------------

BOTH = (JSON, CSV)


@pytest.mark.parametrize("accept, offers, want", [
    (None, BOTH, JSON),  # no Accept: anything, the route's default
    ("", BOTH, JSON),
    ("*/*", BOTH, JSON),
    ("text/csv", BOTH, CSV),
    ("TEXT/CSV", BOTH, CSV),
    ("text/*", BOTH, CSV),
    ("application/*", BOTH, JSON),
    ("text/csvx", BOTH, None),  # exact media types: no substring matches
    ("text/csv;q=0", BOTH, None),  # q=0 is "not acceptable"
    ("text/csv;q=0, */*", BOTH, JSON),
    ("*/*;q=0.1, text/csv;q=0", BOTH, JSON),
    ("text/*;q=0.9, text/csv;q=0", BOTH, None),  # the most specific range decides
    ("text/csv, */*", BOTH, CSV),  # equal q: the range that names it beats */*
    ("text/csv, application/json", BOTH, JSON),  # equal q and specificity: the route's order
    ("application/json;q=0.5, text/csv", BOTH, CSV),
    ("text/csv;q=0.4,application/json;q=0.5", BOTH, JSON),
    ("text/csv; charset=UTF-8", BOTH, CSV),
    ('text/csv; charset="utf-8"; header=present', BOTH, CSV),
    ("text/csv; charset=latin1", BOTH, None),  # a parameter the offer does not have
    ("application/json; charset=utf-8", BOTH, JSON),
    ("text/csv;q=0.5;ext=1", BOTH, CSV),  # after q: an accept-extension, not a parameter
    ("text/csv;q=2", BOTH, None),  # malformed elements are ignored
    ("text/csv;q=0.1234", BOTH, None),
    ("garbage, text/csv", BOTH, CSV),
    ("*/csv", BOTH, None),
    ("text/csv", (JSON,), None),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", (JSON,), JSON),  # a browser
])
def test_choose_negotiates_media_ranges(accept, offers, want):
    assert choose(accept, offers) == want


def test_offers_are_plain_media_types():
    assert MediaType.parse("text/csv; charset=utf-8; header=present") == CSV
    with pytest.raises(ValueError):
        MediaType.parse("text/*")


def test_accept_chooses_the_representation_or_406(client, ingested):
    url = f"/api/v1/esiids/{FALL}/intervals"

    def get(accept, path=url, **params):
        return client.get(path, params=params, headers={**CONSUMER, **({"Accept": accept} if accept else {})})

    for accept, kind in [("text/csv", "text/csv"), ("text/csv;q=0.9, application/json;q=0.1", "text/csv"),
                         ("application/json", "application/json"), ("*/*", "application/json"),
                         ("text/csv;q=0, */*", "application/json")]:
        response = get(accept)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind), accept
        assert response.headers["vary"] == "Accept"
    for accept in ("text/csvx", "text/csv;q=0", "application/xml", "text/csv;q=0, application/json;q=0"):
        response = get(accept)
        assert response.status_code == 406, accept
        body = response.json()
        assert body["error"]["code"] == "not_acceptable" and "application/json or text/csv" in body["error"]["message"]
        assert body["corrId"] == response.headers["x-correlation-id"]
    # format= takes precedence over Accept, as before
    assert get("application/json", format="csv").headers["content-type"].startswith("text/csv")
    assert get("text/csv", format="json").headers["content-type"].startswith("application/json")
    # JSON-only routes: 406 for CSV only, JSON otherwise
    summary = f"/api/v1/esiids/{FALL}/summary"
    assert get("text/csv", summary).status_code == 406
    assert get("application/json;q=0.1, text/csv", summary).status_code == 200
    del client.headers["accept"]  # the test client sends */* unless told otherwise
    assert "accept" not in client.build_request("GET", url).headers
    assert get(None).headers["content-type"].startswith("application/json")
    assert get(None, summary).status_code == 200


def test_openapi_documents_406_and_completeness_paging(client):
    paths = client.get("/openapi.json").json()["paths"]
    completeness = paths["/api/v1/esiids/{esiid}/daily-completeness"]["get"]
    assert "406" in completeness["responses"] and "406" in paths["/api/v1/esiids/{esiid}/intervals"]["get"]["responses"]
    assert {"limit", "cursor"} <= {p["name"] for p in completeness["parameters"]}
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Completeness"]
    assert {"next_cursor", "count"} <= set(schema["required"])


# --- 3. Redirects -----------------------------------------------------------------------------

def test_no_redirect_is_built_from_the_host_header(api_settings, client):
    for path in ("/api/v1/health/", f"/api/v1/esiids/{FALL}/summary/"):
        response = client.get(path, headers={**CONSUMER, "Host": "evil.example"}, follow_redirects=False)
        assert response.status_code == 404 and "location" not in response.headers, path
        assert response.json()["error"]["code"] == "not_found"
        assert response.json()["corrId"] == response.headers["x-correlation-id"]
    base = dataclasses.replace(api_settings, public_base_url="https://api.intelliwatt.example/")
    with TestClient(create_app(base)) as configured:
        response = configured.get("/api/v1/health/", params={"x": "1"}, headers={"Host": "evil.example"},
                                  follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == "https://api.intelliwatt.example/api/v1/health?x=1"
        for path in ("/api/v1/nothing/", "/"):  # no route there: no redirect
            response = configured.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
            assert response.status_code == 404 and "location" not in response.headers, path


# --- 4. Daily completeness paging -------------------------------------------------------------

def completeness_pages(client, esiid, limit=None, **params) -> tuple[list[dict], int]:
    """Every page, following next_cursor: the rows and how many pages it took."""
    out, cursor, pages = [], None, 0
    while True:
        query = {**params, **({"limit": limit} if limit else {}), **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/esiids/{esiid}/daily-completeness", params=query, headers=CONSUMER)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["days"]) <= (limit or DAYS_DEFAULT)
        out += body["days"]
        cursor, pages = body["next_cursor"], pages + 1
        if not cursor:
            return out, pages
        assert pages < 10_000


@pytest.fixture
def many_days(api_settings, client):
    """1,200 days of one series and 30 of another: more than one default page."""
    engine = create_engine(api_settings.warehouse_url)
    with engine.begin() as conn:
        raw_file_id = add_raw_file(conn, "days.csv")
        add_series(conn, raw_file_id, "m2", "generation", 30, first=dt.date(2021, 6, 1))
        add_series(conn, raw_file_id, "m1", "consumption", 1200)
    yield engine
    engine.dispose()


def stored_days(engine, esiid) -> list[tuple]:
    c = daily_completeness.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.meter, c.channel, c.local_date).where(c.esiid == esiid)).all()
    return sorted((m, ch, d.isoformat()) for m, ch, d in rows)


def keys(days: list[dict]) -> list[tuple]:
    return [(d["meter"], d["channel"], d["date"]) for d in days]


@pytest.mark.slow
def test_daily_completeness_pages_every_row_exactly_once(client, many_days):
    want = stored_days(many_days, ESIID)
    got, pages = completeness_pages(client, ESIID)
    assert keys(got) == want and pages == 2  # 1,230 rows: a full default page, then the rest
    for limit in (1, 7, 29, 30, 1199, 1200, 1201, DAYS_MAX):  # pages ending on a series' end, and around it
        got, pages = completeness_pages(client, ESIID, limit=limit)
        assert keys(got) == want and pages == -(-len(want) // limit), limit
    got, _ = completeness_pages(client, ESIID, limit=50, start="2021-06-10", end="2021-06-12")
    assert keys(got) == [(m, c, d) for m, c, d in want if "2021-06-10" <= d <= "2021-06-12"]
    got, _ = completeness_pages(client, ESIID, limit=10, channel="generation")
    assert keys(got) == [k for k in want if k[1] == "generation"]


def test_daily_completeness_pages_the_samples(client, ingested):
    for esiid in (FALL, SPRING):
        want = stored_days(ingested, esiid)
        for limit in (1, 2, 3, 4, 5):
            assert keys(completeness_pages(client, esiid, limit=limit)[0]) == want, (esiid, limit)


def forge(parts) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def test_daily_completeness_refuses_tampered_cursors_and_oversized_pages(client, many_days):
    url = f"/api/v1/esiids/{ESIID}/daily-completeness"
    first = client.get(url, params={"limit": 10}, headers=CONSUMER).json()
    cursor = first["next_cursor"]
    for bad in ("garbage", cursor[:-3], cursor + "x", forge(["m1", "consumption", "0001-01-01"]),
                forge(["m1", "consumption", "2020-01-01T00:00:00+00:00"]),  # an intervals cursor
                forge(["m1", "consumption", "20200101"]),
                forge(["m1\x00", "consumption", "2020-01-01"]), forge({"meter": "m1"}), forge(["m1", "consumption"]),
                forge(["m1", 5, "2020-01-01"])):
        response = client.get(url, params={"cursor": bad}, headers=CONSUMER)
        assert response.status_code == 422, bad
        assert "cursor: not a cursor" in response.json()["error"]["message"]
    for limit in (0, DAYS_MAX + 1):
        response = client.get(url, params={"limit": limit}, headers=CONSUMER)
        assert response.status_code == 422 and "limit:" in response.json()["error"]["message"]
