"""The engine's rate-structure model (vendor-apis.md §2.8 b, the replaced system's ``RatePlan.rateStructure``).

Field aliases are the replaced system's JSON names, so a structure it stored loads as is; attribute names are
ours. ``canonical_json`` is what every estimate's inputs hash covers: the same structure always hashes alike.
Validation here is about shape only; whether the engine can price a structure (one fixed rate, contiguous
tiers, TOU periods that tile the day…) is the engine's fail-closed decision, with a reason.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from intelliwatt_pipelines.pricing.keys import MINUTES_PER_DAY

RATE_TYPES = ("FIXED", "VARIABLE", "INDEXED", "TIME_OF_USE")
ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)  # JavaScript getDay(): 0 = Sunday … 6 = Saturday


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


class UsageTier(_Model):
    """Energy price for the monthly kWh in [min_kwh, max_kwh) (max None: no upper end)."""

    min_kwh: float = Field(alias="minKWh", ge=0)
    max_kwh: float | None = Field(default=None, alias="maxKWh")
    cents_per_kwh: float = Field(alias="centsPerKWh")


class TouPeriod(_Model):
    """A time-of-use window, by local start time: hours (``startHour``/``endHour``) or ``startHHMM``/``endHHMM``
    (``"2100"``). An overnight period (start > end) wraps midnight; its ``daysOfWeek`` are the days it starts
    on. ``months`` (1..12) limits it to those months."""

    label: str = ""
    start_hour: int | None = Field(default=None, alias="startHour", ge=0, le=24)
    end_hour: int | None = Field(default=None, alias="endHour", ge=0, le=24)
    start_hhmm: str | None = Field(default=None, alias="startHHMM", pattern=r"^\d{4}$")
    end_hhmm: str | None = Field(default=None, alias="endHHMM", pattern=r"^\d{4}$")
    days_of_week: tuple[int, ...] = Field(default=ALL_DAYS, alias="daysOfWeek")
    months: tuple[int, ...] | None = None
    rate_cents_per_kwh: float = Field(alias="rateCentsPerKwh")

    @field_validator("start_hhmm", "end_hhmm")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and (int(value[2:]) >= 60 or int(value) > 2400):
            raise ValueError(f"{value!r} is not a time of day (0000..2400)")
        return value

    @field_validator("days_of_week")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(d not in ALL_DAYS for d in value):
            raise ValueError("daysOfWeek are 0 (Sunday) .. 6 (Saturday), at least one")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or any(not 1 <= m <= 12 for m in value)):
            raise ValueError("months are 1 .. 12, at least one")
        return value

    @model_validator(mode="after")
    def _start_within_the_day(self) -> TouPeriod:
        if self.start_minute >= MINUTES_PER_DAY:  # 24:00 is only an end
            raise ValueError("a period cannot start at 24:00")
        self.end_minute  # noqa: B018 - raises when neither form of the end is given
        return self

    @property
    def start_minute(self) -> int:
        return _minute(self.start_hhmm, self.start_hour)

    @property
    def end_minute(self) -> int:
        """Minutes after midnight; 1440 for 24:00 (an end of 0 on a period that starts later means midnight)."""
        end = _minute(self.end_hhmm, self.end_hour)
        return MINUTES_PER_DAY if end == 0 and self.start_minute > 0 else end


def _minute(hhmm: str | None, hour: int | None) -> int:
    if hhmm is not None:
        return int(hhmm[:2]) * 60 + int(hhmm[2:])
    if hour is None:
        raise ValueError("a TOU period needs startHour/endHour or startHHMM/endHHMM")
    return hour * 60


class CreditRule(_Model):
    """A monthly bill credit of ``credit_amount_cents`` when min ≤ kWh < max (max None: no upper end).
    A negative amount labelled "Minimum Usage Fee" is a fee charged below ``min_usage_kwh`` instead."""

    label: str = ""
    credit_amount_cents: float = Field(alias="creditAmountCents")
    min_usage_kwh: float = Field(default=0, alias="minUsageKWh", ge=0)
    max_usage_kwh: float | None = Field(default=None, alias="maxUsageKWh")
    months_of_year: tuple[int, ...] | None = Field(default=None, alias="monthsOfYear")


class BillCredits(_Model):
    has_bill_credit: bool = Field(default=True, alias="hasBillCredit")
    rules: tuple[CreditRule, ...] = ()


class AnchorPoint(_Model):
    """An EFL average price: ``modeledAvgCentsPerKwh`` (all charges, TDU included) at ``usageKwh`` a month."""

    usage_kwh: float = Field(alias="usageKwh", gt=0)
    modeled_avg_cents_per_kwh: float = Field(alias="modeledAvgCentsPerKwh", ge=0)


class AvgPriceValidation(_Model):
    points: tuple[AnchorPoint, ...] = ()


class RateStructure(_Model):
    """A plan's prices. Energy: one fixed rate (any one of the four rate fields), tiers or TOU periods.
    Fixed monthly charge: ``baseMonthlyFeeCents`` or, in dollars, ``repMonthlyChargeDollars`` /
    ``monthlyBaseChargeDollars``. ``minimumBill`` is in dollars."""

    type: Literal[RATE_TYPES] = "FIXED"
    energy_rate_cents: float | None = Field(default=None, alias="energyRateCents")
    rep_energy_cents_per_kwh: float | None = Field(default=None, alias="repEnergyCentsPerKwh")
    energy_charge_cents_per_kwh: float | None = Field(default=None, alias="energyChargeCentsPerKwh")
    default_rate_cents_per_kwh: float | None = Field(default=None, alias="defaultRateCentsPerKwh")
    base_monthly_fee_cents: float | None = Field(default=None, alias="baseMonthlyFeeCents")
    rep_monthly_charge_dollars: float | None = Field(default=None, alias="repMonthlyChargeDollars")
    monthly_base_charge_dollars: float | None = Field(default=None, alias="monthlyBaseChargeDollars")
    usage_tiers: tuple[UsageTier, ...] | None = Field(default=None, alias="usageTiers")
    time_of_use_periods: tuple[TouPeriod, ...] | None = Field(default=None, alias="timeOfUsePeriods")
    bill_credits: BillCredits | None = Field(default=None, alias="billCredits")
    minimum_bill: float | None = Field(default=None, alias="minimumBill")
    tdsp_delivery_included: bool = Field(default=False, alias="tdspDeliveryIncludedInEnergyCharge")
    efl_avg_price_validation: AvgPriceValidation | None = Field(default=None, alias="__eflAvgPriceValidation")

    def to_json_dict(self) -> dict:
        """The replaced system's JSON shape (aliases; unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def canonical_json(self) -> str:
        return json.dumps(self.to_json_dict(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_json_dict(cls, data: dict) -> RateStructure:
        return cls.model_validate(data)
