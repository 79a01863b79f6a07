"""The deterministic rules that read an Electricity Facts Label's text (vendor-apis.md §2.8 c; the replaced
system's ``docs/EFL_PARSER_RULES.md``). Each extractor returns what it found and the rule id that fired, or
None; ``efl.parse_efl`` puts them together. Text is as ``pdftotext -layout`` gives it: table columns are runs
of spaces, so table rules read a header line and the line under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUM = r"(\d+(?:\.\d+)?)"
KWH = r"(\d[\d,]*)"
CENTS = NUM + r"\s*¢"
# R-BASE-001: the sentence form; R-BASE-002: a table cell "Base Charge $0.00" with no period after it.
BASE_RE = re.compile(r"Base (?:Monthly )?Charge[:\s]*\$\s*(\d+\.\d{2})\s*(?:per billing cycle|per month)", re.I)
BASE_TABLE_RE = re.compile(r"Base (?:Monthly )?Charge[:\s]*\$\s*(\d+\.\d{2})", re.I)
ENERGY_RE = re.compile(r"Energy Charge[:\s]*" + CENTS + r"\s*(?:per kWh|/\s*kWh)", re.I)
# R-TIER-001: "0 - 1000 kWh 8.5¢" and "> 1000 kWh 7.8¢"; R-TIER-002: "(0 to 1000 kWh) 8.5¢".
TIER_RANGE_RE = re.compile(KWH + r"\s*-\s*" + KWH + r"\s*kWh\)?[:\s]*" + CENTS, re.I)
TIER_OPEN_RE = re.compile(r"(?:>|over|above|greater than)\s*" + KWH + r"\s*kWh\)?[:\s]*" + CENTS, re.I)
TIER_TO_RE = re.compile(r"\(\s*" + KWH + r"\s+to\s+" + KWH + r"\s*kWh\s*\)[:\s]*" + CENTS, re.I)
# R-TDSP-001: "<TDSP> Charges $4.23 per bill month and 5.5833¢ per kWh" (either order); <TDSP> is a word
# for the utility or its name ("Oncor Charges …", the CleanSky form).
UTILITY_WORDS = r"(?:TDU|TDSP|Delivery|Oncor|Center\s?Point|AEP|TNMP)"
TDSP_SENTENCE_RE = re.compile(
    UTILITY_WORDS + r"[^\n$¢]*?Charges?[:\s]*\$\s*(\d+\.\d{2})\s*per (?:bill(?:ing)? month|billing cycle|month)"
    r"\s*(?:and|plus|,)\s*" + CENTS + r"\s*per kWh", re.I)
TDSP_SENTENCE_REV_RE = re.compile(
    UTILITY_WORDS + r"[^\n$¢]*?Charges?[:\s]*" + CENTS + r"\s*per kWh\s*(?:and|plus|,)\s*\$\s*(\d+\.\d{2})"
    r"\s*per (?:bill(?:ing)? month|billing cycle|month)", re.I)
# R-TDSP-003: a delivery line with "$4.23 per billing cycle" and, on it or the next line, "5.5833¢ per kWh".
TDSP_CYCLE_RE = re.compile(r"\$\s*(\d+\.\d{2})\s*per (?:billing cycle|bill(?:ing)? month)", re.I)
PER_KWH_RE = re.compile(CENTS + r"\s*(?:per kWh|/\s*kWh)", re.I)
TDU_CONTEXT_RE = re.compile(r"\b(?:TDU|TDSP|Delivery)\b", re.I)
# R-TDSP-002 (table): header "... per kWh ... per month", values line ending "5.6032¢/kWh   $4.23".
TABLE_VALUES_RE = re.compile(CENTS + r"\s*/\s*kWh\s+\$\s*(\d+\.\d{2})\s*$", re.I)
PASS_THROUGH_RE = re.compile(r"passed through|visit the TDU website|as established by the PUCT|"
                             r"TDU delivery charges[^.\n]*(?:will|may) (?:change|vary)", re.I)
SPLIT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*% of (?:your )?usage (?:occurs )?(?:during|in) (?:the )?"
                      r"(Weekends|Weekdays|night(?:time)? hours|Nights|day(?:time)? hours|Days)", re.I)
TERM_RE = re.compile(r"(?:Contract Term|Term(?: Length)?)[:\s]*(\d+)\s*Month", re.I)
PRODUCT_RE = re.compile(r"Type of Product[:\s]*([A-Za-z][A-Za-z \-]*)", re.I)
PUCT_RE = re.compile(r"PUC(?:T)?\s*(?:Certificate\s*(?:Number|No\.?)|Cert\.?\s*No\.?|License)?\s*#?\s*(\d{5})", re.I)
TDSP_NAMES = (("ONCOR", r"Oncor"), ("CENTERPOINT", r"Center\s?Point"), ("AEP_NORTH", r"AEP (?:Texas )?North"),
              ("AEP_CENTRAL", r"AEP (?:Texas )?Central"), ("TNMP", r"TNMP|Texas[- ]New Mexico Power"))


@dataclass(frozen=True)
class EflTdsp:
    """TDU delivery charges as the EFL states them."""

    per_kwh_cents: float
    monthly_cents: float
    rule: str


def _kwh(text: str) -> float:
    return float(text.replace(",", ""))


def find_base(text: str) -> tuple[float, str] | None:
    """REP base charge in cents a month."""
    if match := BASE_RE.search(text):
        return round(float(match.group(1)) * 100, 4), "R-BASE-001"
    if match := BASE_TABLE_RE.search(text):
        return round(float(match.group(1)) * 100, 4), "R-BASE-002"
    return None


def find_energy(text: str) -> tuple[float, str] | None:
    """One flat energy charge in ¢/kWh."""
    match = ENERGY_RE.search(text)
    return (float(match.group(1)), "R-ENERGY-001") if match else None


def find_tiers(text: str) -> tuple[list[dict], list[str], list[str]]:
    """Usage tiers ``[{minKWh, maxKWh?, centsPerKWh}]`` from 0, the rules that fired, and warnings.
    "1001 - 2000" after a tier ending at 1000 starts at 1000 ([min, max) semantics)."""
    found: list[tuple[float, float | None, float]] = []
    rules = []
    for regex, rule in ((TIER_RANGE_RE, "R-TIER-001"), (TIER_TO_RE, "R-TIER-002")):
        hits = [(_kwh(m.group(1)), _kwh(m.group(2)), float(m.group(3))) for m in regex.finditer(text)]
        found += hits
        rules += [rule] if hits else []
    opened = [(_kwh(m.group(1)), None, float(m.group(2))) for m in TIER_OPEN_RE.finditer(text)]
    if opened:
        found += opened
        rules.append("R-TIER-001")
    return _contiguous(sorted(set(found), key=lambda t: t[0])), sorted(set(rules)), _tier_warnings(found)


def _contiguous(found: list[tuple[float, float | None, float]]) -> list[dict]:
    tiers: list[dict] = []
    for low, high, cents in found:
        if tiers and tiers[-1].get("maxKWh") is not None and low == tiers[-1]["maxKWh"] + 1:
            low = tiers[-1]["maxKWh"]
        tiers.append({"minKWh": low, "centsPerKWh": cents, **({"maxKWh": high} if high is not None else {})})
    return tiers


def _tier_warnings(found: list) -> list[str]:
    if found and min(t[0] for t in found) != 0:
        return ["TIERS_DO_NOT_START_AT_0"]
    return []


def find_weekday_weekend(lines: list[str]) -> tuple[float, float] | None:
    """R-TOU-001: a "Weekdays  Weekends" header and the ¢/kWh values under it → (weekday, weekend) cents."""
    for i, line in enumerate(lines[:-1]):
        day, end = line.find("Weekday"), line.find("Weekend")
        if day < 0 or end < 0:
            continue
        values = [float(v) for v in re.findall(NUM + r"\s*¢\s*/\s*kWh", lines[i + 1])]
        if len(values) >= 2:
            return (values[0], values[1]) if day < end else (values[1], values[0])
    return None


def find_usage_split(text: str) -> dict[str, float]:
    """The EFL's usage assumptions, label (lower case) → share of usage (0..1)."""
    return {m.group(2).lower(): float(m.group(1)) / 100 for m in SPLIT_RE.finditer(text)}


