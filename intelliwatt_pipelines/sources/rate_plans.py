"""Rate plans as ``rate_plan`` records (vendor-apis.md §2.8 b), from a curated plan JSON or a WattBuy offer.

Pure: bytes or a row in, a :class:`PlanRecord` out. The engine's price model is ``pricing.model.RateStructure``.

Curated mapping: ``centsPerKwhJson`` → ``usageTiers`` (one open tier from 0 → ``energyRateCents``);
``billCreditsJson{thresholdKwh, creditCents}`` → an open-ended credit rule ``{minUsageKWh, creditAmountCents}``;
``touWindowsJson`` → ``timeOfUsePeriods`` on all days (or a window's own ``daysOfWeek``); ``baseMonthlyFeeCents`` as is. Tiers and TOU are both
kept when a file has both (the engine then answers ``UNSUPPORTED_COMBINED_STRUCTURES``). The EFL averages are
always kept as ``__eflAvgPriceValidation`` anchors, so a file with averages only is a FIXED structure with
anchors and no energy price, which the engine declines (NOT_COMPUTABLE) rather than guesses.

``rate_structure`` is None exactly when ``rate_type`` is UNKNOWN (nothing says how the plan is priced), so an
unclassified plan is never priced as fixed by default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.sources.errors import ParseError

PLAN_SOURCES = ("curated", "efl", "wattbuy")
PLAN_RATE_TYPES = ("FIXED", "VARIABLE", "INDEXED", "TIME_OF_USE", "UNKNOWN")
ANCHOR_KWH = (500, 1000, 2000)
TDSP_SLUGS = {"oncor": "ONCOR", "centerpoint": "CENTERPOINT", "cnp": "CENTERPOINT", "aep_n": "AEP_NORTH",
              "aep_north": "AEP_NORTH", "aep_texas_north": "AEP_NORTH", "aepnor": "AEP_NORTH",
              "aep_c": "AEP_CENTRAL", "aep_central": "AEP_CENTRAL", "aep_texas_central": "AEP_CENTRAL",
              "aepcen": "AEP_CENTRAL", "tnmp": "TNMP", "texas_new_mexico_power": "TNMP"}
# The curated files' and WattBuy's words for the engine's rate types ("renewable" is a fixed-price green plan).
RATE_WORDS = {"fixed": "FIXED", "renewable": "FIXED", "green": "FIXED", "variable": "VARIABLE",
              "indexed": "INDEXED", "index": "INDEXED", "tou": "TIME_OF_USE", "time_of_use": "TIME_OF_USE"}
STALE_TDU_NOTE = ("curated tduDeliveryCentsPerKwh ({}) is a stale TDU number and is ignored: delivery comes "
                  "from the versioned tariffs (§2.7)")
NO_ENERGY_NOTE = "no energy price in the source: averages kept as anchors only (the engine will not price it)"
# Explicit per-kWh energy price / monthly fee an offer's offer_data may carry (WattBuy's documented fields
# have none, so offers are normally anchor-only).
OFFER_ENERGY_KEYS = ("energy_rate_cents", "energy_charge_cents_per_kwh", "cents_per_kwh")
OFFER_BASE_KEYS = ("base_charge_cents", "base_monthly_fee_cents")


class PlanParseError(ParseError):
    """A plan file or offer that cannot be read as a plan; the message says what is wrong."""


@dataclass(frozen=True)
class PlanRecord:
    """One ``rate_plan`` row before storage (``term_months`` None when not given, never 0)."""

    source: str
    external_id: str
    supplier: str | None
    supplier_puct: str | None
    plan_name: str
    term_months: int | None
    tdsp_code: str | None
    rate_type: str
    rate_structure: RateStructure | None
    avg_500: float | None = None
    avg_1000: float | None = None
    avg_2000: float | None = None
    efl_url: str | None = None
    efl_sha256: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def avg_table(self) -> dict[int, float]:
        return {k: v for k, v in zip(ANCHOR_KWH, (self.avg_500, self.avg_1000, self.avg_2000), strict=True)
                if v is not None}


def tdsp_code_of(slug: Any) -> str | None:
    """Our TDSP code for a slug or code (``oncor``, ``aep-n``, ``AEP_NORTH``…); None when unknown."""
    key = re.sub(r"[^a-z0-9]+", "_", str(slug or "").lower()).strip("_")
    if key.upper() in TDSP_SLUGS.values():
        return key.upper()
    return TDSP_SLUGS.get(key)


def anchors(avg_table: dict[int, float]) -> dict | None:
    """``__eflAvgPriceValidation`` from the EFL averages (None when there are none)."""
    points = [{"usageKwh": k, "modeledAvgCentsPerKwh": v} for k, v in sorted(avg_table.items())]
    return {"points": points} if points else None


def build_structure(data: dict) -> RateStructure:
    """A RateStructure from its JSON shape, a PlanParseError when the shape is wrong."""
    try:
        return RateStructure.from_json_dict({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise PlanParseError(f"rate structure is not valid: {exc.errors()[0]['msg']} "
                             f"at {'.'.join(map(str, exc.errors()[0]['loc']))}") from exc


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanParseError(f"{what} must be a number, got {value!r}")
    return float(value)


def _term(value: Any, notes: list[str]) -> int | None:
    """A positive whole number of months, or None (a 0 or missing term is 'not given', never written as 0)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise PlanParseError(f"termMonths must be a whole number of months or null, got {value!r}")
    if value == 0:
        notes.append("termMonths 0 read as no fixed term")
        return None
    return int(value)


