"""EFL parsing rules and the ±0.25 ¢ average-price validator (vendor-apis.md §2.8 c), and curated plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from intelliwatt_pipelines.pricing.efl_validator import solve_tdsp, validate_efl, validate_with_fallback
from intelliwatt_pipelines.pricing.engine import Tdsp
from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.pricing.requirements import plan_calc_status
from intelliwatt_pipelines.sources.efl import parse_efl, plan_from_efl
from intelliwatt_pipelines.sources.rate_plans import PlanParseError, parse_curated_plan

DATA = Path(__file__).parent / "data" / "plans"
SHARED_RATES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "plans" / "rates"
PACKAGED = Path(__file__).resolve().parents[1] / "intelliwatt_pipelines" / "data" / "rate_plans"

# Labelled fixtures rebuilt from the numbers of the replaced system's inline EFL tests (§2.8 c table).
CLEANSKY = """Electricity Facts Label
CleanSky Energy  Embrace Green 12
Service area: Oncor Electric Delivery
Average Monthly Use:        500 kWh      1,000 kWh      2,000 kWh
Average Price per kWh:       14.4¢         14.0¢         13.8¢
Energy Charge: 7.999¢ per kWh
Base Charge: $0.00 per month
Oncor Charges $4.23 per bill month and 5.5833¢ per kWh
Type of Product: Fixed Rate
Contract Term: 12 Months
"""
CONSTELLATION = """Electricity Facts Label
Constellation NewEnergy  Home Fixed 12
Service area: Texas-New Mexico Power (TNMP)
Average Monthly Use:        500 kWh      1,000 kWh      2,000 kWh
Average Price per kWh:       18.5¢         17.7¢         17.3¢
Energy Charge: 10.44¢ per kWh
Base Charge: $0.00 per month
TDU Delivery Charges as established by the PUCT will be passed through without mark-up.
Type of Product: Fixed Rate
Contract Term: 12 Months
"""


def test_champion_free_weekends_passes_at_16_53_16_11_15_89():
    parsed = parse_efl((DATA / "champion-free-weekends-24.txt").read_text())
    rs = parsed.rate_structure
    assert parsed.rate_type == "TIME_OF_USE" and rs.base_monthly_fee_cents == 0
    assert len(rs.time_of_use_periods) >= 2 and parsed.weekend_share == pytest.approx(0.3)
    assert (parsed.tdsp.per_kwh_cents, parsed.tdsp.monthly_cents) == (5.6032, 423.0)
    result = validate_efl(rs, Tdsp(5.6032, 423.0), parsed.avg_table, weekend_share=parsed.weekend_share)
    assert result.status == "PASS"
    assert [round(p.modeled, 2) for p in result.points] == [16.53, 16.11, 15.89]
    assert [p.expected for p in result.points] == [16.5, 16.1, 15.9]
    assert plan_calc_status(rs) == ("COMPUTABLE", None)


def test_cleansky_tdsp_is_extracted_and_the_averages_pass():
    parsed = parse_efl(CLEANSKY)
    assert (parsed.tdsp.monthly_cents, parsed.tdsp.per_kwh_cents) == (423, 5.5833)
    assert parsed.tdsp_code == "ONCOR" and parsed.term_months == 12
    assert (parsed.supplier, parsed.plan_name) == ("CleanSky Energy", "Embrace Green 12")
    result = validate_efl(parsed.rate_structure, Tdsp(parsed.tdsp.per_kwh_cents, parsed.tdsp.monthly_cents),
                          parsed.avg_table)
    assert result.status == "PASS"
    assert [round(p.modeled, 2) for p in result.points] == [14.43, 14.01, 13.79]


def test_constellation_tnmp_falls_back_to_the_solver_when_the_table_does_not_fit():
    parsed = parse_efl(CONSTELLATION)
    assert parsed.tdsp is None and parsed.tdsp_code == "TNMP"
    table = Tdsp(7.237, 785.0, "2026-03-01", "TNMP")  # the mock tariff table of the replaced system's test
    assert validate_efl(parsed.rate_structure, table, parsed.avg_table).status == "FAIL"
    result = validate_with_fallback(parsed.rate_structure, parsed.avg_table, table_tdsp=table)
    assert (result.status, result.tdsp_applied_mode) == ("PASS", "UTILITY_TABLE")
    assert result.solved.as_dict() == {"perKwhCents": 6.46, "monthlyCents": 800.0, "confidence": "LOW",
                                       "effectiveDateUsed": "derived_from_avg_table"}
    assert [round(p.modeled, 1) for p in result.points] == [18.5, 17.7, 17.3]


def test_txu_masked_tdsp_is_not_extractable_from_the_efl():
    parsed = parse_efl((DATA / "txu-masked-tdsp-example.txt").read_text())
    assert parsed.tdsp is None
    assert parsed.avg_table == {500: 15.8, 1000: 14.2, 2000: 13.5}
    assert any("TDSP_NOT_IN_EFL" in w for w in parsed.warnings)
    assert plan_calc_status(parsed.rate_structure)[0] == "NOT_COMPUTABLE"  # anchors only, no energy price


def test_frontier_160209_credit_fits_only_as_open_ended():
    """Averages 22.2 / 9.2 / 15.3 and a $125 credit at ≥ 1,000 kWh. With a REP energy price of 15 ¢ (any price
    high enough that no month clamps at $0), solving the rest from 1,000 and 2,000 kWh gives 6.4 ¢ and $3, so
    REP + TDU = 21.4 ¢/kWh, and 500 kWh checks (22.0 ¢); as a [1000, 2000) credit the 500 kWh point would be
    34.5 ¢."""
    table = {500: 22.2, 1000: 9.2, 2000: 15.3}

    def structure(credit: dict) -> RateStructure:
        return RateStructure.from_json_dict({"energyRateCents": 15, "billCredits": {"rules": [credit]}})

    open_ended = solve_tdsp(structure({"creditAmountCents": 12500, "minUsageKWh": 1000}), table, points=(1000, 2000))
    assert (open_ended.per_kwh_cents, open_ended.monthly_cents) == (6.4, 300.0)
    assert open_ended.check.ok and round(open_ended.check.modeled, 1) == 22.0
    bounded = solve_tdsp(structure({"creditAmountCents": 12500, "minUsageKWh": 1000, "maxUsageKWh": 2000}), table,
                         points=(1000, 2000))
    assert not bounded.ok and not bounded.check.ok and round(bounded.check.modeled, 1) == 34.5


def test_curated_plans_map_to_the_engine_model():
    gexa = parse_curated_plan((PACKAGED / "oncor_gexa-eco-saver-12.json").read_bytes())
    assert gexa.rate_structure.usage_tiers and gexa.rate_structure.time_of_use_periods
    assert plan_calc_status(gexa.rate_structure)[1].startswith("UNSUPPORTED_COMBINED_STRUCTURES")
    frontier = parse_curated_plan((PACKAGED / "centerpoint_frontier-simple-24.json").read_bytes())
    assert frontier.tdsp_code == "CENTERPOINT" and plan_calc_status(frontier.rate_structure) == ("COMPUTABLE", None)
    assert frontier.rate_structure.base_monthly_fee_cents == 995
    credit = parse_curated_plan((PACKAGED / "oncor_frontier-160209.json").read_bytes()).rate_structure.bill_credits
    assert [(r.min_usage_kwh, r.max_usage_kwh, r.credit_amount_cents) for r in credit.rules] == [(1000, None, 12500)]


def test_packaged_plans_are_the_shared_samples():
    for path in SHARED_RATES.glob("*.json"):
        assert (PACKAGED / path.name).read_bytes() == path.read_bytes()


def test_bad_plans_raise_clear_errors():
    with pytest.raises(PlanParseError):
        parse_curated_plan(b"{not json")
    with pytest.raises(PlanParseError, match="no plan name"):
        plan_from_efl("nothing here")


def test_an_efl_stating_its_tdu_charges_is_never_rescued_by_the_solver():
    """A parse that missed a $9.95 fee: its averages do not follow with the EFL's own TDU charges, and
    solving TDU charges from the table (which would absorb the fee) is not tried."""
    parsed = parse_efl(CLEANSKY)
    with_fee = {500: 16.42, 1000: 15.00, 2000: 14.29}
    stated = Tdsp(parsed.tdsp.per_kwh_cents, parsed.tdsp.monthly_cents)
    result = validate_with_fallback(parsed.rate_structure, with_fee, efl_tdsp=stated,
                                    table_tdsp=Tdsp(5.5833, 423.0, "2025-09-01", "ONCOR"))
    assert (result.status, result.tdsp_applied_mode, result.solved) == ("FAIL", "EFL", None)


def test_components_no_rule_reads_are_flagged():
    text = CLEANSKY + "A $30 bill credit applies when usage exceeds 1,000 kWh.\nMinimum Usage Fee: $9.95\n"
    warnings = parse_efl(text).warnings
    assert "UNPARSED_COMPONENT: bill credit" in warnings and "UNPARSED_COMPONENT: minimum usage fee" in warnings
    assert not [w for w in parse_efl((DATA / "champion-free-weekends-24.txt").read_text()).warnings
                if w.startswith("UNPARSED")]
