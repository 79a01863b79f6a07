"""An Electricity Facts Label's text as an engine rate structure (vendor-apis.md §2.8 c): deterministic rules
(``efl_rules``), no AI. Pure: text in, :class:`EflParse` out; :func:`plan_from_efl` makes the ``rate_plan``
record (``external_id`` ``efl:<sha256 of the text>``).

What is read: supplier, PUCT number, plan name, TDSP, term, product type, REP base charge, energy price (flat,
tiers, or weekday/weekend TOU), the 500/1000/2000 average table, the EFL's TDU charges when it states them, and
the usage-split assumption the averages were computed with. A weekday/weekend price pair becomes two
all-day periods (weekdays 1..5, weekends 0 and 6, 0000-2400) and the plan is TIME_OF_USE whatever the
"Type of Product" says. The EFL's TDU numbers are kept for validation only; estimates use §2.7's tariffs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from intelliwatt_pipelines.pricing.model import RateStructure
from intelliwatt_pipelines.sources import efl_rules as rules
from intelliwatt_pipelines.sources.efl_rules import EflTdsp
from intelliwatt_pipelines.sources.rate_plans import PlanParseError, PlanRecord, anchors, build_structure

SUPPLIER_RE = re.compile(r"^(.*?\b(?:Energy|Power|Electric|Utilities)(?: Services)?(?:,? (?:LLC|Inc\.?|LP|L\.P\.))?)"
                         r"(?=\s|$)(.*)$")
PLAN_LABEL_RE = re.compile(r"(?:Plan|Product) Name[:\s]+(.+)", re.I)
WEEKDAYS, WEEKENDS = (1, 2, 3, 4, 5), (0, 6)
UNPARSED_COMPONENT = "UNPARSED_COMPONENT"  # a warning the plan's classification turns into NOT_COMPUTABLE


@dataclass(frozen=True)
class EflParse:
    """What the rules read from one EFL. ``rate_structure`` is None when the product type is unknown or no
    price was found (never guessed). ``usage_split`` maps an assumption's label (``weekends``…) to its share."""

    plan_name: str | None
    supplier: str | None
    puct: str | None
    tdsp_code: str | None
    term_months: int | None
    rate_type: str
    rate_structure: RateStructure | None
    avg_table: dict[int, float]
    tdsp: EflTdsp | None
    usage_split: dict[str, float]
    rules_fired: tuple[str, ...]
    warnings: tuple[str, ...]
    efl_sha256: str = ""

    @property
    def weekend_share(self) -> float | None:
        if "weekends" in self.usage_split:
            return self.usage_split["weekends"]
        return 1 - self.usage_split["weekdays"] if "weekdays" in self.usage_split else None


@dataclass
class _Found:
    fired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def take(self, hit):
        """The value of a (value, rule) hit, recording the rule."""
        if hit is None:
            return None
        self.fired.append(hit[1])
        return hit[0]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]


def _header_lines(lines: list[str]) -> list[str]:
    """The non-empty lines before the average table, without the "Electricity Facts Label" title."""
    out = []
    for line in lines:
        if re.search(r"Average (?:Monthly Use|price)", line, re.I):
            break
        if line.strip() and not re.fullmatch(r"\s*Electricity Facts Label(?: \(EFL\))?\s*", line, re.I):
            out.append(line.strip())
    return out


def _names(lines: list[str]) -> tuple[str | None, str | None]:
    """(supplier, plan name): a "Plan Name:" label, else the text after "⇒", else what follows the supplier
    on its line (``TXU Energy Clear Deal 12``)."""
    head = _header_lines(lines)
    supplier, rest = None, None
    for line in head:
        if match := SUPPLIER_RE.match(re.split(r"\s+PUC", line)[0]):
            supplier, rest = match.group(1).strip(), match.group(2).strip() or None
            break
    label = next((m.group(1).strip() for line in lines if (m := PLAN_LABEL_RE.search(line))), None)
    arrow = next((line.split("⇒", 1)[1].strip() for line in head if "⇒" in line), None)
    return supplier, label or arrow or rest


