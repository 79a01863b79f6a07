"""What WattBuy's answers say (vendor-apis.md §2.5), pure: ESIIDs found anywhere in an ``/electricity/info``
answer (breadth-first, depth ≤ 4, under any of the known key spellings), the ``/electricity/info/esi``
addresses, the utility and its canonical TDSP code, and ``/offers`` normalized into retail-offer fields.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

ESIID_KEYS = ("esiid", "esiId", "esi_id", "ESIID", "ESI_ID", "esi")
UTILITY_KEYS = ("utility_name", "utilityName", "utility", "name", "company_name", "companyName")
TERRITORY_KEYS = ("tdsp", "tdsp_name", "tdspSlug", "territory", "utility_territory")
MAX_DEPTH = 4
SLUG_CODES = {"oncor": "ONCOR", "centerpoint": "CENTERPOINT", "aep_n": "AEP_NORTH", "aep_c": "AEP_CENTRAL",
              "tnmp": "TNMP"}
# Other spellings seen for the canonical codes (lib/utility/tdspCode.ts).
CODE_ALIASES = {"AEPNOR": "AEP_NORTH", "AEPCEN": "AEP_CENTRAL", "AEP_TEXAS_NORTH": "AEP_NORTH",
                "AEP_TEXAS_CENTRAL": "AEP_CENTRAL", "CNP": "CENTERPOINT", "TEXAS_NEW_MEXICO_POWER": "TNMP"}
# Hosts whose documents an offer may link (EFL, terms, rights): WattBuy's, its partners' and the REPs'
# viewers, plus the shortener REPs use for EFLs. Anything else is dropped, not followed.
DOC_HOST_ALLOWLIST = frozenset({
    "wattbuy.com", "docs.google.com", "s3.amazonaws.com", "ohm-gridlink.smartgridcis.net", "smartgridcis.net",
    "bit.ly", "signup.chariotenergy.com", "mychariotenergy.com", "eflviewer.gexaenergy.com", "gexaenergy.com",
    "eflviewer.frontierutilities.com", "frontierutilities.com", "docs.championenergyservices.com",
    "championenergyservices.com", "paylesspower.com", "txu.com", "reliant.com", "directenergy.com",
    "greenmountainenergy.com", "4changeenergy.com", "rhythmenergy.com", "trieagleenergy.com"})
DOCS = ("efl", "tos", "yrac")
_DEEP_EFL = re.compile(r"smartgridcis\.net/.*Download\.aspx\?ProductDocumentID=", re.IGNORECASE)


def clean_esiid(value: Any) -> str | None:
    """``'10443720001234567`` -> ``10443720001234567``: quotes stripped, digits only, 17 or 22 kept whole."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    digits = re.sub(r"\D", "", str(value).strip().strip("'\""))
    return digits if len(digits) in (17, 22) else None


def _walk(data: Any, max_depth: int = MAX_DEPTH) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of nested dicts and lists, breadth-first, down to ``max_depth`` levels."""
    queue = deque([(data, 0)])
    while queue:
        node, depth = queue.popleft()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield str(key), value
            if depth + 1 < max_depth and isinstance(value, dict | list):
                queue.append((value, depth + 1))


def find_esiids(data: Any) -> list[str]:
    """The cleaned ESIIDs under any ESIID key, nearest first, each once."""
    found = [clean_esiid(v) for k, v in _walk(data) if k in ESIID_KEYS]
    return list(dict.fromkeys(e for e in found if e))


def first_text(data: Any, keys: tuple[str, ...]) -> str | None:
    """The nearest non-empty string under one of ``keys`` (in the order of ``keys`` at one level)."""
    if isinstance(data, dict):
        for key in keys:
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()
    for key, value in _walk(data):
        if key in keys and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def tdsp_slug(text: str | None) -> str | None:
    """The replaced system's slug (``normalizeTdsp``): oncor, centerpoint, tnmp, aep_n, aep_c."""
    t = (text or "").lower()
    if "oncor" in t:
        return "oncor"
    if "centerpoint" in t or "center point" in t or "cnp" in t:
        return "centerpoint"
    if "tnmp" in t or "texas new mexico" in t or "texas-new mexico" in t:
        return "tnmp"
    if "aep" in t and "north" in t:
        return "aep_n"
    if "aep" in t and ("central" in t or "south" in t):
        return "aep_c"
    return None


