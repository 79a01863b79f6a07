"""The plan estimate routes (list, detail, chart) over rows written straight into rate_plan, plan_estimate and
plan_estimate_current, on SQLite and PostgreSQL (conftest's ``warehouse_url``): ranking, limit, the detail
with its monthly breakdown, 404s, ESIID checks, and a chart that is well-formed XML whatever a plan is named."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.api.plan_chart import PALETTE, monthly_cost_svg
from intelliwatt_pipelines.cdm.tables import plan_estimate, plan_estimate_current, rate_plan
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines_tests.test_api import API_KEY, CONSUMER

HOME, OTHER, EMPTY = "10443720000000001", "1008901000000000000001", "10443720000000002"
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
HOSTILE = "A & B <Plan>"
SVG_NS = "{http://www.w3.org/2000/svg}"
BASE = f"/api/v1/esiids/{HOME}/plan-estimates"


def breakdown(annual: float) -> list[dict]:
    monthly = round(annual / 12, 2)
    return [{"year_month": ym, "kwh": 1000.0 + i, "rep_energy": monthly - 20, "rep_fixed": 5.0, "tdsp_delivery": 10.0,
             "tdsp_fixed": 4.23, "credits": 0.0, "minimum_usage_fee": 0.0, "minimum_bill_top_up": 0.0,
             "total": monthly + i} for i, ym in enumerate(MONTHS)]


def components(annual: float) -> dict:
    return {"rep": {"energy": annual - 170.76, "fixed": 60.0, "total": annual - 110.76},
            "tdsp": {"delivery": 60.0, "fixed": 50.76, "total": 110.76}, "credits": 0.0, "minimum_usage_fee": 0.0,
            "minimum_bill_top_up": 0.0, "total": annual}


def add_plan(conn, key: str, supplier: str | None, name: str) -> int:
    return conn.execute(sa.insert(rate_plan).values(
        source="curated", external_id=key, supplier=supplier, plan_name=name, term_months=12, tdsp_code="ONCOR",
        rate_type="FIXED", rate_structure="{}", rate_structure_sha256="0" * 64, plan_calc_status="COMPUTABLE",
        required_bucket_keys="[]", valid_from=NOW, updated_at=NOW).returning(rate_plan.c.id)).scalar_one()


def add_estimate(conn, esiid: str, plan_id: int, status: str, annual: float | None, *, current: bool = True,
                 as_of: dt.date = dt.date(2026, 1, 5), months=MONTHS, sha: str = "a") -> int:
    priced = annual is not None
    estimate_id = conn.execute(sa.insert(plan_estimate).values(
        esiid=esiid, rate_plan_id=plan_id, inputs_sha256=sha * 64, as_of=as_of, estimate_mode="DEFAULT",
        usage_months=json.dumps(months), annual_kwh=12066.0, status=status,
        reason=None if status == "OK" else f"{status}_REASON", annual_cost_dollars=annual,
        monthly_cost_dollars=round(annual / 12, 2) if priced else None,
        effective_cents_per_kwh=round(annual / 120.66, 4) if priced else None,
        confidence={"OK": "HIGH", "APPROXIMATE": "LOW"}.get(status),
        components_v2=json.dumps(components(annual)) if priced else None,
        tdsp_applied=json.dumps({"tdsp": "ONCOR", "per_kwh_cents": 5.5833, "monthly_cents": 423,
                                 "effective_date": "2025-09-01"}),
        monthly_breakdown=json.dumps(breakdown(annual)) if priced else None,
        drivers=json.dumps({"peak_month": "2025-12"}) if priced else None,
        notes=json.dumps(["TDSP from the tariff table"]), computed_at=NOW).returning(plan_estimate.c.id)).scalar_one()
    if current:
        conn.execute(sa.insert(plan_estimate_current).values(esiid=esiid, rate_plan_id=plan_id,
                                                             estimate_id=estimate_id, selected_at=NOW))
    return estimate_id


def seed(url: str) -> dict[str, int]:
    """Six plans for HOME, inserted out of rank order; an older (not current) estimate for one of them; one
    estimate (not priced) for OTHER; nothing for EMPTY."""
    engine = create_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        ids = {key: add_plan(conn, key, supplier, name) for key, supplier, name in (
            ("ok-1200", "Gexa Energy", "Saver 12"), ("not-impl", "Frontier", "Odd One"),
            ("hostile", "O'Brien \"Power\"", HOSTILE + "\x07"), ("approx", "Champion", "Indexed 1"),
            ("not-comp", "TXU", "Tiers+TOU"), ("ok-1100", None, "Twin Cost"))}
        add_estimate(conn, HOME, ids["ok-1200"], "OK", 5.0, current=False, as_of=dt.date(2025, 6, 1), sha="b")
        add_estimate(conn, HOME, ids["ok-1200"], "OK", 1200.0)
        add_estimate(conn, HOME, ids["not-impl"], "NOT_IMPLEMENTED", None)
        add_estimate(conn, HOME, ids["hostile"], "OK", 1100.0)
        add_estimate(conn, HOME, ids["approx"], "APPROXIMATE", 900.0, as_of=dt.date(2026, 1, 6),
                     months=MONTHS[1:] + ["2026-01"])
        add_estimate(conn, HOME, ids["not-comp"], "NOT_COMPUTABLE", None)
        add_estimate(conn, HOME, ids["ok-1100"], "OK", 1100.0)
        add_estimate(conn, OTHER, ids["ok-1200"], "NOT_COMPUTABLE", None)
    engine.dispose()
    return ids


@pytest.fixture
def plans(settings):
    return seed(settings.warehouse_url)


@pytest.fixture
def client(settings, plans):
    with TestClient(create_app(dataclasses.replace(settings, api_keys=(API_KEY,)))) as test_client:
        yield test_client


def test_list_ranks_by_status_then_cost_then_plan(client, plans):
    body = client.get(BASE, headers={**CONSUMER, "x-correlation-id": "plan-test-1"}).json()
    order = [plans[k] for k in ("hostile", "ok-1100", "ok-1200", "approx", "not-comp", "not-impl")]
    assert [e["plan_id"] for e in body["estimates"]] == order
    assert [e["status"] for e in body["estimates"]] == ["OK"] * 3 + ["APPROXIMATE", "NOT_COMPUTABLE", "NOT_IMPLEMENTED"]
    first = body["estimates"][0]
    assert first["plan_name"] == HOSTILE + "\x07" and first["annual_cost_dollars"] == 1100.0
    assert first["components_v2"]["tdsp"]["total"] == 110.76 and first["term_months"] == 12
    ok_1200 = body["estimates"][2]
    assert ok_1200["annual_cost_dollars"] == 1200.0  # the current estimate, not the older $5 one
    assert body["estimates"][4]["annual_cost_dollars"] is None and body["estimates"][4]["reason"]
    # as_of and usage_months: the newest estimate's (the APPROXIMATE one was computed a day later)
    assert body["as_of"] == "2026-01-06" and body["usage_months"] == MONTHS[1:] + ["2026-01"]
    assert body["esiid"] == HOME and body["corrId"] == "plan-test-1"


def test_limit_is_applied_and_bounded(client, plans):
    two = client.get(BASE, params={"limit": 2}, headers=CONSUMER).json()["estimates"]
    assert [e["plan_id"] for e in two] == [plans["hostile"], plans["ok-1100"]]
    assert len(client.get(BASE, params={"limit": 200}, headers=CONSUMER).json()["estimates"]) == 6
    for bad in (0, 201, "x"):
        response = client.get(BASE, params={"limit": bad}, headers=CONSUMER)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_parameter"


def test_detail_has_breakdown_and_plan_fields(client, plans):
    body = client.get(f"{BASE}/{plans['approx']}", headers=CONSUMER).json()
    assert body["plan_id"] == plans["approx"] and body["status"] == "APPROXIMATE" and body["confidence"] == "LOW"
    assert [m["year_month"] for m in body["monthly_breakdown"]] == MONTHS
    assert body["monthly_breakdown"][3]["total"] == 78.0 and body["monthly_breakdown"][0]["tdsp_fixed"] == 4.23
    assert body["drivers"] == {"peak_month": "2025-12"} and body["notes"] == ["TDSP from the tariff table"]
    assert body["tdsp_applied"]["per_kwh_cents"] == 5.5833 and body["inputs_sha256"] == "a" * 64
    assert body["computed_at"] == "2026-01-05T12:00:00Z" and body["as_of"] == "2026-01-06"
    assert (body["supplier"], body["source"], body["external_id"], body["tdsp_code"], body["rate_type"]) == \
        ("Champion", "curated", "approx", "ONCOR", "FIXED")
    unpriced = client.get(f"{BASE}/{plans['not-impl']}", headers=CONSUMER).json()
    assert unpriced["monthly_breakdown"] is None and unpriced["components_v2"] is None


def test_not_found_and_invalid(client, plans):
    for path in (f"/api/v1/esiids/{EMPTY}/plan-estimates", f"/api/v1/esiids/{EMPTY}/plan-estimates.svg",
                 f"{BASE}/999999", f"/api/v1/esiids/{OTHER}/plan-estimates/{plans['hostile']}"):
        response = client.get(path, headers=CONSUMER)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
        assert set(response.json()) == {"error", "corrId"}
    for esiid in ("12345", "1044372000000000X", "204437200000000011"):
        for suffix in ("plan-estimates", "plan-estimates.svg", f"plan-estimates/{plans['hostile']}"):
            response = client.get(f"/api/v1/esiids/{esiid}/{suffix}", headers=CONSUMER)
            assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_parameter", suffix
    for plan_id in ("0", "abc", str(2**63)):
        assert client.get(f"{BASE}/{plan_id}", headers=CONSUMER).status_code == 422
    for path in (BASE, f"{BASE}.svg", f"{BASE}/{plans['hostile']}"):
        assert client.get(path).status_code == 401
    assert client.get(BASE, headers={**CONSUMER, "accept": "text/csv"}).status_code == 406


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG_NS}svg"
    return root


def series_of(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "series"]


def test_chart_draws_one_escaped_series_per_priced_plan(client, plans):
    response = client.get(f"{BASE}.svg", headers=CONSUMER)
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    root = parse_svg(response.text)
    drawn = series_of(root)
    assert len(drawn) == 4  # three OK and the APPROXIMATE one; unpriced plans are not drawn
    titles = [g.find(f"{SVG_NS}title").text for g in drawn]
    assert titles[0] == "O'Brien \"Power\" – A & B <Plan>: $1,100.00/yr" and titles[3].startswith("Champion")
    assert all(len(g.findall(f"{SVG_NS}circle")) == 12 for g in drawn)
    assert "A &amp; B &lt;Plan&gt;" in response.text and "\x07" not in response.text
    legend = [t.text for t in root.iter(f"{SVG_NS}text") if t.text and "/yr" in t.text]
    assert len(legend) == 4 and "Twin Cost: $1,100.00/yr" in legend
    assert HOME not in response.text and mask(HOME) in response.text
    two = series_of(parse_svg(client.get(f"{BASE}.svg", params={"limit": 2}, headers=CONSUMER).text))
    assert len(two) == 2
    assert client.get(f"{BASE}.svg", params={"limit": 51}, headers=CONSUMER).status_code == 422


def test_chart_of_a_home_with_nothing_priced_says_so(client):
    response = client.get(f"/api/v1/esiids/{OTHER}/plan-estimates.svg", headers=CONSUMER)
    root = parse_svg(response.text)
    assert response.status_code == 200 and series_of(root) == []
    assert "No plan could be priced" in response.text


def test_request_log_masks_the_esiid(client, plans):
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("intelliwatt.api")
    logger.addHandler(handler)
    try:
        client.get(f"{BASE}/{plans['hostile']}", headers=CONSUMER)
    finally:
        logger.removeHandler(handler)
    record = json.loads(lines[-1])
    assert record["route"] == "/api/v1/esiids/{esiid}/plan-estimates/{plan_id}" and record["status"] == 200
    assert record["esiid"] == mask(HOME) and HOME not in lines[-1]


def test_chart_function_escapes_and_scales():
    many = [(f"P{i} <&>", [("2025-02", 10.0 * i), ("2025-01", 5.0)]) for i in range(12)]
    root = parse_svg(monthly_cost_svg(many, 'Title "quoted" & <b>'))
    assert len(series_of(root)) == 12 and root.find(f"{SVG_NS}title").text == 'Title "quoted" & <b>'
    lines = [p for p in root.iter(f"{SVG_NS}polyline")]
    assert lines[0].get("stroke") == PALETTE[0] and lines[len(PALETTE)].get("stroke-dasharray")
    months = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "month"]
    assert months == ["Jan 25", "Feb 25"]
    empty = parse_svg(monthly_cost_svg([], "\x00nothing"))
    assert series_of(empty) == [] and empty.find(f"{SVG_NS}title").text == "nothing"
    assert parse_svg(monthly_cost_svg([("nan", [("2025-01", float("nan"))])], "t")) is not None
    small = parse_svg(monthly_cost_svg([("tiny", [("2025-01", 1.6)])], "t"))
    assert [t.text for t in small.iter(f"{SVG_NS}text") if t.get("class") == "dollars"] == \
        ["$0.00", "$0.50", "$1.00", "$1.50", "$2.00"]
    big = parse_svg(monthly_cost_svg([("big", [("2025-01", 130.0)])], "t"))
    assert [t.text for t in big.iter(f"{SVG_NS}text") if t.get("class") == "dollars"] == ["$0", "$50", "$100", "$150"]
