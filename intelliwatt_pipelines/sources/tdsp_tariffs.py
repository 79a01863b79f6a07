"""TDU (TDSP) delivery tariffs as version records (vendor-apis.md §2.7), from three inputs:

- the curated feed (``intelliwatt_pipelines/data/tdsp_tariffs.json``): ``{"tdsps": {CODE: [version, …]}}``;
- the replaced system's flat feed: ``{"ONCOR": {"effectiveAt", "monthlyFeeCents", "deliveryCentsPerKwh", "notes"}}``;
- the text of a PUCT monthly rate report (as ``pdftotext`` gives it).

Source keys: a PUCT report is one document per version, so its key is the SHA-256 of its bytes; AEP North
and Central share one report, so Central's key is ``<sha>:AEP_CENTRAL``. A JSON feed holds many versions in
one document while ``source_key`` is unique per version, so each version is keyed by the SHA-256 of its own
entry (canonical JSON with its TDSP code): adding an entry to the file adds only that version, and an
unchanged entry is the same key again (a no-op).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field

from intelliwatt_pipelines.sources.errors import ParseError

TARIFF_TDSPS = ("ONCOR", "CENTERPOINT", "AEP_NORTH", "AEP_CENTRAL", "TNMP")
SOURCE_KINDS = ("CURATED_JSON", "PUCT_RATE_REPORT", "EFL")
CHARGE_TYPES = ("CUSTOMER", "DELIVERY")
UNITS = ("PER_MONTH", "PER_KWH")


@dataclass(frozen=True)
class Component:
    charge_name: str
    charge_type: str
    unit: str
    rate_cents: float
    min_kwh: int | None = None
    max_kwh: int | None = None
    raw_source_json: str | None = None


@dataclass(frozen=True)
class TariffVersion:
    """One version of a TDSP's delivery charges, as ``cdm.tariffs.add_version`` takes it."""

    tdsp_code: str
    effective_start: dt.date
    source_key: str
    source_kind: str
    components: tuple[Component, ...]
    source_url: str | None = None
    notes: str | None = None
    extra: dict = field(default_factory=dict, compare=False)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_key(code: str, entry: dict) -> str:
    return sha256(json.dumps({"tdsp": code, "entry": entry}, sort_keys=True, separators=(",", ":")).encode())


def _code(code: str) -> str:
    if code not in TARIFF_TDSPS:
        raise ParseError(f"unknown TDSP code {code!r} (expected one of {', '.join(TARIFF_TDSPS)})")
    return code


def _date(value, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ParseError(f"{what}: not a YYYY-MM-DD date: {value!r}") from None


def _component(raw: dict, where: str) -> Component:
    try:
        rate = float(raw["rate_cents"])
        comp = Component(charge_name=str(raw["charge_name"]), charge_type=raw["charge_type"], unit=raw["unit"],
                         rate_cents=rate, min_kwh=raw.get("min_kwh"), max_kwh=raw.get("max_kwh"),
                         raw_source_json=json.dumps(raw, sort_keys=True))
    except (KeyError, TypeError, ValueError) as error:
        raise ParseError(f"{where}: a component needs charge_name, charge_type, unit and a numeric rate_cents "
                         f"({error})") from None
    if comp.charge_type not in CHARGE_TYPES or comp.unit not in UNITS or rate < 0:
        raise ParseError(f"{where}: component {comp.charge_name!r}: charge_type in {CHARGE_TYPES}, unit in {UNITS}, "
                         "rate_cents ≥ 0")
    return comp


def _components(raws: list, where: str) -> tuple[Component, ...]:
    comps = tuple(_component(c, where) for c in raws)
    keys = [(c.charge_name, c.unit) for c in comps]
    if not comps or len(set(keys)) != len(keys):
        raise ParseError(f"{where}: components must be present and unique by (charge_name, unit)")
    return comps


def _curated_version(code: str, entry: dict, index: int) -> TariffVersion:
    where = f"{code}[{index}]"
    kind = entry.get("source_kind", "CURATED_JSON")
    if kind not in SOURCE_KINDS:
        raise ParseError(f"{where}: source_kind {kind!r} not in {SOURCE_KINDS}")
    return TariffVersion(tdsp_code=code, effective_start=_date(entry.get("effective_start"), where),
                         source_key=_entry_key(code, entry), source_kind=kind,
                         components=_components(entry.get("components") or [], where),
                         source_url=entry.get("source_url"), notes=entry.get("notes"))


def _flat_version(code: str, entry: dict, source_url: str | None) -> TariffVersion:
    """The replaced system's ``lib/tdsp/fetch.ts`` shape: one monthly fee and one delivery rate, in cents."""
    try:
        comps = (Component("Monthly Fee", "CUSTOMER", "PER_MONTH", float(entry["monthlyFeeCents"])),
                 Component("Delivery Charge", "DELIVERY", "PER_KWH", float(entry["deliveryCentsPerKwh"])))
    except (KeyError, TypeError, ValueError) as error:
        raise ParseError(f"{code}: needs numeric monthlyFeeCents and deliveryCentsPerKwh ({error})") from None
    if min(c.rate_cents for c in comps) < 0:
        raise ParseError(f"{code}: negative charge")
    return TariffVersion(tdsp_code=code, effective_start=_date(entry.get("effectiveAt"), f"{code}.effectiveAt"),
                         source_key=_entry_key(code, entry), source_kind="CURATED_JSON", components=comps,
                         source_url=source_url, notes=entry.get("notes"))


def parse_feed(data: bytes, source_url: str | None = None) -> list[TariffVersion]:
    """Every version of a JSON feed: the curated shape (``{"tdsps": …}``) or the flat one (TDSP code ->
    an object, or a list of objects, with ``effectiveAt``)."""
    try:
        doc = json.loads(data)
    except ValueError as error:
        raise ParseError(f"tariff feed: not JSON ({error})") from None
    if not isinstance(doc, dict):
        raise ParseError("tariff feed: expected a JSON object")
    if "tdsps" in doc:
        return [_curated_version(_code(code), entry, i) for code, entries in doc["tdsps"].items()
                for i, entry in enumerate(entries)]
    versions = []
    for code, entries in doc.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict):
                raise ParseError(f"{code}: expected an object with effectiveAt")
            versions.append(_flat_version(_code(code), entry, source_url))
    return versions