def _tiers(rows: Any) -> tuple[dict | None, list[dict] | None]:
    """(energyRateCents part, usageTiers) from ``centsPerKwhJson``."""
    if rows is None:
        return None, None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PlanParseError("centsPerKwhJson must be a list of {minKwh, maxKwh, centsPerKwh}")
    tiers = [{"minKWh": _number(r.get("minKwh", 0), "centsPerKwhJson minKwh") or 0.0,
              "maxKWh": _number(r.get("maxKwh"), "centsPerKwhJson maxKwh"),
              "centsPerKWh": _required_number(r, "centsPerKwh", "centsPerKwhJson")} for r in rows]
    if len(tiers) == 1 and tiers[0]["minKWh"] == 0 and tiers[0]["maxKWh"] is None:
        return {"energyRateCents": tiers[0]["centsPerKWh"]}, None
    return None, [{k: v for k, v in t.items() if v is not None} for t in tiers]


def _required_number(row: dict, key: str, where: str) -> float:
    value = _number(row.get(key), f"{where} {key}")
    if value is None:
        raise PlanParseError(f"{where}: {key} is missing")
    return value


def _credits(rows: Any) -> dict | None:
    """``billCredits`` from ``billCreditsJson``: each a credit at ≥ thresholdKwh, open-ended (§2.8 b)."""
    if rows is None or rows == []:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PlanParseError("billCreditsJson must be a list of {thresholdKwh, creditCents}")
    rules = [{"label": f"Bill credit at {r.get('thresholdKwh'):g}+ kWh" if isinstance(r.get("thresholdKwh"),
                                                                                   (int, float)) else "Bill credit",
              "minUsageKWh": _required_number(r, "thresholdKwh", "billCreditsJson"),
              "creditAmountCents": _required_number(r, "creditCents", "billCreditsJson")} for r in rows]
    return {"hasBillCredit": True, "rules": rules}


def _tou(rows: Any) -> list[dict] | None:
    """``timeOfUsePeriods`` from ``touWindowsJson``: all days, unless a window lists ``daysOfWeek`` (0 = Sunday;
    an overnight window's days are the days it starts on)."""
    if rows is None or rows == []:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PlanParseError("touWindowsJson must be a list of {label, startHour, endHour, centsPerKwh}")
    return [{"label": str(r.get("label") or ""), "startHour": r.get("startHour"), "endHour": r.get("endHour"),
             "daysOfWeek": r.get("daysOfWeek", [0, 1, 2, 3, 4, 5, 6]),
             "rateCentsPerKwh": _required_number(r, "centsPerKwh", "touWindowsJson")} for r in rows]


def _curated_type(data: dict, has_tou: bool) -> str:
    if has_tou:
        return "TIME_OF_USE"
    word = re.sub(r"[^a-z]+", "_", str(data.get("rateType") or "").lower()).strip("_")
    if word not in RATE_WORDS:
        raise PlanParseError(f"rateType {data.get('rateType')!r} is not one of {sorted(RATE_WORDS)}")
    return RATE_WORDS[word]


