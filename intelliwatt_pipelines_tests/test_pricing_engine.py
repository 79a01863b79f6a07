"""The cost engine against every expected number of vendor-apis.md §2.8 d (the replaced system's tests)."""

from __future__ import annotations

import pytest

from intelliwatt_pipelines.pricing import credits
from intelliwatt_pipelines.pricing.energy import TieredEnergy, compile_energy, fixed_rate
from intelliwatt_pipelines.pricing.engine import EngineInputs, Tdsp, price_plan
from intelliwatt_pipelines.pricing.indexed import anchor_rate, anchors
from intelliwatt_pipelines.pricing.inputs_key import inputs_sha256
from intelliwatt_pipelines.pricing.keys import TOTAL
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.requirements import (
    APPROXIMATE_ONLY,
    INTERVAL_PRICED,
    plan_calc_status,
    required_bucket_keys,
)

TIERS = [{"minKWh": 0, "maxKWh": 500, "centsPerKWh": 10}, {"minKWh": 500, "maxKWh": 1000, "centsPerKWh": 12},
         {"minKWh": 1000, "centsPerKWh": 15}]
NO_TDSP = Tdsp(0.0, 0.0)
CREDIT_50 = {"rules": [{"label": "$50 credit", "creditAmountCents": 5000, "minUsageKWh": 1000, "maxUsageKWh": 2000}]}


def rs(**data) -> RateStructure:
    return RateStructure.from_json_dict(data)


def months(*kwh: float, **windows: list[float]) -> dict[str, dict[str, float]]:
    """Consecutive months from 2025-01 with these totals (and window buckets by key, ``_`` for ``.``/``-``)."""
    out = {}
    for i, total in enumerate(kwh):
        ym = f"{2025 + i // 12}-{i % 12 + 1:02d}"
        out[ym] = {TOTAL: float(total)}
        for name, values in windows.items():
            out[ym][name.replace("__", "-").replace("_", ".")] = float(values[i])
    return out


def price(structure: RateStructure, usage: dict, tdsp: Tdsp | None = NO_TDSP, **kw):
    return price_plan(EngineInputs(structure, usage, tdsp, **kw))


def test_tiers_one_month_of_1200_kwh():
    energy = compile_energy(rs(usageTiers=TIERS))
    assert isinstance(energy, TieredEnergy)
    assert energy.tier_kwh(1200) == [500, 500, 200]
    assert energy.cents({TOTAL: 1200}, 1) == pytest.approx(14_000)


def test_tiers_twelve_months_cost_1680_dollars():
    result = price(rs(usageTiers=TIERS), months(*[1200] * 12))
    assert (result.status, result.annual_cost_dollars) == ("OK", 1680.00)
    assert result.monthly[0]["tier_kwh"] == [500, 500, 200]


def test_tiers_without_buckets_are_not_computable():
    result = price(rs(usageTiers=TIERS), {}, annual_kwh=14_400, months_count=12)
    assert result.status == "NOT_COMPUTABLE" and "MISSING_USAGE_BUCKETS" in result.reason


def test_tou_period_with_tiers_is_an_unsupported_combination():
    structure = rs(type="TIME_OF_USE", usageTiers=TIERS, timeOfUsePeriods=[
        {"startHour": 0, "endHour": 24, "rateCentsPerKwh": 10}])
    result = price(structure, months(1000))
    assert result.status == "NOT_COMPUTABLE" and "UNSUPPORTED_COMBINED_STRUCTURES" in result.reason
    assert plan_calc_status(structure)[0] == "NOT_COMPUTABLE"


def test_tiers_plus_a_credit_cost_1168_dollars():
    result = price(rs(usageTiers=TIERS, billCredits=CREDIT_50), months(*[900] * 11, 1200))
    assert (result.status, result.annual_cost_dollars) == ("OK", 1168.00)
    assert result.components_v2["credits"] == -50.00


def test_a_credit_limited_to_some_months_is_an_unsupported_dimension():
    credit = {"rules": [{**CREDIT_50["rules"][0], "monthsOfYear": [6, 7]}]}
    result = price(rs(usageTiers=TIERS, billCredits=credit), months(*[900] * 12))
    assert result.status == "NOT_COMPUTABLE" and "UNSUPPORTED_CREDIT_DIMENSION" in result.reason


