"""``rate_plans`` loading on SQLite and PostgreSQL: every file raw first, a bad file kept and marked without
stopping the others, each plan classified once, re-runs change nothing, a price change is a new version,
an unlisted plan is retired, and WattBuy offers become plans (averages only: never priced as fixed; a
variable one only approximately, when that mode is asked for)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import sqlalchemy as sa

from intelliwatt_pipelines.cdm import rate_plans
from intelliwatt_pipelines.cdm.tables import rate_plan, raw_file
from intelliwatt_pipelines.ingest import wattbuy
from intelliwatt_pipelines.ingest.rate_plans import load_plans
from intelliwatt_pipelines_tests.test_wattbuy import Recorder, client_for, fixture

DATA = Path(__file__).parent / "data" / "plans"
T0 = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
AS_OF = dt.date(2026, 1, 15)
FLAT = {"key": "test:oncor:flat", "supplierName": "Test Energy", "planName": "Flat", "tdspSlug": "oncor",
        "rateType": "fixed", "termMonths": None, "centsPerKwhJson": [{"minKwh": 0, "maxKwh": None, "centsPerKwh": 10}]}


def plans_by_key(engine) -> dict:
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(sa.select(rate_plan))}


def test_plans_load_raw_first_and_a_bad_file_loses_nothing(engine, store, tmp_path):
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "flat.json").write_text(json.dumps(FLAT))
    (folder / "broken.json").write_bytes(b'{"key": "x", "planName": ')
    shutil.copy(DATA / "champion-free-weekends-24.txt", folder)
    shutil.copy(DATA / "txu-masked-tdsp-example.txt", folder)
    load = load_plans(engine, store, folder, now=T0, as_of=AS_OF)
    assert load.counts == {"new": 6 + 3, "changed": 0, "seen": 0} and list(load.failed) == ["broken.json"]
    with engine.connect() as conn:
        files = {r.filename: r for r in conn.execute(sa.select(raw_file).where(raw_file.c.source == "plans"))}
    assert len(files) == 6 + 4 and files["broken.json"].status == "failed" and "not JSON" in files["broken.json"].error
    assert store.open(files["broken.json"].sha256).read() == b'{"key": "x", "planName": '
    plans = plans_by_key(engine)
    flat = plans["test:oncor:flat"]
    assert (flat.plan_calc_status, flat.term_months, flat.tdsp_code) == ("COMPUTABLE", None, "ONCOR")
    assert flat.raw_file_id == files["flat.json"].id
    champion = next(p for p in plans.values() if p.source == "efl" and "Free Weekends" in p.plan_name)
    assert champion.plan_calc_status == "COMPUTABLE", champion.plan_calc_reason
    assert set(json.loads(champion.required_bucket_keys)) >= {"kwh.m.weekday.total", "kwh.m.weekend.total"}
    txu = next(p for p in plans.values() if p.source == "efl" and p.supplier and "TXU" in p.supplier)
    assert txu.plan_calc_status == "NOT_COMPUTABLE" and txu.plan_calc_reason.startswith("MISSING_ENERGY_RATE")
    gexa = plans["gexa:oncor:eco-saver-12"]
    assert gexa.plan_calc_reason.startswith("UNSUPPORTED_COMBINED_STRUCTURES")


def test_a_rerun_changes_nothing_a_new_price_is_a_new_version_and_unlisted_plans_retire(engine, store, tmp_path):
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "flat.json").write_text(json.dumps(FLAT))
    load_plans(engine, store, folder, now=T0, as_of=AS_OF)
    before = plans_by_key(engine)
    again = load_plans(engine, store, folder, now=T0 + dt.timedelta(days=1), as_of=AS_OF)
    assert again.counts["new"] == again.counts["changed"] == 0 and plans_by_key(engine) == before
    cheaper = {**FLAT, "centsPerKwhJson": [{"minKwh": 0, "maxKwh": None, "centsPerKwh": 9.5}]}
    (folder / "flat.json").write_text(json.dumps(cheaper))
    later = T0 + dt.timedelta(days=2)
    assert load_plans(engine, store, folder, now=later, as_of=AS_OF).counts["changed"] == 1
    flat = plans_by_key(engine)["test:oncor:flat"]
    assert flat.id == before["test:oncor:flat"].id and flat.valid_from.replace(tzinfo=dt.UTC) == later
    (folder / "flat.json").unlink()
    assert load_plans(engine, store, folder, now=later, as_of=AS_OF).retired == 1
    with engine.connect() as conn:
        assert "test:oncor:flat" not in {p.external_id for p in rate_plans.candidate_plans(conn)}


def test_wattbuy_offers_become_plans_never_priced_exactly_from_averages(engine, store, tmp_path):
    wattbuy.refresh_offers(engine, store, client_for(Recorder((200, fixture("offers_75201.json")))), ["75201"])
    load = load_plans(engine, store, None, now=T0, as_of=AS_OF)
    offers = [p for p in plans_by_key(engine).values() if p.source == "wattbuy"]
    assert len(offers) == 4 and load.counts["new"] == 6 + 4
    verdicts = sorted((p.rate_type, p.plan_calc_status, p.plan_calc_reason.split(":")[0]) for p in offers)
    assert verdicts == [("FIXED", "NOT_COMPUTABLE", "MISSING_ENERGY_RATE"), ("UNKNOWN", "UNKNOWN", "no rate structure"),
                        ("UNKNOWN", "UNKNOWN", "no rate structure"), ("VARIABLE", "COMPUTABLE", "APPROXIMATE_ONLY")]
    assert all(p.rate_structure is None for p in offers if p.rate_type == "UNKNOWN")


def test_efls_with_unread_components_or_no_utility_are_not_computable(engine, store, tmp_path):
    from intelliwatt_pipelines_tests.test_pricing_efl import CLEANSKY
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "credit.txt").write_text(CLEANSKY.replace("Embrace Green 12", "Credit 12")
                                       + "A $30 bill credit applies when usage exceeds 1,000 kWh.\n")
    (folder / "nowhere.txt").write_text(CLEANSKY.replace("Service area: Oncor Electric Delivery", "")
                                        .replace("Oncor Charges", "TDU Charges").replace("Embrace Green 12", "Far 12"))
    (folder / "cleansky.txt").write_text(CLEANSKY)
    load_plans(engine, store, folder, now=T0, as_of=AS_OF)
    efl = {p.plan_name: p for p in plans_by_key(engine).values() if p.source == "efl"}
    assert efl["Credit 12"].plan_calc_reason == "UNPARSED_EFL_COMPONENT: bill credit"
    assert efl["Far 12"].plan_calc_reason.startswith("MISSING_TDSP_CODE")
    assert (efl["Embrace Green 12"].plan_calc_status, efl["Embrace Green 12"].plan_calc_reason) == ("COMPUTABLE", None)