def tdsp_code(text: str | None) -> str | None:
    """The canonical code (ONCOR, CENTERPOINT, AEP_NORTH, AEP_CENTRAL, TNMP) of a name, slug or code."""
    key = re.sub(r"[^A-Z0-9]+", "_", (text or "").upper()).strip("_")
    if key in SLUG_CODES.values():
        return key
    if key in CODE_ALIASES:
        return CODE_ALIASES[key]
    return SLUG_CODES.get(tdsp_slug(text) or "")


@dataclass(frozen=True)
class EsiidFound:
    """One ESIID an answer gives, with what it says of the utility."""

    esiid: str
    utility_name: str | None
    tdsp_code: str | None
    utility_id: str | None


def preferred_utility(data: Any) -> dict | None:
    """The ``utility_list`` entry to use: the deregulated one, else one named as a Texas TDSP."""
    entries = [u for u in (data.get("utility_list") or [] if isinstance(data, dict) else []) if isinstance(u, dict)]
    chosen = next((u for u in entries if str(u.get("type", "")).lower() == "deregulated"), None)
    return chosen or next((u for u in entries if tdsp_code(u.get("utility_name"))), None)


def _found(esiid: str, node: Any, fallback: dict | None) -> EsiidFound:
    name = first_text(node, UTILITY_KEYS) or (fallback or {}).get("utility_name")
    code = tdsp_code(first_text(node, TERRITORY_KEYS)) or tdsp_code(name)
    ident = node.get("eid") or node.get("utility_eid") if isinstance(node, dict) else None
    ident = ident or (fallback or {}).get("utility_eid")
    return EsiidFound(esiid, name, code, str(ident) if ident is not None else None)


def parse_info(data: Any) -> list[EsiidFound]:
    """``/electricity/info``: per ``utility_info`` entry its ESIIDs, else any ESIID in the answer."""
    fallback = preferred_utility(data)
    entries = data.get("utility_info") if isinstance(data, dict) else None
    found = [_found(e, entry, fallback) for entry in entries or [] for e in find_esiids([entry])]
    if not found:
        found = [_found(e, data, fallback) for e in find_esiids(data)]
    return list({f.esiid: f for f in reversed(found)}.values())[::-1]


def parse_esi(data: Any) -> list[EsiidFound]:
    """``/electricity/info/esi``: ``addresses[]{esi, utility, territory}``."""
    addresses = data.get("addresses") if isinstance(data, dict) else None
    found = []
    for entry in addresses or []:
        esiid = clean_esiid(entry.get("esi") if isinstance(entry, dict) else None)
        if esiid:
            name = entry.get("utility") if isinstance(entry.get("utility"), str) else None
            found.append(EsiidFound(esiid, name, tdsp_code(entry.get("territory")) or tdsp_code(name), None))
    return found


def sanitize_doc_url(url: Any) -> str | None:
    """An http(s) URL on an allowed document host (or a subdomain of one), else None."""
    if not isinstance(url, str) or not url.strip():
        return None
    parsed = urlparse(url.strip())
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("http", "https") or not host:
        return None
    allowed = any(host == h or host.endswith("." + h) for h in DOC_HOST_ALLOWLIST)
    return url.strip() if allowed else None