HALF_DAY_TOU = rs(type="TIME_OF_USE", timeOfUsePeriods=[
    {"label": "morning", "startHHMM": "0000", "endHHMM": "1200", "rateCentsPerKwh": 10},
    {"label": "afternoon", "startHHMM": "1200", "endHHMM": "2400", "rateCentsPerKwh": 20}])


def test_tou_with_delivery_costs_214_dollars_for_one_month():
    usage = months(1000, **{"kwh_m_all_0000__1200": [400], "kwh_m_all_1200__2400": [600]})
    result = price(HALF_DAY_TOU, usage, Tdsp(5.0, 400.0), months_count=1)
    assert result.status == "OK", result.reason
    assert result.components_v2["rep"]["energy"] == 160.00
    assert result.components_v2["tdsp"] == {"delivery": 50.00, "fixed": 4.00, "total": 54.00}
    assert result.annual_cost_dollars == 214.00


def test_tou_windows_that_do_not_add_up_are_a_sum_mismatch():
    usage = months(1000, **{"kwh_m_all_0000__1200": [400], "kwh_m_all_1200__2400": [500]})
    result = price(HALF_DAY_TOU, usage, Tdsp(5.0, 400.0), months_count=1)
    assert result.status == "NOT_COMPUTABLE" and "USAGE_BUCKET_SUM_MISMATCH" in result.reason


def test_tou_with_a_missing_window_bucket_is_not_computable():
    usage = months(1000, **{"kwh_m_all_0000__1200": [400]})
    result = price(HALF_DAY_TOU, usage, Tdsp(5.0, 400.0), months_count=1)
    assert result.status == "NOT_COMPUTABLE" and "MISSING_USAGE_BUCKETS" in result.reason
    assert "kwh.m.all.1200-2400" in result.reason


def test_tou_plus_a_credit_costs_1060_dollars():
    structure = HALF_DAY_TOU.model_copy(update={"time_of_use_periods": tuple(
        p.model_copy(update={"rate_cents_per_kwh": 10.0}) for p in HALF_DAY_TOU.time_of_use_periods)})
    structure = structure.model_copy(update={"bill_credits": rs(billCredits=CREDIT_50).bill_credits})
    totals = [900] * 11 + [1200]
    usage = months(*totals, **{"kwh_m_all_0000__1200": [t / 2 for t in totals],
                               "kwh_m_all_1200__2400": [t / 2 for t in totals]})
    result = price(structure, usage)
    assert (result.status, result.annual_cost_dollars) == ("OK", 1060.00)


def credit_rules(*rules: dict) -> list:
    return list(rs(billCredits={"rules": list(rules)}).bill_credits.rules)


def test_a_range_credit_pays_below_its_exclusive_upper_end_only():
    segments = credits.credit_segments(credit_rules(
        {"creditAmountCents": 10_000, "minUsageKWh": 1000, "maxUsageKWh": 2000}))
    assert -credits.credit_cents(segments, 1999) == -10_000
    assert credits.credit_cents(segments, 2000) == 0
    assert credits.credit_cents(segments, 999.99) == 0


def test_additive_thresholds_become_segments():
    segments = credits.credit_segments(credit_rules(
        {"label": "$35 ≥ 1000", "creditAmountCents": 3500, "minUsageKWh": 1000},
        {"label": "$15 ≥ 2000", "creditAmountCents": 1500, "minUsageKWh": 2000}))
    assert [(s.low, s.high, s.cents) for s in segments] == [(1000, 2000, 3500), (2000, float("inf"), 5000)]


def test_overlapping_credit_ranges_are_an_unsupported_combination():
    structure = rs(energyRateCents=10, billCredits={"rules": [
        {"label": "A", "creditAmountCents": 1000, "minUsageKWh": 0, "maxUsageKWh": 2000},
        {"label": "B", "creditAmountCents": 2000, "minUsageKWh": 1000, "maxUsageKWh": 3000}]})
    result = price(structure, months(*[1500] * 12))
    assert result.status == "NOT_COMPUTABLE" and "UNSUPPORTED_CREDIT_COMBINATION" in result.reason