def find_tdsp(text: str, lines: list[str]) -> EflTdsp | None:
    """TDU delivery charges stated in the EFL (R-TDSP-001/002/003); None when it states no numbers."""
    if match := TDSP_SENTENCE_RE.search(text):
        return EflTdsp(float(match.group(2)), round(float(match.group(1)) * 100, 4), "R-TDSP-001")
    if match := TDSP_SENTENCE_REV_RE.search(text):
        return EflTdsp(float(match.group(1)), round(float(match.group(2)) * 100, 4), "R-TDSP-001")
    return _tdsp_table(lines) or _tdsp_cycle(lines)


def _tdsp_table(lines: list[str]) -> EflTdsp | None:
    for i, line in enumerate(lines[:-1]):
        low = line.lower()
        if "per kwh" in low and "per month" in low and low.find("per kwh") < low.rfind("per month"):
            if match := TABLE_VALUES_RE.search(lines[i + 1].rstrip()):
                return EflTdsp(float(match.group(1)), round(float(match.group(2)) * 100, 4), "R-TDSP-002")
    return None


def _tdsp_cycle(lines: list[str]) -> EflTdsp | None:
    for i, line in enumerate(lines):
        if not TDU_CONTEXT_RE.search(line) or re.search(r"Base (?:Monthly )?Charge", line, re.I):
            continue
        monthly = TDSP_CYCLE_RE.search(line)
        per_kwh = PER_KWH_RE.search(line) or (PER_KWH_RE.search(lines[i + 1]) if i + 1 < len(lines) else None)
        if monthly and per_kwh:
            return EflTdsp(float(per_kwh.group(1)), round(float(monthly.group(1)) * 100, 4), "R-TDSP-003")
    return None


