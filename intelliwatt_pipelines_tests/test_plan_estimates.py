"""``ingest.plan_estimates`` on SQLite and PostgreSQL, from buckets written here: one immutable row per
(home, plan, inputs hash), unchanged inputs write nothing, inputs seen before point back at their row, a
bucket change recomputes only that home, and every fail-closed case comes out NOT_COMPUTABLE with its reason."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa

from intelliwatt_pipelines.cdm import tariffs
from intelliwatt_pipelines.cdm.tables import plan_estimate, plan_estimate_current, usage_bucket
from intelliwatt_pipelines.cdm.usage_buckets import MonthBuckets
from intelliwatt_pipelines.defs.tariffs import feed_versions
from intelliwatt_pipelines.ercot_samples import constructed_name, extract_row, write_extract_zip
from intelliwatt_pipelines.ingest import ercot
from intelliwatt_pipelines.ingest.plan_estimates import Analysis, estimate_homes, inputs_fingerprint, usage_window
from intelliwatt_pipelines.ingest.rate_plans import load_plans

T0 = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
RUN = Analysis(as_of=dt.date(2026, 1, 15), now=T0)
HOME, SHORT, NOWHERE = "10443720000000001", "10443720000000002", "10443720000000003"
FLAT = {"key": "test:oncor:flat", "supplierName": "Test Energy", "planName": "Flat", "tdspSlug": "oncor",
        "rateType": "fixed", "centsPerKwhJson": [{"minKwh": 0, "maxKwh": None, "centsPerKwh": 10}]}
TNMP = {**FLAT, "key": "test:tnmp:flat", "tdspSlug": "tnmp"}


def add_months(conn, esiid: str, months: int, kwh: float = 1000.0, complete: bool = True) -> None:
    for i in range(months):
        ym = f"2025-{i + 1:02d}"
        conn.execute(sa.insert(usage_bucket).values(
            esiid=esiid, year_month=ym, bucket_key="kwh.m.all.total", kwh=kwh + i, intervals=2976,
            complete_days=31 if complete else 30, expected_days=31, computed_at=T0))


def premises(engine, store, folder, esiids: list[str], tdsp: str = "ONCOR", day: int = 2) -> None:
    """The homes' premises through the real ERCOT extract path (a full file listing them)."""
    folder.mkdir(exist_ok=True)
    rows = []
    for esiid in esiids:
        row = extract_row(0, random.Random(esiid), tdsp)
        rows.append([esiid, *row[1:9], "Active", *row[10:]])
    published, token = dt.datetime(2026, 1, day, 6, 0), {"ONCOR": "ONCOR_ELEC"}.get(tdsp, tdsp)
    write_extract_zip(folder / constructed_name(token, "FUL", published), rows, member_name=f"{token}_FUL_1.csv")
    ercot.take_local(engine, store, folder, now=T0)
    assert [o.status for o in ercot.apply_pending(engine, store, now=T0)] == ["applied"]


@pytest.fixture
def warehouse(engine, store, tmp_path):
    folder = tmp_path / "plans"
    folder.mkdir()
    for plan in (FLAT, TNMP):
        (folder / f"{plan['key'].split(':')[-2]}.json").write_text(json.dumps(plan))
    with engine.begin() as conn:
        for version in feed_versions()[0]:
            if version.tdsp_code != "TNMP":  # one utility without a tariff: its plans must fail closed
                tariffs.add_version(conn, version, T0)
        add_months(conn, HOME, 12)
        add_months(conn, SHORT, 11)
        add_months(conn, NOWHERE, 12)
    premises(engine, store, tmp_path / "ercot", [HOME, SHORT])  # NOWHERE's utility is not known
    load_plans(engine, store, folder, now=T0, as_of=RUN.as_of)
    return engine


def estimates(engine, esiid: str) -> dict[str, dict]:
    """The home's current estimate per plan (by external id), with the plan's stored rate structure."""
    from intelliwatt_pipelines.cdm.tables import rate_plan
    query = sa.select(rate_plan.c.external_id, rate_plan.c.rate_structure, plan_estimate).select_from(
        plan_estimate_current.join(plan_estimate, plan_estimate.c.id == plan_estimate_current.c.estimate_id)
        .join(rate_plan, rate_plan.c.id == plan_estimate_current.c.rate_plan_id)).where(
        plan_estimate_current.c.esiid == esiid)
    with engine.connect() as conn:
        return {r.external_id: r._asdict() for r in conn.execute(query)}


def rows(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(plan_estimate))


def test_estimates_are_priced_once_and_fail_closed(warehouse):
    run = estimate_homes(warehouse, [HOME, SHORT, NOWHERE], RUN)
    assert run.homes == 3 and run.computed == rows(warehouse) and run.unchanged == run.reused == 0
    home = estimates(warehouse, HOME)
    flat = home["test:oncor:flat"]
    total_kwh = sum(1000 + i for i in range(12))
    assert flat["status"] == "OK" and flat["annual_cost_dollars"] == pytest.approx(
        sum(round((1000 + i) * 15.5833 + 423) for i in range(12)) / 100)
    assert flat["annual_kwh"] == total_kwh and json.loads(flat["tdsp_applied"])["per_kwh_cents"] == 5.5833
    # only the home's utility's plans: never a CenterPoint or TNMP plan priced with their tariffs
    assert "test:tnmp:flat" not in home and "frontier:centerpoint:simple-24" not in home
    assert home["gexa:oncor:eco-saver-12"]["reason"].startswith("UNSUPPORTED_COMBINED_STRUCTURES")
    assert all(e["status"] == "NOT_COMPUTABLE" for k, e in home.items() if k != "test:oncor:flat")
    short = estimates(warehouse, SHORT)["test:oncor:flat"]
    assert short["status"] == "NOT_COMPUTABLE" and "need 12 months" in short["reason"]
    assert estimates(warehouse, NOWHERE) == {} and run.no_utility == 1