def test_only_negative_rules_are_minimum_fees_not_credits():
    credit, fees = credits.split_rules(rs(billCredits={"rules": [
        {"label": "Minimum Usage Fee", "creditAmountCents": -995, "minUsageKWh": 1000}]}).bill_credits)
    assert credit == [] and len(fees) == 1


def test_minimum_usage_fee_applies_below_its_threshold_only():
    rules = credits.minimums(credit_rules(
        {"label": "Minimum Usage Fee", "creditAmountCents": -995, "minUsageKWh": 1000}), None)
    assert credits.apply_minimums(10_000, 999, rules) == (995, 0, 10_995)
    assert credits.apply_minimums(10_000, 1000, rules) == (0, 0, 10_000)


def test_minimum_fee_then_minimum_bill_top_up():
    rules = credits.minimums(credit_rules(
        {"label": "Minimum Usage Fee", "creditAmountCents": -1000, "minUsageKWh": 0, "maxUsageKWh": 1000}), 50.0)
    assert credits.apply_minimums(3_000, 500, rules) == (1_000, 1_000, 5_000)


def test_minimums_through_the_engine_month_by_month():
    structure = rs(energyRateCents=6, billCredits={"rules": [
        {"label": "Minimum Usage Fee", "creditAmountCents": -1000, "minUsageKWh": 1000}]}, minimumBill=50)
    result = price(structure, months(500, 1200), months_count=2)
    first, second = result.monthly
    assert (first["minimum_usage_fee"], first["minimum_bill_top_up"], first["total"]) == (10.0, 10.0, 50.0)
    assert (second["minimum_usage_fee"], second["minimum_bill_top_up"], second["total"]) == (0.0, 0.0, 72.0)


INDEXED = rs(type="VARIABLE", __eflAvgPriceValidation={"points": [{"usageKwh": 1000, "modeledAvgCentsPerKwh": 20}]})


def test_indexed_plans_are_not_computable_by_default():
    result = price(INDEXED, {}, Tdsp(5.0, 0.0), annual_kwh=12_000, months_count=12)
    assert result.status == "NOT_COMPUTABLE" and "NON_DETERMINISTIC_PRICING_INDEXED" in result.reason


def test_indexed_plans_with_anchors_are_approximate_in_anchor_mode():
    result = price(INDEXED, {}, Tdsp(5.0, 0.0), annual_kwh=12_000, months_count=12,
                   estimate_mode="INDEXED_EFL_ANCHOR_APPROX")
    assert (result.status, result.confidence, result.annual_cost_dollars) == ("APPROXIMATE", "LOW", 3000.00)
    assert result.components_v2["rep"]["energy"] == 2400.00 and result.components_v2["tdsp"]["delivery"] == 600.00
    assert plan_calc_status(INDEXED) == ("COMPUTABLE", APPROXIMATE_ONLY)  # priced only in that mode
    bare = price(rs(type="INDEXED"), {}, Tdsp(5.0, 0.0), annual_kwh=12_000, estimate_mode="INDEXED_EFL_ANCHOR_APPROX")
    assert bare.status == "NOT_COMPUTABLE" and "NON_DETERMINISTIC_PRICING_INDEXED" in bare.reason


def test_anchor_interpolation_and_exact_points():
    two = anchors(rs(type="INDEXED", __eflAvgPriceValidation={"points": [
        {"usageKwh": 500, "modeledAvgCentsPerKwh": 20}, {"usageKwh": 1000, "modeledAvgCentsPerKwh": 10}]}))
    assert anchor_rate(two, 9_000 / 12) == (pytest.approx(15.0), "INTERP_500_1000")
    three = anchors(rs(type="INDEXED", __eflAvgPriceValidation={"points": [
        {"usageKwh": n, "modeledAvgCentsPerKwh": c} for n, c in ((500, 20), (1000, 18), (2000, 16))]}))
    assert anchor_rate(three, 12_000 / 12) == (18, "EXACT_1000")
    assert anchor_rate(three, 3_000) == (16, "EDGE_2000")