def _listed_docs(docs: Any) -> dict[str, str]:
    """``docs``/``documents`` as a mapping (``{efl: url}``) or a list of ``{type, url}`` entries."""
    if isinstance(docs, dict):
        return {k.lower(): v for k, v in docs.items() if isinstance(v, str)}
    listed = {}
    for entry in docs if isinstance(docs, list) else []:
        if isinstance(entry, dict):
            kind = str(entry.get("type") or entry.get("name") or "").lower()
            url = entry.get("url") or entry.get("link")
            listed.update({d: url for d in DOCS if d in kind and isinstance(url, str)})
    return listed


def offer_docs(offer: dict) -> dict[str, str | None]:
    """EFL, terms and rights URLs: ``offer_data.efl/tos/yrac``, then ``docs|documents``; an EFL may also
    be a SmartGridCIS download link anywhere in the offer. Hosts off the allow-list are dropped."""
    data = offer.get("offer_data") if isinstance(offer.get("offer_data"), dict) else {}
    listed = _listed_docs(data.get("docs") or data.get("documents") or offer.get("docs") or offer.get("documents"))
    docs = {d: sanitize_doc_url(data.get(d)) or sanitize_doc_url(listed.get(d)) for d in DOCS}
    if docs["efl"] is None:
        nested = (v for k, v in _walk(offer) if isinstance(v, str) and (k == "efl" or _DEEP_EFL.search(v)))
        docs["efl"] = next((u for u in map(sanitize_doc_url, nested) if u), None)
    return docs


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).strip().rstrip("%").replace("¢", ""))
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None


def _term(value: Any) -> int | None:
    match = re.match(r"\s*(\d+)", str(value)) if value is not None and not isinstance(value, bool) else None
    return int(match.group(1)) or None if match else None


def _rate_type(data: dict) -> str | None:
    if isinstance(data.get("rate_type"), str) and data["rate_type"].strip():
        return data["rate_type"].strip().lower()
    return "fixed" if data.get("is_fixed") is True else "variable" if data.get("is_variable") is True else None


def normalize_offer(offer: Any, zip_code: str | None = None) -> dict | None:
    """One ``offers[]`` entry as ``retail_offer`` fields; None for a non-electricity offer or one without id."""
    if not isinstance(offer, dict) or offer.get("offer_category") not in (None, "", "electricity_plans"):
        return None
    if not str(offer.get("offer_id") or "").strip():
        return None
    data = offer.get("offer_data") if isinstance(offer.get("offer_data"), dict) else {}
    docs = offer_docs(offer)
    puct = next((data[k] for k in ("supplier_registration_number", "puct_registration_number", "puct_registration")
                 if data.get(k) not in (None, "")), None)
    green = data.get("is_green")
    return {
        "external_id": str(offer["offer_id"]).strip(), "offer_name": str(offer.get("offer_name") or "").strip(),
        "supplier": data.get("supplier_name") or data.get("supplier") or None,
        "puct_registration": str(puct).strip() if puct is not None else None,
        "tdsp_code": tdsp_code(data.get("utility")), "zip5": zip_code, "term_months": _term(data.get("term")),
        "rate_type": _rate_type(data), "is_green": green if isinstance(green, bool) else None,
        "green_percentage": _number(data.get("green_percentage")),
        "kwh500_cents": _number(data.get("kwh500")), "kwh1000_cents": _number(data.get("kwh1000")),
        "kwh2000_cents": _number(data.get("kwh2000")),
        "efl_url": docs["efl"], "tos_url": docs["tos"], "yrac_url": docs["yrac"],
        "offer_json": json.dumps(offer, sort_keys=True)}


def normalize_offers(data: Any, zip_code: str | None = None) -> list[dict]:
    """The electricity offers of an ``/offers`` answer, each id once (the last listing wins)."""
    offers = data.get("offers") if isinstance(data, dict) else data if isinstance(data, list) else None
    rows = [r for r in (normalize_offer(o, zip_code) for o in offers or []) if r]
    return list({r["external_id"]: r for r in rows}.values())
