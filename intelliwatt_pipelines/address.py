"""Street addresses made comparable: the one normalization the ERCOT loader stores (``service_point.norm_line1``)
and the address search applies to a query, so "206 Boxwood Drive" finds "206 BOXWOOD DR". Pure.

Upper case, punctuation to spaces, spaces collapsed, USPS street suffixes and directions abbreviated
(Publication 28's common ones). ``address_hash`` is how an address is kept when only its identity is
needed (WattBuy lookups): a salted SHA-256 of the normalized parts, never the address itself.
"""

from __future__ import annotations

import hashlib
import re

SUFFIXES = {
    "ALLEY": "ALY", "AVENUE": "AVE", "AV": "AVE", "BOULEVARD": "BLVD", "CIRCLE": "CIR", "COURT": "CT",
    "COVE": "CV", "CREEK": "CRK", "CROSSING": "XING", "DRIVE": "DR", "EXPRESSWAY": "EXPY", "FREEWAY": "FWY",
    "HIGHWAY": "HWY", "HOLLOW": "HOLW", "LANE": "LN", "LOOP": "LOOP", "PARKWAY": "PKWY", "PASS": "PASS",
    "PATH": "PATH", "PLACE": "PL", "PLAZA": "PLZ", "POINT": "PT", "ROAD": "RD", "RIDGE": "RDG", "SQUARE": "SQ",
    "STREET": "ST", "TERRACE": "TER", "TRAIL": "TRL", "TRACE": "TRCE", "VIEW": "VW", "VILLAGE": "VLG",
}
DIRECTIONS = {"NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
              "SOUTHEAST": "SE", "SOUTHWEST": "SW"}
UNITS = {"APARTMENT": "APT", "SUITE": "STE", "UNIT": "UNIT", "BUILDING": "BLDG", "NUMBER": "#"}
_WORDS = {**SUFFIXES, **DIRECTIONS, **UNITS}
_PUNCTUATION = re.compile(r"[^A-Z0-9# ]+")


def normalize_line(text: str | None) -> str:
    """``"206 Boxwood Drive, Apt. 2"`` -> ``"206 BOXWOOD DR APT 2"``."""
    words = _PUNCTUATION.sub(" ", (text or "").upper()).split()
    return " ".join(_WORDS.get(word, word) for word in words)


def zip5(text: str | None) -> str | None:
    """The 5-digit ZIP of ``77520``, ``77520-1234`` or ``775201234``; None when there is none."""
    digits = re.sub(r"\D", "", text or "")
    return digits[:5] if len(digits) >= 5 else None


def address_hash(line: str, city: str | None, state: str | None, zip_code: str | None, salt: str) -> str:
    """Salted SHA-256 of the normalized address: the same address, however it is written, one hash."""
    parts = [normalize_line(line), normalize_line(city), (state or "").strip().upper(), zip5(zip_code) or ""]
    return hashlib.sha256(f"{salt}\n{'|'.join(parts)}".encode()).hexdigest()