def test_all_days_tou_needs_its_window_buckets_and_is_not_fixed():
    structure = rs(type="TIME_OF_USE", energyRateCents=6.89, timeOfUsePeriods=[
        {"startHour": 21, "endHour": 6, "rateCentsPerKwh": 6.89},
        {"startHour": 6, "endHour": 21, "rateCentsPerKwh": 13.77}])
    assert {"kwh.m.all.2100-0600", "kwh.m.all.0600-2100"} <= set(required_bucket_keys(structure))
    assert fixed_rate(structure) is None
    assert plan_calc_status(structure) == ("COMPUTABLE", None)


def test_older_engine_flat_rate_components():
    structure = rs(energyRateCents=12.5, baseMonthlyFeeCents=495)
    result = price(structure, months(1000), Tdsp(3.2, 395.0), months_count=1)
    month = result.monthly[0]
    assert (month["rep_energy"], month["rep_fixed"], month["tdsp_delivery"]) == (125.00, 4.95, 32.00)
    assert result.annual_cost_dollars == pytest.approx(125 + 4.95 + 32 + 3.95)


def test_fixed_plan_from_annual_kwh_and_delivery_included():
    structure = rs(energyRateCents=10)
    annual = price(structure, {}, Tdsp(5.5833, 423.0), annual_kwh=12_000, months_count=12)
    assert annual.status == "OK" and annual.annual_cost_dollars == pytest.approx(1200 + 669.996 + 50.76, abs=0.01)
    included = price(rs(energyRateCents=15, tdspDeliveryIncludedInEnergyCharge=True), months(1000), Tdsp(5, 400))
    assert included.annual_cost_dollars == 150.00 and included.tdsp_applied == {"mode": "INCLUDED_IN_ENERGY"}


@pytest.mark.parametrize(("structure", "reason"), [
    (rs(), "MISSING_ENERGY_RATE"),
    (rs(energyRateCents=10, defaultRateCentsPerKwh=11), "AMBIGUOUS_ENERGY_RATE"),
    (rs(energyRateCents=250), "MISSING_ENERGY_RATE"),
    (rs(type="TIME_OF_USE", energyRateCents=10), "MISSING_TOU_PERIODS"),
    (rs(usageTiers=[{"minKWh": 100, "centsPerKWh": 10}]), "INVALID_USAGE_TIERS"),
    (rs(type="TIME_OF_USE", timeOfUsePeriods=[{"startHour": 0, "endHour": 12, "rateCentsPerKwh": 10}]),
     "TOU_PERIODS_DO_NOT_TILE_DAY"),
    (rs(energyRateCents=10, baseMonthlyFeeCents=500, repMonthlyChargeDollars=4.0), "AMBIGUOUS_BASE_CHARGE"),
])
def test_failure_reasons(structure, reason):
    result = price(structure, months(*[1000] * 12, **{"kwh_m_all_0000__1200": [500] * 12}))
    assert result.status == "NOT_COMPUTABLE" and result.reason.startswith(reason), result.reason
    assert plan_calc_status(structure) == ("NOT_COMPUTABLE", result.reason)


def test_fewer_months_than_needed_and_a_day_set_buckets_cannot_name():
    short = price(rs(energyRateCents=10), months(*[1000] * 11), months_count=12)
    assert short.status == "NOT_COMPUTABLE" and "need 12 months" in short.reason
    odd = rs(type="TIME_OF_USE", timeOfUsePeriods=[{"startHour": 0, "endHour": 24, "daysOfWeek": [1, 2, 3],
                                                    "rateCentsPerKwh": 10}])
    assert price(odd, months(1000)).status == "NOT_IMPLEMENTED"


def test_monthly_cents_are_rounded_then_clamped_and_drivers_name_the_costliest_months():
    structure = rs(energyRateCents=10.001, billCredits={"rules": [{"creditAmountCents": 100_000, "minUsageKWh": 0}]})
    result = price(structure, months(1000, 3000), months_count=2)
    assert [m["total"] for m in result.monthly] == [0.0, 0.0]  # 100.01 − 1,000 clamps to 0
    flat = price(rs(energyRateCents=10.0005), months(*[100 * (i + 1) for i in range(12)]), Tdsp(5, 400))
    assert flat.monthly[0]["total"] == round(100 * 10.0005 + 500 + 400) / 100
    assert [m["year_month"] for m in flat.drivers["top_months"]] == ["2025-12", "2025-11", "2025-10"]
    assert flat.drivers["components"][0]["component"] == "rep_energy" and "REP energy" in flat.drivers["summary"]