def _energy(text: str, lines: list[str], found: _Found) -> dict:
    """The energy part of the structure: TOU periods, tiers, or one rate (in that order of precedence)."""
    tou = rules.find_weekday_weekend(lines)
    if tou is not None:
        found.fired.append("R-TOU-001")
        return {"timeOfUsePeriods": [
            {"label": "Weekdays", "startHHMM": "0000", "endHHMM": "2400", "daysOfWeek": WEEKDAYS,
             "rateCentsPerKwh": tou[0]},
            {"label": "Weekends", "startHHMM": "0000", "endHHMM": "2400", "daysOfWeek": WEEKENDS,
             "rateCentsPerKwh": tou[1]}]}
    tiers, fired, warnings = rules.find_tiers(text)
    found.fired += fired
    found.warnings += warnings
    if len(tiers) > 1:
        return {"usageTiers": tiers}
    if len(tiers) == 1 and tiers[0]["minKWh"] == 0 and "maxKWh" not in tiers[0]:
        return {"energyRateCents": tiers[0]["centsPerKWh"]}
    energy = found.take(rules.find_energy(text))
    return {} if energy is None else {"energyRateCents": energy}


def _structure(rate_type: str, energy: dict, base: float | None, avg: dict[int, float],
               found: _Found) -> RateStructure | None:
    if rate_type == "UNKNOWN":
        found.warnings.append("PRODUCT_TYPE_NOT_FOUND: not priced")
        return None
    if not energy and not avg:
        found.warnings.append("NO_PRICE_FOUND")
        return None
    if not energy:
        found.warnings.append("NO_ENERGY_PRICE_FOUND: anchors only")
    try:
        return build_structure({"type": rate_type, **energy, "baseMonthlyFeeCents": base,
                                "__eflAvgPriceValidation": anchors(avg)})
    except PlanParseError as exc:
        found.warnings.append(f"STRUCTURE_INVALID: {exc}")
        return None


def _tdsp(text: str, lines: list[str], found: _Found) -> EflTdsp | None:
    tdsp = rules.find_tdsp(text, lines)
    if tdsp is not None:
        found.fired.append(tdsp.rule)
    elif rules.says_pass_through(text):
        found.fired.append("R-TDSP-PASS")
        found.warnings.append("TDSP_NOT_IN_EFL: delivery charges must come from the tariffs (§2.7) or the solver")
    else:
        found.warnings.append("TDSP_NOT_FOUND")
    return tdsp


def efl_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_efl(text: str) -> EflParse:
    """The EFL's plan as far as the rules can read it; what they could not read is in ``warnings``."""
    lines, found = _lines(text), _Found()
    energy = _energy(text, lines, found)
    product = rules.find_product(text)
    rate_type = "TIME_OF_USE" if "timeOfUsePeriods" in energy else product or "UNKNOWN"
    base = found.take(rules.find_base(text))
    if base is None and "timeOfUsePeriods" in energy:
        base = 0.0  # a weekday/weekend EFL without a base line charges none (the replaced system's reading)
    avg = rules.find_avg_table(lines)
    found.fired += ["R-AVG-001"] if avg else []
    found.warnings += [] if avg else ["AVG_TABLE_NOT_FOUND"]
    tdsp = _tdsp(text, lines, found)
    structure = _structure(rate_type, energy, base, avg, found)
    supplier, plan_name = _names(lines)
    split = rules.find_usage_split(text)
    found.fired += ["R-SPLIT-001"] if split else []
    found.warnings += [f"{UNPARSED_COMPONENT}: {name}" for name in rules.find_unparsed(text)]
    return EflParse(
        plan_name=plan_name, supplier=supplier, puct=rules.find_puct(text), tdsp_code=rules.find_tdsp_code(text),
        term_months=rules.find_term(text), rate_type=rate_type, rate_structure=structure, avg_table=avg,
        tdsp=tdsp, usage_split=split, rules_fired=tuple(dict.fromkeys(found.fired)),
        warnings=tuple(found.warnings), efl_sha256=efl_sha256(text))


def plan_from_efl(text: str, *, efl_url: str | None = None) -> PlanRecord:
    """A ``rate_plan`` record (source ``efl``) from an EFL's text; PlanParseError when it names no plan."""
    parsed = parse_efl(text)
    if not parsed.plan_name:
        raise PlanParseError("EFL: no plan name found")
    return PlanRecord(
        source="efl", external_id=f"efl:{parsed.efl_sha256}", supplier=parsed.supplier, supplier_puct=parsed.puct,
        plan_name=parsed.plan_name, term_months=parsed.term_months, tdsp_code=parsed.tdsp_code,
        rate_type=parsed.rate_type, rate_structure=parsed.rate_structure, avg_500=parsed.avg_table.get(500),
        avg_1000=parsed.avg_table.get(1000), avg_2000=parsed.avg_table.get(2000), efl_url=efl_url,
        efl_sha256=parsed.efl_sha256, notes=tuple(f"efl: {w}" for w in parsed.warnings))
