"""1PWR identities (vendor-apis.md §3, "Identity"), pure: customer accounts ``NNNN`` + a 3-letter site
code (``0005MAK``), 1Meter ids (8 digits, delivered zero-padded to 12) and SparkMeter serials in full
(``SMRSD-03-0002E040``) and short form (the last four hex digits as a number: 57408)."""

from __future__ import annotations

import re

ACCOUNT_RE = re.compile(r"[0-9]{4}[A-Z]{3}")
ONEMETER_RE = re.compile(r"0{0,4}([0-9]{8})")
SERIAL_RE = re.compile(r"[A-Z]+-[0-9]{2}-[0-9A-F]{4}([0-9A-F]{4})", re.IGNORECASE)


class IdentityError(ValueError):
    """Not an identity of the kind asked for."""


def account_number(text: str) -> str:
    """``0005MAK`` as given (four digits, the site's three letters); anything else is refused."""
    value = text.strip().upper()
    if not ACCOUNT_RE.fullmatch(value):
        raise IdentityError(f"not a 1PWR account number (NNNN + site code, e.g. 0005MAK): {text!r}")
    return value


def onemeter_id(text: str) -> str:
    """The canonical 1Meter id, unpadded: ``000023022673`` and ``23022673`` are both ``23022673``."""
    found = ONEMETER_RE.fullmatch(text.strip())
    if not found:
        raise IdentityError(f"not a 1Meter id (8 digits, or 12 zero-padded): {text!r}")
    return found[1]


def sparkmeter_short_code(serial: str) -> int:
    """The short form of a SparkMeter serial: its last four hex digits as a number
    (``SMRSD-03-0002E040`` -> 0xE040 = 57408)."""
    found = SERIAL_RE.fullmatch(serial.strip())
    if not found:
        raise IdentityError(f"not a SparkMeter serial (like SMRSD-03-0002E040): {serial!r}")
    return int(found[1], 16)