def test_the_inputs_hash_covers_every_input():
    base = EngineInputs(rs(energyRateCents=10), months(1000), Tdsp(5, 400, "2025-03-01"), months_count=1)
    same = EngineInputs(rs(energyRateCents=10.0), months(1000.0000001), Tdsp(5, 400, "2025-03-01"), months_count=1)
    assert inputs_sha256(base) == inputs_sha256(same)
    changes = [EngineInputs(rs(energyRateCents=11), months(1000), base.tdsp, months_count=1),
               EngineInputs(base.rate_structure, months(1001), base.tdsp, months_count=1),
               EngineInputs(base.rate_structure, months(1000), Tdsp(5, 400, "2025-09-01"), months_count=1),
               EngineInputs(base.rate_structure, months(1000), base.tdsp, months_count=12),
               EngineInputs(base.rate_structure, months(1000), base.tdsp, months_count=1,
                            estimate_mode="INDEXED_EFL_ANCHOR_APPROX")]
    assert len({inputs_sha256(c) for c in changes} | {inputs_sha256(base)}) == 6


@pytest.mark.parametrize("period", [
    {"startHHMM": "0075", "endHHMM": "1200"}, {"startHour": 24, "endHour": 6}, {"startHHMM": "2400", "endHHMM": "0600"},
    {"startHour": 0, "endHour": 12, "daysOfWeek": [7]}, {"startHour": 0, "endHour": 12, "daysOfWeek": []},
    {"startHour": 0, "endHour": 12, "months": [13]}, {"startHour": 0},
])
def test_tou_periods_that_are_not_times_of_day_are_refused(period):
    with pytest.raises(ValueError):
        rs(type="TIME_OF_USE", timeOfUsePeriods=[{"rateCentsPerKwh": 10, **period}])


def test_minimum_fees_count_whatever_has_bill_credit_says_and_credits_under_false_are_refused():
    fee_only = rs(energyRateCents=10, billCredits={"hasBillCredit": False, "rules": [
        {"label": "Minimum Usage Fee", "creditAmountCents": -995, "minUsageKWh": 1000}]})
    assert price(fee_only, months(500), months_count=1).monthly[0]["minimum_usage_fee"] == 9.95
    contradiction = rs(energyRateCents=10, billCredits={"hasBillCredit": False, "rules": [
        {"creditAmountCents": 5000, "minUsageKWh": 1000}]})
    result = price(contradiction, months(1500), months_count=1)
    assert result.status == "NOT_COMPUTABLE" and "UNSUPPORTED_CREDIT_COMBINATION" in result.reason


def test_day_sets_buckets_cannot_name_are_interval_priced_when_they_tile():
    midweek = rs(type="TIME_OF_USE", timeOfUsePeriods=[
        {"startHour": 22, "endHour": 6, "daysOfWeek": [1, 2, 3], "rateCentsPerKwh": 5},
        {"startHour": 6, "endHour": 22, "daysOfWeek": [1, 2, 3], "rateCentsPerKwh": 20},
        {"startHour": 22, "endHour": 6, "daysOfWeek": [0, 4, 5, 6], "rateCentsPerKwh": 7},
        {"startHour": 6, "endHour": 22, "daysOfWeek": [0, 4, 5, 6], "rateCentsPerKwh": 12}])
    assert plan_calc_status(midweek) == ("COMPUTABLE", INTERVAL_PRICED)
    gap = midweek.model_copy(update={"time_of_use_periods": midweek.time_of_use_periods[:3]})
    assert plan_calc_status(gap)[1].startswith("TOU_PERIODS_DO_NOT_TILE_DAY")
    bad_credit = midweek.model_copy(update={"bill_credits": rs(billCredits={"rules": [
        {"creditAmountCents": 100, "minUsageKWh": 0, "maxUsageKWh": 900},
        {"creditAmountCents": 100, "minUsageKWh": 500, "maxUsageKWh": 1500}]}).bill_credits})
    assert plan_calc_status(bad_credit)[1].startswith("UNSUPPORTED_CREDIT_COMBINATION")
