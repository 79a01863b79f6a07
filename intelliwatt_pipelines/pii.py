"""Keep personal identifiers out of logs: ESIIDs are shown only as a short salted hash."""

from __future__ import annotations

import hashlib
import re
import os


def mask(value: str) -> str:
    """A stable, non-reversible token for an ESIID (or any identifier) in logs and metadata."""
    salt = os.environ.get("INTELLIWATT_LOG_SALT", "intelliwatt")
    digest = hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:10]
    return f"esiid#{digest}"


_ESIID_RUN = re.compile(r"(?<!\d)(\d{22}|\d{17})(?!\d)")


def redact(text: str) -> str:
    """Replace any ESIID-looking digit run (17 or 22 digits) in free text, e.g. a file name."""
    return _ESIID_RUN.sub(lambda m: mask(m.group(1)), text)