# --- PUCT rate report text --------------------------------------------------------------------------

PUCT_CHARGES = (("Customer Charge", "CUSTOMER", "PER_MONTH"), ("Metering Charge", "CUSTOMER", "PER_MONTH"),
                ("Volumetric Charge", "DELIVERY", "PER_KWH"))
_AMOUNT = re.compile(r"(?<![\w/.])\$?\s?(\d*\.\d+|\d+)(?![\w/])")
_RATES_EFFECTIVE = re.compile(r"Rates\s+Effective\s*:?\s*(\d{1,2})/(\d{1,2})/(\d{4})", re.I)
_EFFECTIVE_DATE = re.compile(r"Effective\s+Date\s*:?\s*(?:(\d{1,2})/(\d{1,2})/(\d{4})|([A-Z][a-z]+\.?\s+\d{1,2},?\s+\d{4}))")


def report_date(text: str) -> dt.date:
    """"Rates Effective MM/DD/YYYY", else "Effective Date MM/DD/YYYY" (or "Effective Date March 1, 2025")."""
    for pattern in (_RATES_EFFECTIVE, _EFFECTIVE_DATE):
        if m := pattern.search(text):
            if m.group(1):
                return dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
            spelled = re.sub(r"[.,]", "", m.group(4))
            for form in ("%B %d %Y", "%b %d %Y"):
                try:
                    return dt.datetime.strptime(spelled, form).date()
                except ValueError:
                    continue
    raise ParseError("PUCT report: no 'Rates Effective MM/DD/YYYY' or 'Effective Date …' found")


def _column(text: str, code: str) -> int:
    """Which number of a row is this TDSP's: the AEP report has a North and a Central column, in the
    order of its header line (North first when no header names both)."""
    if code not in ("AEP_NORTH", "AEP_CENTRAL"):
        return 0
    for line in text.splitlines():
        north, central = line.find("North"), line.find("Central")
        if north >= 0 and central >= 0:
            return int((central < north) == (code == "AEP_NORTH"))
    return 0 if code == "AEP_NORTH" else 1


def _amounts(text: str, label: str) -> list[float]:
    """The numbers after the first line starting with ``label`` (residential service comes first)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith(label.lower()):
            return [float(a) for a in _AMOUNT.findall(stripped[len(label):])]
    return []


def parse_puct_report(text: str, tdsp_code: str, *, source_url: str | None = None,
                      doc_sha256: str | None = None) -> TariffVersion:
    """One TDSP's version from a PUCT rate report's text: "Customer Charge" and "Metering Charge" ($/month)
    as PER_MONTH cents, "Volumetric Charge" ($/kWh) as PER_KWH cents. ``doc_sha256`` is the PDF's digest
    (default: of the text)."""
    code, col = _code(tdsp_code), _column(text, tdsp_code)
    comps = []
    for label, charge_type, unit in PUCT_CHARGES:
        amounts = _amounts(text, label)
        if len(amounts) > col:
            raw = json.dumps({"line": label, "dollars": amounts[col]})
            comps.append(Component(label, charge_type, unit, round(amounts[col] * 100, 6), raw_source_json=raw))
    if not any(c.unit == "PER_KWH" for c in comps) or not any(c.unit == "PER_MONTH" for c in comps):
        raise ParseError(f"PUCT report ({code}): needs a Volumetric Charge and a Customer or Metering Charge")
    digest = doc_sha256 or sha256(text.encode())
    return TariffVersion(tdsp_code=code, effective_start=report_date(text),
                         source_key=f"{digest}:AEP_CENTRAL" if code == "AEP_CENTRAL" else digest,
                         source_kind="PUCT_RATE_REPORT", components=tuple(comps), source_url=source_url,
                         notes=f"PUCT rate report text ({', '.join(c.charge_name for c in comps)})")


def parse_aep_report(text: str, *, source_url: str | None = None,
                     doc_sha256: str | None = None) -> list[TariffVersion]:
    """Both AEP versions (North, Central) of the shared AEP report."""
    return [parse_puct_report(text, code, source_url=source_url, doc_sha256=doc_sha256)
            for code in ("AEP_NORTH", "AEP_CENTRAL")]