def test_a_utility_without_a_tariff_fails_closed(warehouse, store, tmp_path):
    tnmp = "10400510000000001"
    with warehouse.begin() as conn:
        add_months(conn, tnmp, 12)
    premises(warehouse, store, tmp_path / "ercot-tnmp", [tnmp], "TNMP")
    estimate_homes(warehouse, [tnmp], RUN)
    assert estimates(warehouse, tnmp)["test:tnmp:flat"]["reason"].startswith("MISSING_TDSP_TARIFF")


def test_a_home_without_usable_months_is_never_priced_from_fixed_charges_alone(warehouse):
    with warehouse.begin() as conn:
        conn.execute(sa.update(usage_bucket).where(usage_bucket.c.esiid == HOME).values(complete_days=20))
    estimate_homes(warehouse, [HOME], RUN)
    flat = estimates(warehouse, HOME)["test:oncor:flat"]
    assert flat["status"] == "NOT_COMPUTABLE" and flat["annual_cost_dollars"] is None
    assert "MISSING_USAGE_BUCKETS" in flat["reason"]


def test_the_year_is_each_calendar_month_once_and_recent():
    """The latest usable instance of each calendar month in the 24 months before the analysis month."""
    month = lambda complete=31: MonthBuckets({"kwh.m.all.total": 1.0}, complete, 31)  # noqa: E731
    months = {f"{y}-{m:02d}": month() for y in (2023, 2024) for m in range(1, 13)}
    months["2024-01"] = month(20)  # unusable: January comes from 2023
    window = usage_window(months, 1.0, dt.date(2025, 1, 15))
    assert sorted(window) == ["2023-01", *[f"2024-{m:02d}" for m in range(2, 13)]]
    assert len(usage_window(months, 1.0, dt.date(2026, 2, 1))) == 11  # 2024-02 .. 2024-12 within 24 months
    assert usage_window(months, 1.0, dt.date(2027, 1, 1)) == {}  # all older
    assert "2025-01" not in usage_window({**months, "2025-01": month()}, 1.0, dt.date(2025, 1, 15))


def test_unchanged_inputs_write_nothing_and_seen_inputs_are_reused(warehouse):
    estimate_homes(warehouse, [HOME, SHORT], RUN)
    before = rows(warehouse)
    again = estimate_homes(warehouse, [HOME, SHORT], RUN)
    assert (again.computed, again.reused, rows(warehouse)) == (0, 0, before) and again.unchanged > 0
    with warehouse.begin() as conn:
        conn.execute(sa.update(usage_bucket).where(usage_bucket.c.esiid == HOME, usage_bucket.c.year_month == "2025-06")
                     .values(kwh=1234.5))
    changed = estimate_homes(warehouse, [HOME, SHORT], RUN)
    per_home = len(estimates(warehouse, HOME))
    assert changed.computed == per_home and rows(warehouse) == before + per_home  # only HOME, a new row each
    with warehouse.begin() as conn:
        conn.execute(sa.update(usage_bucket).where(usage_bucket.c.esiid == HOME, usage_bucket.c.year_month == "2025-06")
                     .values(kwh=1005.0))
    back = estimate_homes(warehouse, [HOME], RUN)
    assert (back.computed, back.reused) == (0, per_home) and rows(warehouse) == before + per_home


def test_the_fingerprint_moves_with_the_tariff_day_and_the_mode(warehouse):
    base = inputs_fingerprint(warehouse, RUN)
    assert inputs_fingerprint(warehouse, RUN) == base
    assert inputs_fingerprint(warehouse, Analysis(as_of=dt.date(2026, 3, 2), now=T0)) != base  # Mar 1 tariff
    assert inputs_fingerprint(warehouse, Analysis(as_of=RUN.as_of, mode="INDEXED_EFL_ANCHOR_APPROX")) != base


def test_a_new_classification_or_a_utility_found_later_is_a_new_estimate(warehouse, store, tmp_path):
    from intelliwatt_pipelines.cdm.tables import rate_plan
    estimate_homes(warehouse, [HOME, NOWHERE], RUN)
    fingerprint = inputs_fingerprint(warehouse, RUN)
    with warehouse.begin() as conn:  # the same prices, classified otherwise (a rule changed)
        conn.execute(sa.update(rate_plan).where(rate_plan.c.external_id == "test:oncor:flat").values(
            plan_calc_status="NOT_COMPUTABLE", plan_calc_reason="EFL_VALIDATION_FAILED: test"))
    assert inputs_fingerprint(warehouse, RUN) != fingerprint
    run = estimate_homes(warehouse, [HOME, NOWHERE], RUN)
    assert run.computed == 1 and estimates(warehouse, HOME)["test:oncor:flat"]["reason"] == "EFL_VALIDATION_FAILED: test"
    fingerprint = inputs_fingerprint(warehouse, RUN)
    premises(warehouse, store, tmp_path / "ercot-later", [HOME, SHORT, NOWHERE], day=3)
    assert inputs_fingerprint(warehouse, RUN) != fingerprint
    later = estimate_homes(warehouse, [HOME, NOWHERE], RUN)
    assert later.no_utility == 0 and set(estimates(warehouse, NOWHERE)) == set(estimates(warehouse, HOME))
