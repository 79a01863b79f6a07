"""TDU delivery tariffs (vendor-apis.md §2.7): parsing, append-only versions, the as-of lookup, the
Dagster asset and checks, and the API route; on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm import tariffs
from intelliwatt_pipelines.cdm.tables import tdsp_tariff_version
from intelliwatt_pipelines.defs.tariffs import TDSP_TARIFFS_JOB, build_tariff_defs, curated_bytes
from intelliwatt_pipelines.sources.errors import ParseError
from intelliwatt_pipelines.sources.tdsp_tariffs import (
    Component,
    TariffVersion,
    parse_aep_report,
    parse_feed,
    parse_puct_report,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
D = dt.date.fromisoformat
API_KEY = "tariff-key"

# Hand-made from the component names §2.7 gives, laid out as pdftotext prints a rate report.
ONCOR_REPORT = """\
                 Oncor Electric Delivery Company LLC
            Retail Delivery Rates - Residential Service
                     Rates Effective 03/01/2025

  Charge                               Amount        Unit
  Customer Charge                      $1.31         per month
  Metering Charge                      $2.92         per month
  Volumetric Charge                    $0.055833     per kWh
"""
AEP_REPORT = """\
AEP Texas Retail Delivery Rates
Effective Date: September 1, 2025
                                   North           Central
