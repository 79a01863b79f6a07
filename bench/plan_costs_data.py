"""Deterministic inputs for bench/plan_costs.py: varied rate structures, a home-year of 15-minute readings
and monthly totals for many homes. Everything comes from one seeded generator, so two runs price the
same plans for the same homes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from intelliwatt_pipelines.pricing.model import RateStructure

WEEKDAYS, WEEKEND = [1, 2, 3, 4, 5], [0, 6]
KINDS = ("fixed", "tiered", "tou", "fixed+credits", "tiered+credits", "minimums", "tou+credits")
SIMPLE_KINDS = ("fixed", "tiered", "fixed+credits", "tiered+credits")  # what the numpy path prices
NIGHTS = ((21, 6), (20, 7), (22, 6), (23, 5))  # all-days overnight windows, whole hours


def _cents(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.uniform(low, high)), 3)


def _base(rng: np.random.Generator) -> dict:
    return {"baseMonthlyFeeCents": float(rng.choice([0, 0, 495, 995, 1200]))}


def _tiers(rng: np.random.Generator) -> dict:
    edges = [0, *sorted(rng.choice([500, 1000, 1500, 2000], size=int(rng.integers(1, 3)), replace=False))]
    rates = [_cents(rng, 7, 16) for _ in edges]
    tiers = [{"minKWh": float(lo), "maxKWh": float(hi) if hi is not None else None, "centsPerKWh": rate}
             for lo, hi, rate in zip(edges, [*edges[1:], None], rates, strict=True)]
    return {"usageTiers": [{k: v for k, v in t.items() if v is not None} for t in tiers]}


def _tou(rng: np.random.Generator) -> dict:
    shape = int(rng.integers(0, 3))
    if shape == 0:  # night / day, all days
        start, end = NIGHTS[int(rng.integers(0, len(NIGHTS)))]
        periods = [{"label": "Night", "startHour": start, "endHour": end, "rateCentsPerKwh": _cents(rng, 0, 8)},
                   {"label": "Day", "startHour": end, "endHour": start, "rateCentsPerKwh": _cents(rng, 10, 20)}]
    elif shape == 1:  # free (or cheap) weekends
        periods = [{"label": "Weekdays", "startHour": 0, "endHour": 24, "daysOfWeek": WEEKDAYS,
                    "rateCentsPerKwh": _cents(rng, 12, 18)},
                   {"label": "Weekends", "startHour": 0, "endHour": 24, "daysOfWeek": WEEKEND,
                    "rateCentsPerKwh": _cents(rng, 0, 4)}]
    else:  # weekday and weekend day/night windows (START_DAY overnights)
        periods = [{"label": f"{name} {part}", "startHour": s, "endHour": e, "daysOfWeek": days,
                    "rateCentsPerKwh": _cents(rng, lo, hi)}
                   for name, days in (("Weekday", WEEKDAYS), ("Weekend", WEEKEND))
                   for part, s, e, lo, hi in (("day", 7, 20, 11, 22), ("night", 20, 7, 4, 10))]
    return {"type": "TIME_OF_USE", "timeOfUsePeriods": periods}


def _credits(rng: np.random.Generator) -> dict:
    if rng.random() < 0.5:  # one range credit
        low = float(rng.choice([800, 1000, 1200]))
        rules = [{"label": "Usage credit", "creditAmountCents": float(rng.choice([2500, 5000, 10000])),
                  "minUsageKWh": low, "maxUsageKWh": low + float(rng.choice([500, 1000]))}]
    else:  # additive open-ended thresholds ("$35 at 1000 kWh or more", "$15 more at 2000")
        rules = [{"label": "Credit 1000", "creditAmountCents": 3500.0, "minUsageKWh": 1000.0},
                 {"label": "Credit 2000", "creditAmountCents": 1500.0, "minUsageKWh": 2000.0}]
    return {"billCredits": {"hasBillCredit": True, "rules": rules}}


def _minimums(rng: np.random.Generator) -> dict:
    fee = {"label": "Minimum Usage Fee", "creditAmountCents": -float(rng.choice([500, 995, 1000])),
           "minUsageKWh": float(rng.choice([500, 1000]))}
    return {"billCredits": {"hasBillCredit": False, "rules": [fee]}, "minimumBill": float(rng.choice([0, 30, 50]))}


def plan(kind: str, rng: np.random.Generator) -> RateStructure:
    energy = (_tiers(rng) if kind.startswith("tiered") else _tou(rng) if kind.startswith("tou")
              else {"energyRateCents": _cents(rng, 7, 18)})
    extra = _credits(rng) if kind.endswith("credits") else _minimums(rng) if kind == "minimums" else {}
    return RateStructure.from_json_dict({"type": "FIXED", **_base(rng), **energy, **extra})


def plans(count: int, *, kinds: tuple[str, ...] = KINDS, seed: int = 21) -> list[tuple[str, RateStructure]]:
    """``count`` (kind, structure) pairs cycling through ``kinds``."""
    rng = np.random.default_rng(seed)
    return [(kinds[i % len(kinds)], plan(kinds[i % len(kinds)], rng)) for i in range(count)]


def monthly_kwh(homes: int, *, seed: int = 7) -> np.ndarray:
    """(homes, 12) monthly totals: a summer/winter shape times a home scale, plus noise; a few small homes
    keep the low tiers and minimum fees in play."""
    rng = np.random.default_rng(seed)
    shape = np.array([1.0, 0.9, 0.8, 0.75, 0.95, 1.3, 1.6, 1.65, 1.3, 0.9, 0.8, 0.95])
    scale = rng.lognormal(np.log(900), 0.5, size=(homes, 1))
    return np.round(scale * shape * rng.uniform(0.85, 1.15, size=(homes, 12)), 3)


def home_year(year: int = 2025, *, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One home's 15-minute readings for a local (America/Chicago) calendar year: UTC starts
    (datetime64[ns], naive), minutes, kWh — an evening peak, an afternoon summer bump, noise."""
    local = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", tz="America/Chicago",
                          inclusive="left")
    utc = local.tz_convert("UTC").tz_localize(None).to_numpy()
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60
    summer = np.isin(local.month.to_numpy(), [6, 7, 8, 9])
    rng = np.random.default_rng(seed)
    kw = 0.6 + 0.8 * np.exp(-((hour - 19) ** 2) / 8) + summer * 1.2 * np.exp(-((hour - 16) ** 2) / 10)
    kwh = np.round(kw * rng.uniform(0.6, 1.4, size=len(kw)) / 4, 3)
    return utc, np.full(len(utc), 15, dtype=np.int64), kwh