def says_pass_through(text: str) -> bool:
    return PASS_THROUGH_RE.search(text) is not None


def find_avg_table(lines: list[str]) -> dict[int, float]:
    """R-AVG-001: the "500 kWh  1,000 kWh  2,000 kWh" header and the first of the next 3 lines with three
    ¢ values (the last three on it)."""
    for i, line in enumerate(lines):
        if not re.search(r"500\s*kWh.*1,?000\s*kWh.*2,?000\s*kWh", line, re.I):
            continue
        for below in lines[i + 1:i + 4]:
            values = re.findall(NUM + r"\s*¢", below)
            if len(values) >= 3:
                return dict(zip((500, 1000, 2000), map(float, values[-3:]), strict=True))
    return {}


def find_tdsp_code(text: str) -> str | None:
    """The first utility named in the text."""
    hits = [(m.start(), code) for code, name in TDSP_NAMES if (m := re.search(name, text, re.I))]
    return min(hits)[1] if hits else None


def find_term(text: str) -> int | None:
    match = TERM_RE.search(text)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def find_product(text: str) -> str | None:
    """The engine rate type named by "Type of Product"."""
    match = PRODUCT_RE.search(text)
    word = match.group(1).lower() if match else ""
    for key, rate_type in (("index", "INDEXED"), ("variable", "VARIABLE"), ("time of use", "TIME_OF_USE"),
                           ("fixed", "FIXED")):
        if key in word:
            return rate_type
    return None


def find_puct(text: str) -> str | None:
    match = PUCT_RE.search(text)
    return match.group(1) if match else None


# Price components no rule above reads. An EFL that mentions one is not priced from what the rules did read:
# the average-price check may not catch it (a fee below 500 kWh is invisible at 500/1000/2000 kWh).
UNPARSED_COMPONENTS = (
    ("bill credit", re.compile(r"\b(?:bill|usage|loyalty|autopay)\s+credit", re.I)),
    ("minimum usage fee", re.compile(r"minimum\s+(?:usage|use|monthly)\s+(?:fee|charge)|minimum\s+bill", re.I)),
    ("night or time-of-day rate", re.compile(r"free\s+nights?|nights?\s+free|night(?:time)?\s+(?:rate|hours|energy)"
                                             r"|on-?peak|off-?peak", re.I)),
    ("demand charge", re.compile(r"demand\s+charge|per\s+kW\b", re.I)),
)


def find_unparsed(text: str) -> list[str]:
    """The price components the text mentions that the rules cannot read."""
    return [name for name, pattern in UNPARSED_COMPONENTS if pattern.search(text)]