Customer Charge                    $1.10           $1.15
Metering Charge                    $2.11           $2.06
Volumetric Charge ($/kWh)          $0.0579004      $0.0612984
"""


def version(start: str, per_kwh: float, monthly: float = 423, key: str | None = None, tdsp: str = "ONCOR"):
    return TariffVersion(tdsp_code=tdsp, effective_start=D(start), source_key=key or f"test:{tdsp}:{start}",
                         source_kind="CURATED_JSON",
                         components=(Component("Customer Charge", "CUSTOMER", "PER_MONTH", monthly),
                                     Component("Volumetric Charge", "DELIVERY", "PER_KWH", per_kwh)))


def ends(engine) -> dict:
    with engine.connect() as conn:
        return {(r.tdsp_code, r.effective_start): r.effective_end for r in conn.execute(sa.select(tdsp_tariff_version))}


# --- parsing (pure) ---------------------------------------------------------------------------------

def test_puct_text_sums_customer_and_metering():
    v = parse_puct_report(ONCOR_REPORT, "ONCOR")
    assert v.effective_start == D("2025-03-01") and v.source_kind == "PUCT_RATE_REPORT"
    by_name = {c.charge_name: (c.unit, c.rate_cents) for c in v.components}
    assert by_name == {"Customer Charge": ("PER_MONTH", 131.0), "Metering Charge": ("PER_MONTH", 292.0),
                       "Volumetric Charge": ("PER_KWH", 5.5833)}
    assert sum(c.rate_cents for c in v.components if c.unit == "PER_MONTH") == 423


def test_aep_report_columns_and_keys():
    north, central = parse_aep_report(AEP_REPORT, doc_sha256="ab" * 32)
    assert north.effective_start == central.effective_start == D("2025-09-01")
    assert {c.charge_name: c.rate_cents for c in north.components}["Volumetric Charge"] == 5.79004
    assert {c.charge_name: c.rate_cents for c in central.components}["Customer Charge"] == 115.0
    assert {c.charge_name: c.rate_cents for c in central.components}["Volumetric Charge"] == 6.12984
    assert north.source_key == "ab" * 32 and central.source_key == "ab" * 32 + ":AEP_CENTRAL"


def test_report_without_date_or_volumetric_is_refused():
    with pytest.raises(ParseError, match="Rates Effective"):
        parse_puct_report(ONCOR_REPORT.replace("Rates Effective 03/01/2025", ""), "ONCOR")
    with pytest.raises(ParseError, match="Volumetric"):
        parse_puct_report(ONCOR_REPORT.replace("Volumetric", "Other"), "ONCOR")


def test_flat_feed_of_the_replaced_system():
    data = json.dumps({"ONCOR": {"effectiveAt": "2025-09-01", "monthlyFeeCents": 395, "deliveryCentsPerKwh": 3.287,
                                 "notes": "TCRF incl."}}).encode()
    (v,) = parse_feed(data, source_url="https://example.test/tdsp.json")
    assert (v.tdsp_code, v.effective_start, v.notes) == ("ONCOR", D("2025-09-01"), "TCRF incl.")
    assert [(c.unit, c.rate_cents) for c in v.components] == [("PER_MONTH", 395.0), ("PER_KWH", 3.287)]
    assert len(v.source_key) == 64
    with pytest.raises(ParseError, match="unknown TDSP"):
        parse_feed(b'{"NOWHERE": {"effectiveAt": "2025-09-01", "monthlyFeeCents": 1, "deliveryCentsPerKwh": 1}}')


def test_curated_feed_parses_with_distinct_keys_and_honest_notes():
    versions = parse_feed(curated_bytes())
    assert {v.tdsp_code for v in versions} == {"ONCOR", "CENTERPOINT", "AEP_NORTH", "AEP_CENTRAL", "TNMP"}
    assert len({v.source_key for v in versions}) == len(versions)
    inferred = [v for v in versions if v.tdsp_code == "ONCOR" and v.effective_start > D("2024-11-01")]
    assert inferred and all("INFERRED" in v.notes for v in inferred)
    tnmp = [v for v in versions if v.tdsp_code == "TNMP" and v.effective_start == D("2026-03-01")]
    assert "mock table value from a test" in tnmp[0].notes


# --- versions and lookup (SQLite and PostgreSQL) ----------------------------------------------------

def test_later_version_closes_the_first_and_lookup_picks_by_day(engine):
    with engine.begin() as conn:
        first, created1 = tariffs.add_version(conn, version("2024-11-01", 5.1893), NOW)
        second, created2 = tariffs.add_version(conn, version("2025-03-01", 5.5833), NOW)
    assert created1 and created2
    assert ends(engine) == {("ONCOR", D("2024-11-01")): D("2025-03-01"), ("ONCOR", D("2025-03-01")): None}
    with engine.connect() as conn:
        assert tariffs.charges_as_of(conn, "ONCOR", D("2025-02-28")).version_id == first
        assert tariffs.charges_as_of(conn, "ONCOR", D("2025-03-01")).version_id == second
        assert tariffs.charges_as_of(conn, "ONCOR", D("2024-10-31")) is None
        assert tariffs.charges_as_of(conn, "TNMP", D("2025-03-01")) is None
    with engine.begin() as conn:
        assert tariffs.add_version(conn, version("2025-03-01", 5.5833), NOW) == (second, False)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tdsp_tariff_version)).scalar() == 2
        assert tariffs.overlaps(conn) == []


def test_earlier_version_inserted_late_ends_at_the_next(engine):
    with engine.begin() as conn:
        tariffs.add_version(conn, version("2024-11-01", 5.1893), NOW)
        tariffs.add_version(conn, version("2025-09-01", 5.5833), NOW)
        tariffs.add_version(conn, version("2025-03-01", 5.3), NOW)  # a back-filled report
        assert tariffs.overlaps(conn) == []
    assert ends(engine) == {("ONCOR", D("2024-11-01")): D("2025-03-01"), ("ONCOR", D("2025-03-01")): D("2025-09-01"),
                            ("ONCOR", D("2025-09-01")): None}
    with engine.connect() as conn:
        assert tariffs.charges_as_of(conn, "ONCOR", D("2025-05-01")).per_kwh_cents == 5.3


def test_per_kwh_in_hundredths_is_divided(engine):
    with engine.begin() as conn:
        tariffs.add_version(conn, version("2025-09-01", 558.33), NOW)
    with engine.connect() as conn:
        found = tariffs.charges_as_of(conn, "ONCOR", D("2026-01-15"))
    assert found.per_kwh_cents == 5.5833 and found.monthly_cents == 423


def test_puct_components_are_summed_in_the_lookup(engine):
    with engine.begin() as conn:
        tariffs.add_version(conn, parse_puct_report(ONCOR_REPORT, "ONCOR"), NOW)
    with engine.connect() as conn:
        found = tariffs.charges_as_of(conn, "ONCOR", D("2025-03-01"))
    assert (found.monthly_cents, found.per_kwh_cents) == (423, 5.5833)
    assert tariffs.delivery_cents(found, 948) == 5716


def test_overlap_check_finds_a_crafted_overlap(engine):
    with engine.begin() as conn:
        tariffs.add_version(conn, version("2024-11-01", 5.1893), NOW)
        tariffs.add_version(conn, version("2025-03-01", 5.5833), NOW)
        conn.execute(sa.update(tdsp_tariff_version).where(tdsp_tariff_version.c.effective_start == D("2024-11-01"))
                     .values(effective_end=None))  # what add_version never does
        found = tariffs.overlaps(conn)
    assert [(o["tdsp_code"], o["first_start"], o["second_start"]) for o in found] == [
        ("ONCOR", D("2024-11-01"), D("2025-03-01"))]


# --- Dagster: the curated file through a real run, the Gexa bill, the checks ------------------------

def run_tariffs(warehouse_url, instance):
    import dagster as dg

    from intelliwatt_pipelines.defs.resources import WarehouseResource

    parts = build_tariff_defs(None)
    defs = dg.Definitions(assets=parts["assets"], asset_checks=parts["asset_checks"], jobs=parts["jobs"],
                          schedules=parts["schedules"], resources={"warehouse": WarehouseResource(url=warehouse_url)})
    result = defs.resolve_job_def(TDSP_TARIFFS_JOB).execute_in_process(instance=instance)
    assert result.success
    return result, {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_curated_asset_reproduces_the_gexa_delivery_line(engine, warehouse_url, instance):
    result, checks = run_tariffs(warehouse_url, instance)
    assert checks["tdsp_tariffs_never_overlap"].passed and checks["tdsp_tariffs_cover_today"].passed
    with engine.connect() as conn:
        found = tariffs.charges_as_of(conn, "ONCOR", D("2026-01-15"))
        count = conn.execute(sa.select(sa.func.count()).select_from(tdsp_tariff_version)).scalar()
    assert (found.monthly_cents, found.per_kwh_cents) == (423, 5.5833)
    assert tariffs.delivery_cents(found, 948) == 5716  # the bill's "TDU Delivery Charges" $57.16
    again, _ = run_tariffs(warehouse_url, instance)  # idempotent: nothing new
    mat = again.asset_materializations_for_node("tdsp_tariffs")[0]
    assert mat.metadata["new"].value == 0 and mat.metadata["already_stored"].value == count


def test_overlap_check_fails_on_a_crafted_overlap(engine, warehouse_url, instance):
    run_tariffs(warehouse_url, instance)
    with engine.begin() as conn:
        conn.execute(sa.update(tdsp_tariff_version).where(tdsp_tariff_version.c.tdsp_code == "ONCOR")
                     .values(effective_end=None))
    _, checks = run_tariffs(warehouse_url, instance)
    assert not checks["tdsp_tariffs_never_overlap"].passed
    assert checks["tdsp_tariffs_never_overlap"].severity.value == "ERROR"


def test_schedule_is_on_and_daily_in_chicago():
    import dagster as dg

    (schedule,) = build_tariff_defs(None)["schedules"]
    assert (schedule.name, schedule.cron_schedule, schedule.execution_timezone) == (
        "tdsp_tariff_schedule", "15 9 * * *", "America/Chicago")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING and "no vendor" in schedule.description


# --- the API ----------------------------------------------------------------------------------------

def test_charges_route(settings, engine, warehouse_url, instance):
    run_tariffs(warehouse_url, instance)
    app = create_app(dataclasses.replace(settings, api_keys=(API_KEY,)))
    with TestClient(app) as client:
        got = client.get("/api/v1/tdsp/ONCOR/charges", params={"as_of": "2026-01-15"}, headers={"x-api-key": API_KEY})
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["tdsp"], body["as_of"], body["effective_start"]) == ("ONCOR", "2026-01-15", "2025-09-01")
        assert round(body["monthly_cents"] + body["per_kwh_cents"] * 948) == 5716
        assert {c["unit"] for c in body["components"]} == {"PER_MONTH", "PER_KWH"}
        assert client.get("/api/v1/tdsp/oncor/charges", headers={"x-api-key": API_KEY}).status_code == 200
        missing = client.get("/api/v1/tdsp/ONCOR/charges", params={"as_of": "2020-01-01"},
                             headers={"x-api-key": API_KEY})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert client.get("/api/v1/tdsp/NOWHERE/charges", headers={"x-api-key": API_KEY}).status_code == 422
        assert client.get("/api/v1/tdsp/ONCOR/charges", params={"as_of": "2025-02-30"},
                          headers={"x-api-key": API_KEY}).status_code == 422
        assert client.get("/api/v1/tdsp/ONCOR/charges").status_code == 401