def _load_object(data: bytes) -> dict:
    try:
        parsed = json.loads(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanParseError(f"curated plan is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise PlanParseError("curated plan must be a JSON object")
    for key in ("key", "planName", "tdspSlug"):
        if not isinstance(parsed.get(key), str) or not parsed[key].strip():
            raise PlanParseError(f"curated plan: {key} is missing or not text")
    return parsed


def _curated_averages(data: dict) -> dict[int, float]:
    values = {k: _number(data.get(f"avgPrice{k}"), f"avgPrice{k}") for k in ANCHOR_KWH}
    return {k: v for k, v in values.items() if v is not None}


def parse_curated_plan(data: bytes) -> PlanRecord:
    """A curated plan file (``data/rates/<tdsp>/<plan>.json``) as a PlanRecord; PlanParseError when malformed."""
    plan = _load_object(data)
    notes: list[str] = []
    tdsp = tdsp_code_of(plan["tdspSlug"])
    if tdsp is None:
        raise PlanParseError(f"tdspSlug {plan['tdspSlug']!r} is not a known TDSP")
    energy, tiers = _tiers(plan.get("centsPerKwhJson"))
    tou = _tou(plan.get("touWindowsJson"))
    rate_type = _curated_type(plan, tou is not None)
    avg = _curated_averages(plan)
    structure = build_structure({
        "type": rate_type, **(energy or {}), "usageTiers": tiers, "timeOfUsePeriods": tou,
        "baseMonthlyFeeCents": _number(plan.get("baseMonthlyFeeCents"), "baseMonthlyFeeCents"),
        "billCredits": _credits(plan.get("billCreditsJson")), "__eflAvgPriceValidation": anchors(avg)})
    if plan.get("tduDeliveryCentsPerKwh") is not None:
        notes.append(STALE_TDU_NOTE.format(plan["tduDeliveryCentsPerKwh"]))
    if energy is None and tiers is None and tou is None:
        notes.append(NO_ENERGY_NOTE)
    links = plan.get("links") if isinstance(plan.get("links"), dict) else {}
    return PlanRecord(
        source="curated", external_id=plan["key"].strip(), supplier=plan.get("supplierName") or None,
        supplier_puct=_text(plan.get("puctNumber")), plan_name=plan["planName"].strip(),
        term_months=_term(plan.get("termMonths"), notes), tdsp_code=tdsp, rate_type=rate_type,
        rate_structure=structure, avg_500=avg.get(500), avg_1000=avg.get(1000), avg_2000=avg.get(2000),
        efl_url=_text(links.get("efl")), notes=tuple(notes))


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value not in (None, "") else None


def _offer_data(offer: dict) -> dict:
    raw = offer.get("offer_json")
    try:
        parsed = json.loads(raw) if isinstance(raw, (str, bytes)) else raw if isinstance(raw, dict) else {}
    except json.JSONDecodeError as exc:
        raise PlanParseError(f"offer {offer.get('external_id')!r}: offer_json is not JSON: {exc}") from exc
    data = parsed.get("offer_data") if isinstance(parsed, dict) else None
    return data if isinstance(data, dict) else {}


def _offer_type(offer: dict) -> str:
    word = re.sub(r"[^a-z]+", "_", str(offer.get("rate_type") or "").lower()).strip("_")
    return RATE_WORDS.get(word, "UNKNOWN")


def _offer_energy(data: dict, rate_type: str) -> dict:
    """An explicit energy price and fee from offer_data, only for a fixed plan (never inferred from averages)."""
    energy = next((data[k] for k in OFFER_ENERGY_KEYS if isinstance(data.get(k), (int, float))), None)
    if energy is None or isinstance(energy, bool) or rate_type != "FIXED":
        return {}
    base = next((data[k] for k in OFFER_BASE_KEYS if isinstance(data.get(k), (int, float))), None)
    return {"energyRateCents": float(energy), "baseMonthlyFeeCents": None if base is None else float(base)}


def plan_from_offer(offer: dict) -> PlanRecord:
    """A ``retail_offer`` row (columns as a dict) as a PlanRecord. The energy price is taken only when the
    offer states one; otherwise the structure holds the kwh500/1000/2000 anchors only."""
    if not str(offer.get("external_id") or "").strip():
        raise PlanParseError("retail offer without external_id")
    rate_type = _offer_type(offer)
    avg = {k: float(v) for k in ANCHOR_KWH if isinstance(v := offer.get(f"kwh{k}_cents"), (int, float))}
    energy = _offer_energy(_offer_data(offer), rate_type)
    notes = [] if energy else [NO_ENERGY_NOTE]
    structure = None
    if rate_type != "UNKNOWN":
        structure = build_structure({"type": rate_type, **energy, "__eflAvgPriceValidation": anchors(avg)})
    else:
        notes.append("offer gives no rate type: not priced")
    term = offer.get("term_months")
    return PlanRecord(
        source="wattbuy", external_id=str(offer["external_id"]).strip(), supplier=offer.get("supplier") or None,
        supplier_puct=_text(offer.get("puct_registration")), plan_name=str(offer.get("offer_name") or "").strip(),
        term_months=int(term) if isinstance(term, int) and term > 0 else None,
        tdsp_code=tdsp_code_of(offer.get("tdsp_code")), rate_type=rate_type, rate_structure=structure,
        avg_500=avg.get(500), avg_1000=avg.get(1000), avg_2000=avg.get(2000), efl_url=_text(offer.get("efl_url")),
        notes=tuple(notes))
