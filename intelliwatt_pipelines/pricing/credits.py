"""Bill credits, minimum usage fees and the minimum bill, per month (vendor-apis.md §2.8 d).

Credits: a rule pays ``credit_amount_cents`` when min ≤ kWh < max. Open-ended rules ("$35 at 1,000 kWh or
more", "$15 more at 2,000") are additive, so they are normalized into non-overlapping segments
([1000, 2000) $35, [2000, ∞) $50); a bounded range may not overlap any other rule
(``UNSUPPORTED_CREDIT_COMBINATION``): which one would pay is a guess. A rule limited to some months is a
dimension the engine does not price (``UNSUPPORTED_CREDIT_DIMENSION``).

A negative amount is a minimum usage fee, charged when kWh < its threshold (exclusive): ``maxUsageKWh`` when
given, else ``minUsageKWh``. The minimum bill then tops the month's total up to ``minimumBill`` dollars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from intelliwatt_pipelines.pricing.model import BillCredits, CreditRule
from intelliwatt_pipelines.pricing.reasons import (
    UNSUPPORTED_CREDIT_COMBINATION,
    UNSUPPORTED_CREDIT_DIMENSION,
    Unpriceable,
)

ALL_MONTHS = frozenset(range(1, 13))


@dataclass(frozen=True)
class Segment:
    low: float
    high: float  # exclusive; inf for no upper end
    cents: float


@dataclass(frozen=True)
class Minimums:
    fees: tuple[tuple[float, float], ...] = ()  # (charged below this many kWh, cents)
    minimum_bill_cents: float | None = None

    @property
    def any(self) -> bool:
        return bool(self.fees) or self.minimum_bill_cents is not None


def split_rules(bill_credits: BillCredits | None) -> tuple[list[CreditRule], list[CreditRule]]:
    """(credit rules, minimum-usage-fee rules). Only fee rules is the replaced system's NO_CREDITS case. Fee
    rules count whatever ``hasBillCredit`` says (a fee-only structure may well say false); credit rules
    under ``hasBillCredit: false`` contradict it: UNSUPPORTED_CREDIT_COMBINATION, not a guess."""
    if bill_credits is None:
        return [], []
    credits = [r for r in bill_credits.rules if r.credit_amount_cents > 0]
    fees = [r for r in bill_credits.rules if r.credit_amount_cents < 0]
    if credits and not bill_credits.has_bill_credit:
        raise Unpriceable(f"{UNSUPPORTED_CREDIT_COMBINATION}: credit rules under hasBillCredit false")
    return credits, fees


def _check_months(rule: CreditRule) -> None:
    if rule.months_of_year is not None and frozenset(rule.months_of_year) != ALL_MONTHS:
        raise Unpriceable(f"{UNSUPPORTED_CREDIT_DIMENSION}: credit {rule.label or rule.credit_amount_cents} "
                          f"only in months {list(rule.months_of_year)}")


def credit_segments(rules: list[CreditRule]) -> tuple[Segment, ...]:
    """Non-overlapping credit segments, sorted by their lower end."""
    for rule in rules:
        _check_months(rule)
    open_ended = sorted((r for r in rules if r.max_usage_kwh is None), key=lambda r: r.min_usage_kwh)
    ranges = [Segment(r.min_usage_kwh, float(r.max_usage_kwh), r.credit_amount_cents)
              for r in rules if r.max_usage_kwh is not None]
    segments, paid = [], 0.0
    for rule, following in zip(open_ended, [*open_ended[1:], None], strict=False):
        paid += rule.credit_amount_cents
        high = math.inf if following is None else following.min_usage_kwh
        if high > rule.min_usage_kwh:
            segments.append(Segment(rule.min_usage_kwh, high, paid))
    start = open_ended[0].min_usage_kwh if open_ended else math.inf
    for index, one in enumerate(ranges):
        clash = one.high > start or any(one.low < other.high and other.low < one.high for other in ranges[index + 1:])
        if clash or one.high <= one.low:
            raise Unpriceable(f"{UNSUPPORTED_CREDIT_COMBINATION}: credit [{one.low:g}, {one.high:g}) kWh "
                              "overlaps another credit")
    return tuple(sorted([*segments, *ranges], key=lambda s: s.low))


def credit_cents(segments: tuple[Segment, ...], kwh: float) -> float:
    """The credit (positive cents) a month of ``kwh`` earns."""
    for segment in segments:
        if segment.low <= kwh < segment.high:
            return segment.cents
    return 0.0


def minimums(fee_rules: list[CreditRule], minimum_bill_dollars: float | None) -> Minimums:
    for rule in fee_rules:
        _check_months(rule)
    fees = tuple((float(r.max_usage_kwh if r.max_usage_kwh is not None else r.min_usage_kwh),
                  -float(r.credit_amount_cents)) for r in fee_rules)
    bill = None if minimum_bill_dollars is None else float(minimum_bill_dollars) * 100
    return Minimums(fees, bill)


def apply_minimums(subtotal_cents: float, kwh: float, rules: Minimums) -> tuple[float, float, float]:
    """(minimum usage fee, minimum-bill top-up, total), cents: fees below their threshold first, then the
    minimum bill clamps the total."""
    fee = sum(cents for below, cents in rules.fees if kwh < below)
    total = subtotal_cents + fee
    top_up = 0.0
    if rules.minimum_bill_cents is not None and total < rules.minimum_bill_cents:
        top_up = rules.minimum_bill_cents - total
    return fee, top_up, total + top_up
